"""Azure Blob CORS (iac.cors.azure) against Azurite: read, write, merge with others' rules, the rendered document."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iac.config.cors import DEFAULT_CORS_ORIGINS as DEFAULT_ORIGINS
from iac.config.cors import AzureCorsTarget, encord_rule
from iac.config.cors import CorsRule as Rule
from iac.cors import azure
from iac.cors.policy import Native, merge
from iac.errors import IacError
from standins_azure import DEV_ACCOUNT, DEV_KEY

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, CorsRule

GOLDEN = Path(__file__).parent / "golden" / "cors"
ROOT = Path(__file__).resolve().parent.parent
TARGET = AzureCorsTarget(provider="azure", account=DEV_ACCOUNT)
OURS_RULE = encord_rule(DEFAULT_ORIGINS, "read", 3600)
OURS = azure.native(OURS_RULE)
FOREIGN_ORIGIN = "https://portal.other-app.example"


def foreign_sdk_rule() -> CorsRule:
    from azure.storage.blob import CorsRule

    return CorsRule(
        [FOREIGN_ORIGIN],
        ["GET", "OPTIONS"],
        allowed_headers=["x-ms-meta-*"],
        exposed_headers=[],
        max_age_in_seconds=600,
    )


FOREIGN = {
    "allowed_origins": [FOREIGN_ORIGIN],
    "allowed_methods": ["GET", "OPTIONS"],
    "allowed_headers": ["x-ms-meta-*"],
    "exposed_headers": [],
    "max_age_in_seconds": 600,
}


def service(connection_string: str) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string)


def test_a_fresh_account_has_no_rules(azure_env: str) -> None:
    assert azure.Store(TARGET).read() == []


def test_written_rules_read_back_equal(azure_env: str) -> None:
    store = azure.Store(TARGET)
    store.write([OURS])
    assert store.read() == [OURS]
    assert [azure.parse(rule) for rule in store.read()] == [replace(OURS_RULE, id=None)]


def test_merge_keeps_another_apps_rule_and_adds_ours(azure_env: str) -> None:
    service(azure_env).set_service_properties(cors=[foreign_sdk_rule()])
    store = azure.Store(TARGET)
    current = store.read()
    assert current == [FOREIGN]

    merged = merge(current, OURS, azure.parse, OURS_RULE)
    assert merged == [FOREIGN, OURS]
    store.write(merged)
    assert store.read() == [FOREIGN, OURS]


def test_merge_replaces_our_stale_rule_in_place(azure_env: str) -> None:
    stale = azure.native(encord_rule(DEFAULT_ORIGINS[:2], "read-write", 60))
    store = azure.Store(TARGET)
    store.write([stale, FOREIGN])
    merged = merge(store.read(), OURS, azure.parse, OURS_RULE)
    assert merged == [OURS, FOREIGN]


def test_a_second_merge_changes_nothing(azure_env: str) -> None:
    service(azure_env).set_service_properties(cors=[foreign_sdk_rule()])
    store = azure.Store(TARGET)
    store.write(merge(store.read(), OURS, azure.parse, OURS_RULE))
    current = store.read()
    assert merge(current, OURS, azure.parse, OURS_RULE) == current


def test_writing_cors_keeps_the_other_service_properties(azure_env: str) -> None:
    from azure.storage.blob import BlobAnalyticsLogging, Metrics, RetentionPolicy, StaticWebsite

    client = service(azure_env)
    client.set_service_properties(
        analytics_logging=BlobAnalyticsLogging(
            version="1.0", read=True, write=True, retention_policy=RetentionPolicy(enabled=True, days=3)
        ),
        hour_metrics=Metrics(
            version="1.0", enabled=True, include_apis=True, retention_policy=RetentionPolicy(enabled=True, days=2)
        ),
        delete_retention_policy=RetentionPolicy(enabled=True, days=4),
        static_website=StaticWebsite(enabled=True, index_document="index.html", error_document404_path="404.html"),
    )
    store = azure.Store(TARGET)
    for rules in ([OURS], []):
        store.write(rules)
        props = client.get_service_properties()
        assert len(props["cors"]) == len(rules)
        logging = props["analytics_logging"]
        assert (logging.read, logging.write, logging.delete) == (True, True, False)
        assert (logging.retention_policy.enabled, logging.retention_policy.days) == (True, 3)
        assert (props["hour_metrics"].enabled, props["hour_metrics"].include_apis) == (True, True)
        assert props["hour_metrics"].retention_policy.days == 2
        assert (props["delete_retention_policy"].enabled, props["delete_retention_policy"].days) == (True, 4)
        website = props["static_website"]
        assert (website.enabled, website.index_document, website.error_document404_path) == (
            True,
            "index.html",
            "404.html",
        )


def test_writing_no_rules_removes_them(azure_env: str) -> None:
    store = azure.Store(TARGET)
    store.write([FOREIGN, OURS])
    store.write([])
    assert store.read() == []


@pytest.mark.parametrize(
    "rule",
    [
        replace(OURS_RULE, id=None),
        replace(encord_rule([*DEFAULT_ORIGINS, "http://localhost:3000"], "read-write", 0), id=None),
        Rule(origins=("*",), methods=("GET", "PATCH", "MERGE"), allowed_headers=(), exposed_headers=("*",), max_age=5),
    ],
)
def test_parse_reverses_native(rule: Rule) -> None:
    assert azure.parse(azure.native(rule)) == rule


def test_parse_reads_the_services_comma_delimited_strings() -> None:
    found = {
        "allowed_origins": "https://a.example, https://b.example",
        "allowed_methods": "get,HEAD",
        "allowed_headers": "*",
        "exposed_headers": "",
        "max_age_in_seconds": 30,
    }
    assert azure.parse(found) == Rule(
        origins=("https://a.example", "https://b.example"), methods=("GET", "HEAD"), exposed_headers=(), max_age=30
    )


def test_native_has_no_id() -> None:
    assert set(OURS) == {
        "allowed_origins",
        "allowed_methods",
        "allowed_headers",
        "exposed_headers",
        "max_age_in_seconds",
    }
    assert azure.native(Rule(origins=("https://a.example",), methods=("GET",)))["max_age_in_seconds"] == 0


DOCUMENT_RULES = [FOREIGN, azure.native(encord_rule(DEFAULT_ORIGINS, "read-write", 3600))]


def golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("IAC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path.read_text()


def test_document_matches_golden_file() -> None:
    target = AzureCorsTarget(provider="azure", account="acmeblobdata")
    assert azure.document_name(target) == "azure-acmeblobdata.xml"
    text = azure.document(DOCUMENT_RULES)
    assert text == golden("azure-acmeblobdata.xml", text)
    assert text == azure.document([dict(rule) for rule in DOCUMENT_RULES])  # deterministic


def canonical(xml: str | bytes) -> str:
    text = xml.decode() if isinstance(xml, bytes) else xml
    return ET.canonicalize(text.split("?>", 1)[-1] if text.startswith("<?xml") else text, strip_text=True)


def sdk_rule(rule: Native) -> CorsRule:
    from azure.storage.blob import CorsRule

    return CorsRule(
        rule["allowed_origins"],
        rule["allowed_methods"],
        allowed_headers=rule["allowed_headers"],
        exposed_headers=rule["exposed_headers"],
        max_age_in_seconds=rule["max_age_in_seconds"],
    )


def test_document_is_what_the_sdk_sends_and_the_service_takes(azure_env: str) -> None:
    client = service(azure_env)
    sent: list[bytes] = []
    client.set_service_properties(
        cors=[sdk_rule(rule) for rule in DOCUMENT_RULES],
        raw_request_hook=lambda request: sent.append(request.http_request.body),
    )
    assert [canonical(body) for body in sent] == [canonical(azure.document(DOCUMENT_RULES))]

    # The document's bytes, unchanged, as the body of Set Blob Service Properties: the account then holds its rules.
    client.set_service_properties(cors=[])
    body = azure.document(DOCUMENT_RULES).encode("utf-8")

    def send_the_document(request: Any) -> None:
        request.http_request.data = body
        request.http_request.headers["Content-Length"] = str(len(body))

    client.set_service_properties(cors=[], raw_request_hook=send_the_document)
    assert azure.Store(TARGET).read() == DOCUMENT_RULES


def test_commands_leave_exactly_the_rules_however_often_they_run() -> None:
    text = azure.commands(DOCUMENT_RULES, "acmeblobdata")
    assert text == golden("azure-acmeblobdata.sh", text)
    assert text.startswith("#!/bin/sh\n") and "\nset -eu\n" in text  # stops at the first failing command
    commands = [shlex.split(line) for line in text.splitlines() if line.startswith("az ")]
    # Clear first, then add each rule: the second run ends where the first did (add alone would append again).
    assert commands[0] == ["az", "storage", "cors", "clear", "--account-name", "acmeblobdata", "--services", "b"]
    assert commands[1] == [
        "az", "storage", "cors", "add", "--account-name", "acmeblobdata", "--services", "b",
        "--methods", "GET", "OPTIONS", "--origins", FOREIGN_ORIGIN, "--allowed-headers", "x-ms-meta-*",
        "--max-age", "600",
    ]  # fmt: skip
    assert len(commands) == 1 + len(DOCUMENT_RULES)
    assert [c[:4] for c in commands[1:]] == [["az", "storage", "cors", "add"]] * len(DOCUMENT_RULES)
    assert azure.commands([], "acmeblobdata").splitlines()[-1] == shlex.join(commands[0])


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch, azure_env: str) -> None:
    monkeypatch.setitem(sys.modules, "azure.storage.blob", None)
    with pytest.raises(IacError, match=r"azure-storage-blob package: install iac with its 'azure' extra"):
        azure.Store(TARGET)


def test_missing_identity_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(IacError, match=r"azure-identity package: install iac with its 'azure' extra"):
        azure.Store(AzureCorsTarget(provider="azure", account="acmeblobdata"))


def test_without_a_connection_string_the_account_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    store = azure.Store(AzureCorsTarget(provider="azure", account="acmeblobdata"))
    assert store.description == "azure blob service of account acmeblobdata"
    assert store._client.url.startswith("https://acmeblobdata.blob.core.windows.net")
    custom = azure.Store(
        AzureCorsTarget(provider="azure", account="acmeblobdata", account_url="https://blob.example.test")
    )
    assert custom._client.url.startswith("https://blob.example.test")


def test_service_errors_name_the_account_and_never_the_key(monkeypatch: pytest.MonkeyPatch, azure_env: str) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    connection_string = azure_env.replace(DEV_KEY, wrong_key)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    store = azure.Store(TARGET)
    for call in (store.read, lambda: store.write([OURS])):
        with pytest.raises(IacError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"azure blob service of account {DEV_ACCOUNT}: ")
        assert "failed: " in message
        for secret in (wrong_key, DEV_KEY, connection_string, "AccountKey"):
            assert secret not in message


def test_a_connection_string_for_another_account_is_refused(azure_env: str) -> None:
    with pytest.raises(IacError, match="AZURE_STORAGE_CONNECTION_STRING is for the account devstoreaccount1, not acme"):
        azure.Store(AzureCorsTarget(provider="azure", account="acmeblobdata"))


def test_importing_the_module_loads_no_azure_sdk() -> None:
    code = "import sys, iac.cors.azure; print(sorted(m for m in sys.modules if m.startswith('azure')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_silent_blob_endpoint_fails_within_the_read_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK waits 60 s per read by default; with IAC_API_DEADLINE=1 each read gives up after a second (the
    retry policy's 3 retries and backoff included, a few seconds). The join only guards against a hang."""
    import socket

    from conftest import outcome_within

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # accepts connections (the kernel's backlog), never answers
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/{DEV_ACCOUNT}"
        monkeypatch.setenv("IAC_API_DEADLINE", "1")
        monkeypatch.setenv(
            azure.CONNECTION_STRING_ENV,
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint={endpoint};",
        )
        outcome = outcome_within(lambda: azure.Store(TARGET).read(), 60)
    assert isinstance(outcome, IacError), outcome
    assert "reading the CORS rules failed" in str(outcome)
