"""`iac cors render|apply|check` against real local stand-ins of every provider's storage API."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BASE = """\
project: my-gcp-project
domain: encord-directaccess.acme.com
bucket: {name: encord-data, create: false, origin_region: eu}
allowlist: [39.42.20.11/32]
"""
FOREIGN_ORIGIN = "https://dashboard.acme.com"


@dataclass
class World:
    """One provider's stand-in: a target config line, and raw access to the bucket's rules."""

    target: str
    seed_foreign: Callable[[], None]
    raw_rules: Callable[[], list[Any]]
    origins_of: Callable[[Any], list[str]]


def gcp_world(request: pytest.FixtureRequest, name: str) -> World:
    client = request.getfixturevalue("gcs_client")
    bucket = client.create_bucket(name)

    def seed() -> None:
        bucket.cors = [{"origin": [FOREIGN_ORIGIN], "method": ["GET"], "maxAgeSeconds": 60}]
        bucket.patch()

    def rules() -> list[Any]:
        bucket.reload()
        return list(bucket.cors or [])

    return World(f"{{provider: gcp, bucket: {name}}}", seed, rules, lambda r: r["origin"])


def aws_world(request: pytest.FixtureRequest, name: str, provider: str = "aws") -> World:
    endpoint = request.getfixturevalue("aws_env")
    import boto3

    s3 = boto3.client("s3", region_name="eu-west-2")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})

    def seed() -> None:
        s3.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={
                "CORSRules": [{"ID": "dashboard", "AllowedOrigins": [FOREIGN_ORIGIN], "AllowedMethods": ["GET"]}]
            },
        )

    def rules() -> list[Any]:
        try:
            return list(s3.get_bucket_cors(Bucket=name)["CORSRules"])
        except s3.exceptions.ClientError:
            return []

    target = (
        f"{{provider: aws, bucket: {name}, region: eu-west-2}}"
        if provider == "aws"
        else f"{{provider: otc, bucket: {name}, region: eu-de, endpoint: '{endpoint}'}}"
    )
    return World(target, seed, rules, lambda r: r["AllowedOrigins"])


def azure_world(request: pytest.FixtureRequest, name: str) -> World:
    connection = request.getfixturevalue("azure_env")
    from azure.storage.blob import BlobServiceClient, CorsRule

    service = BlobServiceClient.from_connection_string(connection)

    def seed() -> None:
        service.set_service_properties(cors=[CorsRule([FOREIGN_ORIGIN], ["GET"], max_age_in_seconds=60)])

    def rules() -> list[Any]:
        return list(service.get_service_properties()["cors"])

    return World("{provider: azure, account: devstoreaccount1}", seed, rules, lambda r: r.allowed_origins.split(","))


WORLDS = {"gcp": gcp_world, "aws": aws_world, "otc": lambda r, n: aws_world(r, n, "otc"), "azure": azure_world}


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[World, Path]:
    name = f"iac-cors-{request.param}-{abs(hash(request.node.name)) % 10**8}"
    made = WORLDS[request.param](request, name)
    config = tmp_path / "iac.yaml"
    config.write_text(BASE + f"cors:\n  access: read\n  targets:\n    - {made.target}\n")
    return made, config


def test_apply_on_an_empty_bucket_then_again(cli, world: tuple[World, Path]) -> None:
    made, config = world
    first = cli("cors", "apply", "-c", config)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("changed")
    [rule] = made.raw_rules()
    assert sorted(made.origins_of(rule)) == sorted(
        ["https://app.encord.com", "https://api.encord.com", "https://app.us.encord.com", "https://api.us.encord.com"]
    )
    second = cli("cors", "apply", "-c", config)
    assert second.exit_code == 0
    assert second.stdout.startswith("unchanged")
    assert len(made.raw_rules()) == 1, "iac's rule is replaced, never duplicated"


def test_foreign_rules_survive_and_the_owned_rule_is_replaced(cli, world: tuple[World, Path]) -> None:
    made, config = world
    made.seed_foreign()
    assert cli("cors", "apply", "-c", config).exit_code == 0
    rules = made.raw_rules()
    assert len(rules) == 2
    assert made.origins_of(rules[0]) == [FOREIGN_ORIGIN], "the other app's rule is kept, first, as it was"

    # Widening access replaces iac's rule in place.
    config.write_text(config.read_text().replace("access: read", "access: read-write"))
    changed = cli("cors", "apply", "-c", config, "--json")
    assert changed.exit_code == 0, changed.output
    [result] = json.loads(changed.stdout)["targets"]
    assert result["status"] == "changed"
    rules = made.raw_rules()
    assert len(rules) == 2 and made.origins_of(rules[0]) == [FOREIGN_ORIGIN]
    assert cli("cors", "apply", "-c", config).stdout.startswith("unchanged")


def test_check_fails_then_passes(cli, world: tuple[World, Path]) -> None:
    made, config = world
    made.seed_foreign()
    failing = cli("cors", "check", "-c", config)
    assert failing.exit_code == 1
    assert "not allowed: https://app.encord.com GET" in failing.stdout
    assert cli("cors", "apply", "-c", config).exit_code == 0
    passing = cli("cors", "check", "-c", config, "--json")
    assert passing.exit_code == 0, passing.output
    assert json.loads(passing.stdout)["targets"][0]["status"] == "ok"


def test_dry_run_writes_nothing(cli, world: tuple[World, Path]) -> None:
    made, config = world
    result = cli("cors", "apply", "-c", config, "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.startswith("would-change")
    assert "  + {" in result.stdout
    assert made.raw_rules() == []


def test_one_failing_target_does_not_stop_the_others(cli, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    good = aws_world(request, "iac-cors-good-bucket")
    config = tmp_path / "iac.yaml"
    config.write_text(
        BASE + "cors:\n  targets:\n    - {provider: aws, bucket: iac-cors-missing-bucket, region: eu-west-2}\n"
        f"    - {good.target}\n"
    )
    result = cli("cors", "apply", "-c", config)
    assert result.exit_code == 1
    assert "failed" in result.stdout and "iac-cors-missing-bucket" in result.stdout
    assert "1 of 2 targets done, 1 failed" in result.stdout
    assert len(good.raw_rules()) == 1


def test_azure_rule_limit_is_checked_before_writing(cli, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    connection = request.getfixturevalue("azure_env")
    from azure.storage.blob import BlobServiceClient, CorsRule

    service = BlobServiceClient.from_connection_string(connection)
    foreign = [CorsRule([f"https://app{i}.acme.com"], ["GET"]) for i in range(5)]
    service.set_service_properties(cors=foreign)
    config = tmp_path / "iac.yaml"
    config.write_text(BASE + "cors:\n  targets:\n    - {provider: azure, account: devstoreaccount1}\n")
    result = cli("cors", "apply", "-c", config)
    assert result.exit_code == 1
    assert "would hold 6 CORS rules but azure allows 5" in result.stdout
    assert len(service.get_service_properties()["cors"]) == 5


def test_render_writes_every_native_document(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(
        BASE + "cors:\n  targets:\n    - {provider: gcp, bucket: encord-data}\n"
        "    - {provider: aws, bucket: acme-s3-data, region: eu-west-2}\n"
        "    - {provider: azure, account: acmeblobdata}\n"
        "    - {provider: otc, bucket: acme-obs-data, region: eu-de}\n"
    )
    out = tmp_path / "cors"
    result = cli("cors", "render", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != ".iac-files")
    assert names == [
        "aws-s3-acme-s3-data.json",
        "azure-acmeblobdata.sh",
        "azure-acmeblobdata.xml",
        "gcs-encord-data.json",
        "otc-obs-acme-obs-data.xml",
        "terraform/aws-s3-acme-s3-data.tf",
    ]
    golden = Path(__file__).parent / "golden" / "cors-render"
    for name in names:
        expected = golden / name.replace("terraform/", "terraform-")
        if os.environ.get("IAC_UPDATE_GOLDEN"):
            expected.write_bytes((out / name).read_bytes())
        assert (out / name).read_text() == expected.read_text(), name
    assert json.loads((out / "gcs-encord-data.json").read_text())[0]["method"] == ["GET", "HEAD"]

    # Each file is listed with what to do next: the command that takes it, with its path, or where it goes.
    listed = result.stdout.splitlines()[1:]
    steps = dict(zip(listed[0::2], listed[1::2], strict=True))
    assert sorted(name.strip() for name in steps) == names
    assert all(step.startswith("    next: ") for step in steps.values())
    next_step = {name.strip(): step.removeprefix("    next: ") for name, step in steps.items()}
    assert next_step["gcs-encord-data.json"].startswith(
        f"gcloud storage buckets update gs://encord-data --cors-file={out / 'gcs-encord-data.json'} "
    )
    assert next_step["aws-s3-acme-s3-data.json"].startswith(
        "aws s3api put-bucket-cors --region eu-west-2 --bucket acme-s3-data "
        f"--cors-configuration file://{out / 'aws-s3-acme-s3-data.json'} "
    )
    assert next_step["azure-acmeblobdata.sh"].startswith(f"sh {out / 'azure-acmeblobdata.sh'} ")
    assert (
        "PUT https://acmeblobdata.blob.core.windows.net/?restype=service&comp=properties"
        in next_step["azure-acmeblobdata.xml"]
    )
    assert "SetBucketCors" in next_step["otc-obs-acme-obs-data.xml"]
    assert "hashicorp/aws" in next_step["terraform/aws-s3-acme-s3-data.tf"]


def test_the_s3_terraform_reaches_the_targets_region(cli, tmp_path: Path) -> None:
    import hcl2

    config = tmp_path / "iac.yaml"
    config.write_text(BASE + "cors:\n  targets:\n    - {provider: aws, bucket: acme-tokyo, region: ap-northeast-1}\n")
    out = tmp_path / "cors"
    assert cli("cors", "render", "-c", config, "-o", out).exit_code == 0
    parsed = hcl2.loads((out / "terraform" / "aws-s3-acme-tokyo.tf").read_text())
    [provider] = parsed["provider"]
    assert provider['"aws"']["region"] == '"ap-northeast-1"'
    [resource] = parsed["resource"]
    body = resource['"aws_s3_bucket_cors_configuration"']['"encord_acme_tokyo"']
    assert body["provider"] == "${aws.encord_acme_tokyo}" and provider['"aws"']["alias"] == '"encord_acme_tokyo"'


BAD = [
    ("origins: ['https://*.encord.com']", "cors.origins[0]: 'https://*.encord.com' wildcard origins are not allowed"),
    ("origins: ['https://app.encord.com/upload']", "is a URL, not an origin: write 'https://app.encord.com'"),
    ("origins: ['http://localhost:3000']", "local origins need cors.allow_localhost: true"),
    ("origins: ['http://app.encord.com']", "must be an https:// origin"),
    ("origins: ['https://App.Encord.com']", "must be lower case, as browsers send it: write 'https://app.encord.com'"),
    (
        "origins: ['https://app.encord.com', 'https://api.encord.com', 'https://app.encord.com']",
        "cors.origins[2]: 'https://app.encord.com' is listed twice (first as origins[0]): remove one",
    ),
    ("access: admin", "cors.access: input should be 'read' or 'read-write'"),
    ("targets: [{provider: gce, bucket: encord-data}]", "cors.targets[0]: unknown provider 'gce'"),
    ("targets: [{provider: azure, acount: acme}]", "cors.targets[0].acount: unknown key; did you mean 'account'?"),
    ("targets: [{provider: azure, account: ACME-blob}]", "is not an Azure storage account name"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_bad_cors_config(cli, tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(BASE + f"cors:\n  {line}\n")
    result = cli("cors", "apply", "-c", config)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_localhost_is_allowed_only_with_the_flag(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(
        BASE + "cors:\n  allow_localhost: true\n  origins: ['http://localhost:*', 'https://app.encord.com']\n"
    )
    assert cli("validate", "-c", config).exit_code == 0


def test_created_bucket_gets_its_cors_from_terraform(cli, tmp_path: Path) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(BASE.replace("create: false, origin_region: eu", "location: EU") + "cors:\n  access: read\n")
    assert cli("render", "-c", config, "-o", tmp_path / "b").exit_code == 0
    main = (tmp_path / "b" / "serving" / "main.tf").read_text()  # the bucket is the serving root's
    assert 'cors = {\n    origins = [\n      "https://app.encord.com",' in main
    assert 'methods = [\n      "GET",\n      "HEAD",\n    ]' in main
    # The same bucket as a cors target would be managed twice.
    config.write_text(config.read_text() + "  targets: [{provider: gcp, bucket: encord-data}]\n")
    result = cli("validate", "-c", config)
    assert result.exit_code == 1
    assert "is created by the Direct Access configuration" in result.stderr


def test_a_providers_error_text_is_printed_escaped(
    cli, compute_stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloud Storage (a local stub here) answering an error whose text holds terminal escapes (issue 16.16)."""
    import re

    denied = {"error": {"code": 403, "message": "denied\x1b[2J\x1b]0;owned\x07\u202e", "errors": []}}
    compute_stub.expect_request(re.compile(".*")).respond_with_json(denied, status=403)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{compute_stub.port}")
    config = tmp_path / "iac.yaml"
    config.write_text(BASE + "cors:\n  targets:\n    - {provider: gcp, bucket: iac-cors-stubbed}\n")
    result = cli("cors", "check", "-c", config)
    assert result.exit_code == 1
    printed = result.stdout + result.stderr
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert "denied\\x1b[2J\\x1b]0;owned\\x07\\u202e" in printed


# --- without credentials: one line per target, naming what to set --------------------------------------------------

CORS_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cors" / "iac.yaml"
# examples/cors's targets in order, and what the message for each must tell the user to set.
EXAMPLE_TARGETS = [
    ("gs://acme-archive-data", "GOOGLE_APPLICATION_CREDENTIALS"),
    ("s3://acme-s3-data (eu-west-2)", "AWS_ACCESS_KEY_ID"),
    ("azure blob service of account acmeblobdata", "AZURE_STORAGE_CONNECTION_STRING"),
    ("obs://acme-obs-data (eu-de)", "OBS_ACCESS_KEY_ID"),
]


def test_check_without_credentials_says_once_per_target_what_to_set(cli, no_cloud_credentials: None) -> None:
    result = cli("cors", "check", "-c", CORS_EXAMPLE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXAMPLE_TARGETS) + 1, result.stdout  # one line per target, and the count
    assert lines[-1] == "0 of 4 targets allow Encord's origins, 4 failed"
    for line, (target, to_set) in zip(lines, EXAMPLE_TARGETS, strict=False):
        assert line.startswith(f"failed        {target}: "), line
        assert line.count(target) == 1, line  # named once
        assert "no google credentials" in line.lower() or "no credentials: " in line, line
        assert to_set in line, line
    # stderr: one progress line per target, none of the SDKs' own logging.
    assert result.stderr.splitlines() == [f"{target}: reading CORS" for target, _ in EXAMPLE_TARGETS]


def test_check_names_the_extra_of_a_missing_sdk(
    cli, no_cloud_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    result = cli("cors", "check", "-c", CORS_EXAMPLE, "--provider", "aws")
    assert result.exit_code == 1
    [line, _count] = result.stdout.splitlines()
    assert line.startswith("failed        s3://acme-s3-data (eu-west-2): CORS on AWS S3 needs the boto3 package: ")
    assert "install iac with its 'aws' extra" in line


def test_the_wait_for_an_azure_credential_is_bounded(
    cli, no_cloud_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A managed identity endpoint that accepts connections and never answers: iac gives up at its bound."""
    import socket

    from iac.cors import azure

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)  # azure-identity falls back on the IMDS ...
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(azure, "CREDENTIAL_TIMEOUT", 1.0)
        result = cli("cors", "check", "-c", CORS_EXAMPLE, "--provider", "azure")
    assert result.exit_code == 1
    [line, _count] = result.stdout.splitlines()
    assert line == (
        "failed        azure blob service of account acmeblobdata: reading the CORS rules failed: no Azure "
        f"credential found within 1 s: {azure.CREDENTIALS}"
    )
