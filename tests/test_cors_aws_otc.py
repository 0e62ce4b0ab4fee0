"""CORS on S3 (boto3) and OTC OBS (esdk-obs-python) against moto's server: real SDKs, no mocks.

OBS speaks S3's API, so moto stands in for both; the OBS SDK reaches it through the target's `endpoint`
(path-style addressing). Every test gets its own bucket on the session's moto server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from iac.config.cors import CORS_RULE_ID as RULE_ID
from iac.config.cors import DEFAULT_CORS_ORIGINS as DEFAULT_ORIGINS
from iac.config.cors import AwsCorsTarget, OtcCorsTarget, encord_rule
from iac.config.cors import CorsRule as Rule
from iac.cors import aws, otc
from iac.cors.policy import Native, merge
from iac.errors import IacError

GOLDEN = Path(__file__).parent / "golden" / "cors"
ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-2"  # as aws_env sets AWS_DEFAULT_REGION (tests/standins_aws.py)
OTC_REGION = "eu-de"

OURS = encord_rule(DEFAULT_ORIGINS, "read", 3600)
FOREIGN_WITH_ID: Native = {
    "ID": "customer-portal",
    "AllowedHeaders": ["Authorization", "Content-Type"],
    "AllowedMethods": ["GET", "PUT", "DELETE"],
    "AllowedOrigins": ["https://portal.customer.example"],
    "ExposeHeaders": ["x-amz-request-id"],
    "MaxAgeSeconds": 600,
}
FOREIGN_WITHOUT_ID: Native = {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://*.customer.example"]}


@dataclass
class Bucket:
    """One fresh bucket on moto, seen as a CORS target of `provider` (the module under test)."""

    provider: ModuleType
    target: AwsCorsTarget | OtcCorsTarget
    name: str

    def store(self) -> Any:
        return self.provider.Store(self.target)


def aws_target(bucket: str) -> AwsCorsTarget:
    return AwsCorsTarget(provider="aws", bucket=bucket, region=REGION)


def otc_target(bucket: str, endpoint: str | None) -> OtcCorsTarget:
    return OtcCorsTarget(provider="otc", bucket=bucket, region=OTC_REGION, endpoint=endpoint)


@pytest.fixture
def s3(aws_env: str) -> Any:
    """A plain boto3 S3 client on moto, to set up and inspect buckets behind the modules' backs."""
    import boto3

    return boto3.Session().client("s3", region_name=REGION)


def create_bucket(s3: Any) -> str:
    name = f"iac-cors-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture(params=["aws", "otc"])
def bucket(request: pytest.FixtureRequest, s3: Any, aws_env: str) -> Bucket:
    name = create_bucket(s3)
    if request.param == "aws":
        return Bucket(aws, aws_target(name), name)
    return Bucket(otc, otc_target(name, aws_env), name)


def s3_rules(s3: Any, name: str) -> list[Native]:
    try:
        return list(s3.get_bucket_cors(Bucket=name)["CORSRules"])
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchCORSConfiguration":
            return []
        raise


# --- the interface -------------------------------------------------------------------------------------------


def test_module_constants() -> None:
    assert (aws.PROVIDER.NAME, aws.MAX_RULES) == ("aws", 100)
    assert (otc.PROVIDER.NAME, otc.MAX_RULES) == ("otc", 100)
    assert aws.METHODS == otc.METHODS == frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
    assert set(OURS.methods) <= aws.METHODS
    assert set(encord_rule(DEFAULT_ORIGINS, "read-write", 3600).methods) <= aws.METHODS


def test_document_names() -> None:
    assert aws.document_name(aws_target("acme-s3-data")) == "aws-s3-acme-s3-data.json"
    assert otc.document_name(otc_target("acme-obs-data", None)) == "otc-obs-acme-obs-data.xml"


def test_descriptions_name_bucket_and_region(aws_env: str) -> None:
    assert aws.Store(aws_target("acme-s3-data")).description == f"s3://acme-s3-data ({REGION})"
    assert otc.Store(otc_target("acme-obs-data", aws_env)).description == "obs://acme-obs-data (eu-de)"


def test_importing_the_modules_loads_no_sdk() -> None:
    code = "import sys, iac.cors.aws, iac.cors.otc; print(sorted({'boto3', 'botocore', 'obs'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


RULES = [
    OURS,
    encord_rule(["https://app.in.encord.com", "http://localhost:*"], "read-write", 0),
    Rule(origins=("*",), methods=("GET",), allowed_headers=(), exposed_headers=(), max_age=None, id=None),
    Rule(origins=("https://a.example", "https://b.example"), methods=("DELETE", "HEAD"), id="other"),
]


@pytest.mark.parametrize("provider", [aws, otc], ids=["aws", "otc"])
@pytest.mark.parametrize("rule", RULES, ids=["ours-read", "ours-read-write", "minimal", "foreign"])
def test_parse_native_round_trip(provider: ModuleType, rule: Rule) -> None:
    assert provider.parse(provider.native(rule)) == rule


def test_native_is_boto3_shape() -> None:
    assert aws.native(OURS) == {
        "ID": RULE_ID,
        "AllowedHeaders": ["*"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedOrigins": list(DEFAULT_ORIGINS),
        "ExposeHeaders": ["Content-Length", "Content-Range", "Content-Type", "ETag"],
        "MaxAgeSeconds": 3600,
    }
    # Absent optional parts are left out rather than sent empty.
    assert aws.native(RULES[2]) == {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}
    assert otc.native(OURS) == aws.native(OURS)


# --- against moto ----------------------------------------------------------------------------------------------


def test_read_without_cors_is_empty(bucket: Bucket) -> None:
    assert bucket.store().read() == []


def test_write_then_read_back(bucket: Bucket, s3: Any) -> None:
    store = bucket.store()
    store.write([bucket.provider.native(OURS)])
    assert store.read() == [bucket.provider.native(OURS)]
    # What the bucket holds, as S3 itself reports it.
    assert s3_rules(s3, bucket.name) == [aws.native(OURS)]


def test_every_rule_shape_survives_the_sdk(bucket: Bucket) -> None:
    store = bucket.store()
    store.write([bucket.provider.native(rule) for rule in RULES])
    assert [bucket.provider.parse(native) for native in store.read()] == RULES


def test_merge_keeps_foreign_rules_and_is_idempotent(bucket: Bucket, s3: Any) -> None:
    s3.put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": [FOREIGN_WITH_ID, FOREIGN_WITHOUT_ID]})
    store, provider = bucket.store(), bucket.provider
    current = store.read()
    assert current == [FOREIGN_WITH_ID, FOREIGN_WITHOUT_ID]

    ours = provider.native(OURS)
    merged = merge(current, ours, provider.parse, OURS)
    assert merged == [FOREIGN_WITH_ID, FOREIGN_WITHOUT_ID, ours]
    store.write(merged)
    assert store.read() == merged
    assert s3_rules(s3, bucket.name) == merged

    # Applying again changes nothing.
    again = store.read()
    assert merge(again, ours, provider.parse, OURS) == again
    store.write(merge(again, ours, provider.parse, OURS))
    assert store.read() == merged


def test_merge_replaces_our_old_rule_in_place(bucket: Bucket, s3: Any) -> None:
    old = aws.native(encord_rule(["https://app.encord.com"], "read-write", 60))
    s3.put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": [FOREIGN_WITH_ID, old, FOREIGN_WITHOUT_ID]})
    store, provider = bucket.store(), bucket.provider
    ours = provider.native(OURS)
    store.write(merge(store.read(), ours, provider.parse, OURS))
    assert store.read() == [FOREIGN_WITH_ID, ours, FOREIGN_WITHOUT_ID]


def test_write_empty_removes_the_configuration(bucket: Bucket, s3: Any) -> None:
    store = bucket.store()
    store.write([bucket.provider.native(OURS)])
    store.write([])
    assert store.read() == []
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket.name)
    store.write([])  # nothing to remove is not an error
    assert store.read() == []


@pytest.mark.parametrize("provider", ["aws", "otc"])
def test_missing_bucket_names_it_without_credentials(
    provider: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AWS_ACCESS_KEY_ID": "AKIAIACTESTKEYID0001",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-do-not-print",
        "OBS_ACCESS_KEY_ID": "OBSIACTESTKEYID0001",
        "OBS_SECRET_ACCESS_KEY": "obs-secret-do-not-print",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    name = f"iac-missing-{uuid.uuid4().hex[:12]}"
    store = aws.Store(aws_target(name)) if provider == "aws" else otc.Store(otc_target(name, aws_env))
    messages = []
    for call in (store.read, lambda: store.write([aws.native(OURS)]), lambda: store.write([])):
        with pytest.raises(IacError) as caught:
            call()
        messages.append(str(caught.value))
    for message in messages:
        assert name in message
        assert "NoSuchBucket" in message
        assert not [value for value in secrets.values() if value in message], message
    assert "reading" in messages[0]


def test_unreachable_s3_endpoint_is_an_iac_error(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nothing listens on: botocore's connection error, not a traceback.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = aws.Store(aws_target("acme-s3-data"))
    with pytest.raises(IacError, match=rf"s3://acme-s3-data \({REGION}\): reading the CORS configuration failed: "):
        store.read()


def test_unreachable_obs_endpoint_is_an_iac_error(aws_env: str) -> None:
    # A port nothing listens on (moto's, once its server is gone, would do as well): refused at once.
    store = otc.Store(otc_target("acme-obs-data", "http://127.0.0.1:9"))
    store._client.max_retry_count = 0
    with pytest.raises(IacError, match=r"obs://acme-obs-data \(eu-de\): reading the CORS configuration failed: "):
        store.read()


def test_obs_without_credentials_says_which_variables(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBS_SECRET_ACCESS_KEY")
    with pytest.raises(IacError, match="OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY"):
        otc.Store(otc_target("acme-obs-data", aws_env))


@pytest.mark.parametrize(
    ("provider", "module", "extra"),
    [(aws, "boto3", "aws"), (aws, "botocore.exceptions", "aws"), (otc, "obs", "otc")],
    ids=["boto3", "botocore", "obs"],
)
def test_missing_sdk_names_the_extra(
    provider: ModuleType, module: str, extra: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    target = aws_target("acme-s3-data") if provider is aws else otc_target("acme-obs-data", aws_env)
    with pytest.raises(IacError, match=rf"install iac with its '{extra}' extra \(`pip install '\.\[{extra}\]'`"):
        provider.Store(target)


def test_obs_default_endpoint_verifies_tls(aws_env: str) -> None:
    store = otc.Store(otc_target("acme-obs-data", None))
    client = store._client
    assert (client.server, client.port, client.is_secure) == ("obs.eu-de.otc.t-systems.com", 443, True)
    assert client.path_style is False
    assert client.context.verify_mode == ssl.CERT_REQUIRED
    assert client.context.check_hostname is True


# --- the documents `iac cors render` writes ----------------------------------------------------------------------

DOCUMENT_RULES = [
    FOREIGN_WITH_ID,
    aws.native(encord_rule(DEFAULT_ORIGINS, "read-write", 3600)),
    {"ID": "escape <&> \"'", "AllowedMethods": ["GET"], "AllowedOrigins": ["https://x.example"]},
]


@pytest.mark.parametrize(
    ("provider", "target"),
    [(aws, aws_target("acme-s3-data")), (otc, otc_target("acme-obs-data", None))],
    ids=["aws", "otc"],
)
def test_document_matches_golden_file(provider: ModuleType, target: Any) -> None:
    text = provider.document(DOCUMENT_RULES)
    assert text.endswith("\n")
    assert text == provider.document([dict(rule) for rule in DOCUMENT_RULES])
    golden = GOLDEN / provider.document_name(target)
    if os.environ.get("IAC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"differs from {golden}"


def test_s3_document_is_accepted_by_put_bucket_cors(s3: Any) -> None:
    name = create_bucket(s3)
    configuration = json.loads(aws.document(DOCUMENT_RULES))
    s3.put_bucket_cors(Bucket=name, CORSConfiguration=configuration)
    assert s3_rules(s3, name) == DOCUMENT_RULES
    assert aws.Store(aws_target(name)).read() == DOCUMENT_RULES


def canonical(xml: str | bytes) -> str:
    text = xml.decode() if isinstance(xml, bytes) else xml
    return ET.canonicalize(text.split("?>", 1)[-1] if text.startswith("<?xml") else text, strip_text=True)


def test_obs_document_is_what_the_sdk_sends() -> None:
    from obs import CorsRule
    from obs.convertor import Convertor

    sdk_body = Convertor.trans_cors_rules(
        [
            CorsRule(
                id=rule.get("ID"),
                allowedMethod=rule.get("AllowedMethods"),
                allowedOrigin=rule.get("AllowedOrigins"),
                allowedHeader=rule.get("AllowedHeaders"),
                maxAgeSecond=rule.get("MaxAgeSeconds"),
                exposeHeader=rule.get("ExposeHeaders"),
            )
            for rule in DOCUMENT_RULES
        ]
    )
    assert canonical(otc.document(DOCUMENT_RULES)) == canonical(sdk_body)


def test_obs_document_is_accepted_as_the_request_body(s3: Any, aws_env: str) -> None:
    # The document's bytes, unchanged, as the body of SetBucketCors (PUT /<bucket>?cors) sent by the OBS SDK.
    name = create_bucket(s3)
    store = otc.Store(otc_target(name, aws_env))
    body = otc.document(DOCUMENT_RULES).encode("utf-8")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    response = store._client._make_put_request(name, pathArgs={"cors": None}, headers={"Content-MD5": md5}, entity=body)
    assert response.status == 200, (response.errorCode, response.errorMessage)
    assert store.read() == DOCUMENT_RULES
    assert s3_rules(s3, name) == DOCUMENT_RULES


def test_obs_document_parses_back_through_the_sdk(s3: Any, aws_env: str) -> None:
    # The SDK's own parser reads the document into CorsRule objects that setBucketCors accepts.
    from obs import ObsClient
    from obs.convertor import Convertor

    rules = Convertor("v2").parseGetBucketCors(otc.document(DOCUMENT_RULES))
    name = create_bucket(s3)
    client = ObsClient("testing", "testing", server=aws_env, path_style=True)
    assert client.setBucketCors(name, rules).status == 200
    assert s3_rules(s3, name) == DOCUMENT_RULES


# --- an endpoint that accepts and never answers: the reads are bounded (iac.untrusted.Bounds) ------------------


@pytest.fixture
def silent_endpoint() -> Any:
    """http://127.0.0.1:PORT of a socket that accepts connections (the kernel's backlog) and never answers."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("provider", [aws, otc], ids=["aws", "otc"])
def test_a_silent_endpoint_fails_within_the_read_bounds(
    provider: ModuleType, aws_env: str, silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the caps the SDKs wait 60 s per read and retry 5 (boto3) or 3 (OBS) times: minutes per target.
    With IAC_API_DEADLINE=1 each read gives up after a second, a few attempts in all; the test's own
    bound (a thread joined with a timeout) only guards against a hang."""
    from conftest import outcome_within

    monkeypatch.setenv("IAC_API_DEADLINE", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", silent_endpoint)
    target = aws_target("iac-silent") if provider is aws else otc_target("iac-silent", silent_endpoint)
    outcome = outcome_within(lambda: provider.Store(target).read(), 60)
    assert isinstance(outcome, IacError), outcome
    assert "iac-silent" in str(outcome)
