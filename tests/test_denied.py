"""`iac allowlist denied` against a local stand-in of the Cloud Logging REST API (pytest-httpserver answering
`POST /v2/entries:list` with Google's documented shapes), read through google-auth's session as iac reads
Google's. Nothing reaches Google. The hostile answers are in tests/test_denied_hostile.py.
"""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PROJECT = "enc-demo"
NAME = "encord-da"
URL_MAP = f"{NAME}-url-map"
DOMAIN = "data.acme-test.com"
LIST = "/v2/entries:list"
NOW = datetime.now(UTC).replace(microsecond=0)


def write_config(directory: Path) -> Path:
    """A config in a directory with a space in its name, so that the printed commands must quote it."""
    folder = directory / "acme config"
    folder.mkdir()
    path = folder / "iac.yaml"
    path.write_text(
        f"project: {PROJECT}\nname: {NAME}\ndomain: {DOMAIN}\nbucket:\n  name: encord-denied-data\n  location: EU\n"
        "allowlist:\n  - 34.90.1.1\n  - 81.2.69.160/28  # Lisbon office\n  - 2a00:1450:4001::/48\n"
    )
    return path


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(
    ip: str | None, minutes_ago: float | None, policy: str = "edge", path: str = "/images/a.jpg"
) -> dict[str, Any]:
    """A load balancer log entry of a request Cloud Armor denied, as Cloud Logging returns it."""
    decision = {
        "name": f"{NAME}-{policy}-policy",
        "priority": 2147483647,
        "outcome": "DENY",
        "configuredAction": "DENY",
    }
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry",
        "statusDetails": "denied_by_security_policy",
    }
    if policy == "edge":
        payload["enforcedEdgeSecurityPolicy"] = decision
    elif policy == "backend":
        payload["enforcedSecurityPolicy"] = decision
    http_request: dict[str, Any] = {"requestMethod": "GET", "requestUrl": f"https://{DOMAIN}{path}", "status": 403}
    if ip is not None:
        http_request["remoteIp"] = ip
    found: dict[str, Any] = {
        "logName": f"projects/{PROJECT}/logs/requests",
        "insertId": f"{ip}-{minutes_ago}",
        "resource": {"type": "http_load_balancer", "labels": {"project_id": PROJECT, "url_map_name": URL_MAP}},
        "httpRequest": http_request,
        "jsonPayload": payload,
        "severity": "WARNING",
    }
    if minutes_ago is not None:
        found["timestamp"] = stamp(minutes_ago)
    return found


class LoggingStub:
    """Serves `pages` of entries in order, following pageToken; records every request body."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.bodies: list[dict[str, Any]] = []

    def serve(self, *pages: list[dict[str, Any]]) -> None:
        def answer(request: Request) -> Response:
            body = json.loads(request.get_data())
            self.bodies.append(body)
            index = int(body.get("pageToken") or 0)
            page: dict[str, Any] = {"entries": pages[index]} if pages and pages[index] else {}
            if index + 1 < len(pages):
                page["nextPageToken"] = str(index + 1)
            return Response(json.dumps(page), content_type="application/json")

        self.server.expect_request(LIST, method="POST").respond_with_handler(answer)

    def refuse(self, code: int, message: str, reason: str) -> None:
        errors = [{"message": message, "domain": "global", "reason": reason}]
        error = {"code": code, "message": message, "errors": errors}
        self.server.expect_request(LIST, method="POST").respond_with_json({"error": error}, status=code)


@pytest.fixture
def logging_api(monkeypatch: pytest.MonkeyPatch, compute_stub: HTTPServer) -> LoggingStub:
    monkeypatch.setenv("IAC_LOGGING_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    monkeypatch.delenv("IAC_CONFIG", raising=False)
    return LoggingStub(compute_stub)


def denied(cli: Callable[..., Any], config: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("allowlist", "denied", "-c", config, "--json", *args)
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)


def test_pages_are_followed_and_denials_grouped_by_address(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve(
        [
            entry("93.184.216.7", 5, "edge", "/images/newest.jpg"),
            entry("2a02:26f0:aa::1", 10, "backend", "/videos/v.mp4"),
            entry("151.101.1.20", 20, "edge"),
        ],
        [
            entry("93.184.216.7", 60, "backend", "/images/older.jpg"),
            entry("81.2.69.170", 90, "edge"),
            entry("151.101.1.20", 120, "edge"),
        ],
        [entry("93.184.216.7", 600, "edge", "/images/oldest.jpg")],
    )
    _, document = denied(cli, write_config(tmp_path))

    assert document["ok"] is True
    assert document["truncated"] is False
    assert document["skipped"] == 0
    assert [item["address"] for item in document["denied"]] == [
        "93.184.216.7",  # 3 requests
        "151.101.1.20",  # 2
        "81.2.69.170",  # 1, IPv4 before IPv6
        "2a02:26f0:aa::1",  # 1
    ]
    first = document["denied"][0]
    assert first == {
        "address": "93.184.216.7",
        "count": 3,
        "first": stamp(600)[:19] + "Z",
        "last": stamp(5)[:19] + "Z",
        "policy": "edge+backend",
        "sample_path": "/images/newest.jpg",
        "allowed_now": False,
    }
    by_address = {item["address"]: item for item in document["denied"]}
    assert by_address["2a02:26f0:aa::1"]["policy"] == "backend"
    assert by_address["151.101.1.20"]["policy"] == "edge"
    assert by_address["81.2.69.170"]["allowed_now"] is True, "inside 81.2.69.160/28: added since it was refused"
    assert [body.get("pageToken") for body in logging_api.bodies] == [None, "1", "2"]


def test_the_query_selects_this_deployments_denials_in_the_window(
    cli: Any, tmp_path: Path, logging_api: LoggingStub
) -> None:
    logging_api.serve([])
    before = datetime.now(UTC).replace(microsecond=0)
    _, document = denied(cli, write_config(tmp_path), "--since", "7d")
    after = datetime.now(UTC)

    [body] = logging_api.bodies
    assert body["resourceNames"] == [f"projects/{PROJECT}"]
    assert body["orderBy"] == "timestamp desc"
    assert body["pageSize"] == 1000
    query = body["filter"]
    assert 'resource.type="http_load_balancer"' in query
    assert f'resource.labels.url_map_name="{URL_MAP}"' in query
    assert 'jsonPayload.statusDetails="denied_by_security_policy"' in query
    assert 'jsonPayload.enforcedSecurityPolicy.outcome="DENY"' in query
    assert 'jsonPayload.enforcedEdgeSecurityPolicy.outcome="DENY"' in query
    assert f'timestamp>="{document["since"]}"' in query
    since = datetime.strptime(document["since"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before - timedelta(days=7) <= since <= after - timedelta(days=7)
    assert document["denied"] == []


def test_text_report_prints_the_commands_to_allow(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve(
        [entry("93.184.216.7", 5), entry("93.184.216.7", 6), entry("81.2.69.170", 7), entry("2a02:26f0:aa::1", 8)]
    )
    config = write_config(tmp_path)
    result = cli("allowlist", "denied", "-c", config)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Cloud Armor refused 3 addresses (4 requests) since ")
    assert f"(url map {URL_MAP}, project {PROJECT}):" in lines[0]
    assert lines[1].split() == ["address", "requests", "first", "last", "policy", "allowed", "now", "sample", "path"]
    assert lines[2].split()[:2] == ["93.184.216.7", "2"]
    commands = [shlex.split(line) for line in lines if line.strip().startswith("iac allowlist add")]
    assert [command[3] for command in commands] == ["93.184.216.7", "2a02:26f0:aa::1"], "not the one allowed now"
    for command in commands:
        assert command[:3] == ["iac", "allowlist", "add"]
        assert command[4] == "--note" and "refused" in command[5]
        assert command[6:] == ["-c", str(config)], "the config path survives the shell"
        assert "--apply" not in command
    assert any("allowed now were refused before" in line for line in lines)
    assert "reading Cloud Armor denials" in result.stderr


def test_nothing_denied_says_so(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve([])
    result = cli("allowlist", "denied", "-c", write_config(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.startswith("Cloud Armor refused no request since ")
    assert "iac allowlist add" not in result.stdout


def test_limit_stops_early_and_says_so(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve([entry("93.184.216.7", 1), entry("93.184.216.8", 2)], [entry("93.184.216.9", 3)] * 3)
    config = write_config(tmp_path)
    _, document = denied(cli, config, "--limit", "3")
    assert document["truncated"] is True
    assert sum(item["count"] for item in document["denied"]) == 3

    result = cli("allowlist", "denied", "-c", config, "--limit", "3")
    assert "stopped after the newest 3 log entries (--limit)" in result.stdout


def test_entries_missing_fields_are_skipped_and_counted(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    no_request = entry("93.184.216.7", 3)
    del no_request["httpRequest"]
    logging_api.serve(
        [
            entry("93.184.216.7", 1),
            entry(None, 2),  # no remoteIp
            no_request,
            entry("not-an-address", 4),
            entry("93.184.216.7", None),  # no timestamp
            entry("93.184.216.8", 5, policy="none"),  # no policy named: still a denial
        ]
    )
    _, document = denied(cli, write_config(tmp_path))
    assert document["skipped"] == 3
    assert document["not_plain"] == [{"address": "not-an-address", "count": 1, "reason": "not an IP address"}]
    assert [(item["address"], item["count"], item["policy"]) for item in document["denied"]] == [
        ("93.184.216.7", 1, "edge"),
        ("93.184.216.8", 1, "unknown"),
    ]


def test_a_path_with_control_characters_is_printed_escaped(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve([entry("93.184.216.7", 1, path="/a\x1b]0;owned\x07b.jpg")])
    result = cli("allowlist", "denied", "-c", write_config(tmp_path))
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "/a\\x1b]0;owned\\x07b.jpg" in result.stdout


@pytest.mark.parametrize("since", ["0s", "31d", "soon", "-1h", "24", "720h1s", ""])
def test_bad_since_is_refused_before_google_is_called(
    cli: Any, tmp_path: Path, logging_api: LoggingStub, since: str
) -> None:
    logging_api.serve([])
    result = cli("allowlist", "denied", "-c", write_config(tmp_path), "--since", since)
    assert result.exit_code == 1
    assert f"--since {since!r}" in result.stderr
    assert "Traceback" not in result.output
    assert logging_api.bodies == []


def test_since_takes_days_and_lock_timeout_still_does_not() -> None:
    from iac.errors import IacError
    from iac.files.durations import parse_duration
    from iac.gcp.denied import parse_since

    assert parse_since("30d") == timedelta(days=30)
    assert parse_since("1d12h") == timedelta(hours=36)
    assert parse_since("90m") == timedelta(minutes=90)
    with pytest.raises(IacError, match="not a duration"):
        parse_duration("1d")  # Terraform's -lock-timeout has no days


def test_bad_limit_is_refused(cli: Any, tmp_path: Path, logging_api: LoggingStub) -> None:
    logging_api.serve([])
    result = cli("allowlist", "denied", "-c", write_config(tmp_path), "--limit", "0")
    assert result.exit_code == 1
    assert "--limit 0: must be at least 1" in result.stderr
    assert logging_api.bodies == []


@pytest.mark.parametrize(
    ("code", "message", "reason", "expected"),
    [
        (
            403,
            f"Permission 'logging.logEntries.list' denied on resource (or it may not exist): projects/{PROJECT}",
            "forbidden",
            [
                "error: reading the load balancer's log in project 'enc-demo' was refused by the Cloud Logging API: "
                "403 Forbidden: Permission 'logging.logEntries.list' denied",  # Google's own text is kept
                "needs logging.logEntries.list (e.g. roles/logging.viewer) on project 'enc-demo'",
            ],
        ),
        (
            403,
            f"Cloud Logging API has not been used in project {PROJECT} before or it is disabled.",
            "accessNotConfigured",
            [
                "error: the Cloud Logging API is disabled in project 'enc-demo'",
                f"enable it with `gcloud services enable logging.googleapis.com --project {PROJECT}`",
            ],
        ),
        (
            404,
            f"Project {PROJECT} not found",
            "notFound",
            ["error: Cloud Logging does not know project 'enc-demo': 404 Not Found", "check `project` in the config"],
        ),
    ],
)
def test_refusals_say_what_to_do(
    cli: Any, tmp_path: Path, logging_api: LoggingStub, code: int, message: str, reason: str, expected: list[str]
) -> None:
    logging_api.refuse(code, message, reason)
    result = cli("allowlist", "denied", "-c", write_config(tmp_path), "--json")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()[-1:]
    for words in expected:
        assert words in line
    assert "Traceback" not in result.output


def test_unreachable_endpoint_is_a_clear_error(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("IAC_LOGGING_API_ENDPOINT", f"http://127.0.0.1:{port}")
    result = cli("allowlist", "denied", "-c", write_config(tmp_path))
    assert result.exit_code == 1
    assert f"cannot reach Cloud Logging at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.output


def test_no_credentials_is_the_same_help_as_invalidate(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IAC_LOGGING_API_ENDPOINT", raising=False)  # Google's endpoint, never reached
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    result = cli("allowlist", "denied", "-c", write_config(tmp_path))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()[-1:]
    assert line.startswith("error: no Google credentials to read the load balancer's log with (File ")
    assert "set up Application Default Credentials (`gcloud auth application-default login`" in line
    assert line.endswith("with logging.logEntries.list (e.g. roles/logging.viewer)")


def test_plain_http_to_another_machine_is_refused(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAC_LOGGING_API_ENDPOINT", "http://logging.example.test")
    result = cli("allowlist", "denied", "-c", write_config(tmp_path))
    assert result.exit_code == 1
    assert "refusing to send Google credentials to http://logging.example.test over plain http" in result.stderr
    assert "IAC_LOGGING_API_ENDPOINT" in result.stderr


def test_help_has_an_example(cli: Any) -> None:
    result = cli("allowlist", "denied", "--help")
    assert result.exit_code == 0
    assert "Example: iac allowlist denied" in result.stdout
    assert "DURATION" in result.stdout
