"""`iac allowlist denied` against a hostile Cloud Logging stand-in (pytest-httpserver on 127.0.0.1): endless
page tokens, a dripping body, a huge body, bodies that are not a page of entries, entries with odd or missing
fields, client addresses that are not addresses, and refusals. Each run ends within iac.untrusted.Bounds (the
deadline lowered through IAC_API_DEADLINE so the dripping ones end in a second or two), with one clear message,
no traceback and no raw control character on stdout or stderr.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from test_denied import LIST, NOW, LoggingStub, entry, write_config
from werkzeug import Request, Response

from iac.untrusted import MAX_API_BODY, MAX_PAGES

# What a terminal acts on: C0 controls but the line break, DEL, C1 controls.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def logging_api(monkeypatch: pytest.MonkeyPatch, compute_stub: HTTPServer) -> LoggingStub:
    monkeypatch.setenv("IAC_LOGGING_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    monkeypatch.delenv("IAC_CONFIG", raising=False)
    monkeypatch.delenv("IAC_API_DEADLINE", raising=False)
    return LoggingStub(compute_stub)


def clean(result: Any) -> Any:
    """`result`, checked: no traceback, no raw control character in what it printed."""
    assert "Traceback" not in result.output, result.output
    for stream in (result.stdout, result.stderr):
        assert not RAW_CONTROL.search(stream), repr(stream)
    return result


def one_error(result: Any) -> str:
    """The one error line of a failed run (exit 1), checked clean."""
    clean(result)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def serve_with(stub: LoggingStub, answer: Callable[[Request], Response]) -> None:
    stub.server.expect_request(LIST, method="POST").respond_with_handler(answer)


def drip(seconds: float = 20.0) -> Iterator[bytes]:
    """A body that never ends in time: a byte every 0.1 s (the stand-in gives up after `seconds`)."""
    yield b'{"entries": ['
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        time.sleep(0.1)
        yield b" "


def run(cli: Any, tmp_path: Any, *args: str) -> Any:
    return cli("allowlist", "denied", "-c", write_config(tmp_path), *args)


# --- bounded: pages, time, bytes ---------------------------------------------------------------------------------


def test_endless_page_tokens_stop_at_the_page_limit(cli: Any, tmp_path: Any, logging_api: LoggingStub) -> None:
    calls = []

    def endless(request: Request) -> Response:
        calls.append(json.loads(request.get_data()).get("pageToken"))
        return Response(json.dumps({"nextPageToken": f"t{len(calls)}"}), content_type="application/json")

    serve_with(logging_api, endless)
    config = write_config(tmp_path)
    result = clean(cli("allowlist", "denied", "-c", config, "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["truncated"], document["truncated_by"]) == (True, "pages")
    assert len(calls) == MAX_PAGES

    calls.clear()
    text = clean(cli("allowlist", "denied", "-c", config)).stdout
    assert f"stopped after {MAX_PAGES} pages of the log (the page limit)" in text


def test_a_dripping_first_page_ends_at_the_deadline(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAC_API_DEADLINE", "1")
    serve_with(logging_api, lambda request: Response(drip(), content_type="application/json"))
    line = one_error(run(cli, tmp_path))
    assert "Cloud Logging did not finish answering within 1 s" in line
    assert "IAC_API_DEADLINE" in line and "nothing was read" in line


def test_a_dripping_later_page_gives_what_was_read_flagged(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAC_API_DEADLINE", "1")

    def answer(request: Request) -> Response:
        if json.loads(request.get_data()).get("pageToken"):
            return Response(drip(), content_type="application/json")
        page = {"entries": [entry("93.184.216.7", 1)], "nextPageToken": "2"}
        return Response(json.dumps(page), content_type="application/json")

    serve_with(logging_api, answer)
    result = clean(run(cli, tmp_path, "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["truncated"], document["truncated_by"]) == (True, "deadline")
    assert [item["address"] for item in document["denied"]] == ["93.184.216.7"]


def test_a_server_that_never_answers_ends_at_the_read_timeout(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAC_API_DEADLINE", "1")

    def silent(request: Request) -> Response:
        time.sleep(3)
        return Response("{}", content_type="application/json")

    serve_with(logging_api, silent)
    line = one_error(run(cli, tmp_path))
    assert "Cloud Logging at http://127.0.0.1:" in line and "did not answer within 1 s" in line


@pytest.mark.parametrize("deadline", ["soon", "0", "-5", "nan", "1e9", "\u0663"])
def test_a_bad_deadline_is_refused_before_google_is_called(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, monkeypatch: pytest.MonkeyPatch, deadline: str
) -> None:
    monkeypatch.setenv("IAC_API_DEADLINE", deadline)
    logging_api.serve([])
    line = one_error(run(cli, tmp_path))
    assert line.startswith("error: IAC_API_DEADLINE=") and "more than 0 and at most 86400" in line
    assert logging_api.bodies == []


def test_a_huge_body_is_cut_at_the_body_cap(cli: Any, tmp_path: Any, logging_api: LoggingStub) -> None:
    def huge() -> Iterator[bytes]:
        yield b'{"entries": [], "padding": "'
        for _ in range(MAX_API_BODY // (1024 * 1024) + 8):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    serve_with(logging_api, lambda request: Response(huge(), content_type="application/json"))
    line = one_error(run(cli, tmp_path, "--json"))
    assert "Cloud Logging answered a body of more than 8 MB (POST http://127.0.0.1:" in line


# --- bodies that are not a page of entries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json{", "is not JSON"),
        ("", "is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "is not JSON"),  # nested too deep to read
        ('[{"entries": []}]', "is a JSON list, not an object"),
        ('"entries"', "is a JSON str, not an object"),
        ('{"entries": {"a": 1}}', "has `entries` that is not a list"),
        ('{"entries": [], "nextPageToken": 7}', "has a `nextPageToken` that is not text"),
        ('{"entries": [], "n": ' + "9" * 5000 + "}", "is not JSON"),  # an integer past Python's digit limit
    ],
    ids=["garbage", "empty", "deep", "list", "string", "entries-object", "token-number", "huge-integer"],
)
def test_a_body_that_is_not_a_page_is_one_clear_error(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, body: str, problem: str
) -> None:
    serve_with(logging_api, lambda request: Response(body, content_type="application/json"))
    line = one_error(run(cli, tmp_path))
    assert line.startswith("error: Cloud Logging at http://127.0.0.1:")
    assert f"answered entries.list with a body that {problem}: not a page of log entries" in line


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": {"code": 401, "message": "Request had invalid authentication credentials."}},
            ["asks for credentials (401 Unauthorized", "set up Application Default Credentials", "https://"],
        ),
        (
            403,
            {"error": {"code": 403, "message": "Permission denied", "errors": [{"reason": "forbidden"}]}},
            ["refused by the Cloud Logging API: 403 Forbidden: Permission denied", "logging.logEntries.list"],
        ),
        (
            429,
            {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Read requests'"}},
            ["the Cloud Logging API refused to read more now (429 Too Many Requests", "wait a minute"],
        ),
        (500, {"error": {"code": 500, "message": "Internal error."}}, ["the Cloud Logging API failed", "run again"]),
        (502, "<html><title>502</title>\x1b]0;PWNED\x07</html>", ["the Cloud Logging API failed", "502 Bad Gateway"]),
        (503, [1, 2], ["the Cloud Logging API failed", "503 Service Unavailable"]),
        (302, "", ["the Cloud Logging API answered 302 Found"]),
    ],
    ids=["401", "403", "429", "500", "502-html", "503-list", "302"],
)
def test_refusals_name_the_api_and_what_to_do(
    cli: Any, tmp_path: Any, logging_api: LoggingStub, status: int, body: Any, expected: list[str]
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    headers = {"Location": "http://192.0.2.1/elsewhere"} if status == 302 else {}
    serve_with(logging_api, lambda request: Response(text, status=status, headers=headers))
    line = one_error(run(cli, tmp_path, "--json"))
    for words in expected:
        assert words in line


def test_a_refusal_with_json_is_one_failure_document(cli: Any, tmp_path: Any, logging_api: LoggingStub) -> None:
    serve_with(logging_api, lambda request: Response("[]", status=500))
    result = clean(run(cli, tmp_path, "--json"))
    document = json.loads(result.stdout)
    assert (document["ok"], document["exit_code"]) == (False, 1)
    assert "the Cloud Logging API failed" in document["error"]


# --- what entries say ---------------------------------------------------------------------------------------------


def test_hostile_client_addresses_are_escaped_reported_and_never_suggested(
    cli: Any, tmp_path: Any, logging_api: LoggingStub
) -> None:
    hostile = [
        "fe80::1%\x1b]0;PWNED\x07",  # sets the terminal's title if printed raw
        "fe80::1%eth0\nFAKE-LINE iac allowlist add 0.0.0.0/1",
        "1.2.3.4\x1b[2J",
        "\u0663.1.1.1",  # Arabic-Indic digit three
        "10.1.2.3",
        "::ffff:1.2.3.4",
        "x" * 5000,
    ]
    old = entry("10.9.9.9", 3 * 24 * 60)  # before --since 24h: not reported at all
    logging_api.serve([entry(ip, 1) for ip in hostile] + [entry("93.184.216.7", 2, path="/a\x1b[2Jb\u202e.jpg"), old])
    config = write_config(tmp_path)
    result = clean(cli("allowlist", "denied", "-c", config))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert not any(line.startswith("FAKE-LINE") for line in out.splitlines())
    suggested = [line.split()[3] for line in out.splitlines() if line.strip().startswith("iac allowlist add")]
    assert suggested == ["93.184.216.7"]
    assert "fe80::1%\\x1b]0;PWNED\\x07" in out
    assert "fe80::1%eth0\\nFAKE-LINE" in out
    assert "/a\\x1b[2Jb\\u202e.jpg" in out
    assert "::ffff:1.2.3.4" in out and "::ffff:102:304" not in out

    document = json.loads(clean(cli("allowlist", "denied", "-c", config, "--json")).stdout)
    assert [item["address"] for item in document["denied"]] == ["93.184.216.7"]
    reasons = {item["address"]: item["reason"] for item in document["not_plain"]}
    assert reasons["fe80::1%\\x1b]0;PWNED\\x07"].startswith("has a zone id")
    assert reasons["1.2.3.4\\x1b[2J"] == "not an IP address"
    assert reasons["\u0663.1.1.1"] == "not an IP address"
    assert reasons["10.1.2.3"] == "not a global address: 10.0.0.0/8, private, RFC 1918"
    assert reasons["::ffff:1.2.3.4"].startswith("not a global address: ::ffff:0:0/96, IPv4-mapped")
    assert max(len(address) for address in reasons) < 300, "a long text is cut"
    assert "10.9.9.9" not in reasons and document["skipped"] == 1


def test_rfc3339_timestamps_with_offsets_and_fractions_are_read(
    cli: Any, tmp_path: Any, logging_api: LoggingStub
) -> None:
    moment = NOW - timedelta(hours=1)
    written = [
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
        moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.5+02:00"),
        (moment - timedelta(minutes=30)).strftime("%Y-%m-%dt%H:%M:%S-00:30").replace("t", "T"),
        moment.strftime("%Y-%m-%dT%H:%M:%Sz"),
    ]
    entries = []
    for stamp in written:
        item = entry("93.184.216.7", None)
        item["timestamp"] = stamp
        entries.append(item)
    logging_api.serve(entries)
    document = json.loads(clean(run(cli, tmp_path, "--json")).stdout)
    assert document["skipped"] == 0
    [found] = document["denied"]
    assert found["count"] == len(written)
    assert found["first"] == found["last"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_entries_outside_the_window_or_with_bad_times_are_not_counted(
    cli: Any, tmp_path: Any, logging_api: LoggingStub
) -> None:
    odd = []
    for stamp in (
        (NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),  # before --since 24h
        (NOW + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),  # in the future
        "2026-13-45T99:99:99Z",
        "2026-12-06 06:12:53",  # no zone
        "\u0662\u0660\u0662\u0666-12-06T06:12:53Z",  # Arabic-Indic digits
        "9999-12-31T23:59:59-23:59",
        12345,
    ):
        item = entry("93.184.216.8", None)
        item["timestamp"] = stamp
        odd.append(item)
    logging_api.serve([entry("93.184.216.7", 5), *odd])
    document = json.loads(clean(run(cli, tmp_path, "--json")).stdout)
    assert [item["address"] for item in document["denied"]] == ["93.184.216.7"]
    assert document["skipped"] == len(odd)


def test_entries_missing_or_mistyped_fields_are_skipped(cli: Any, tmp_path: Any, logging_api: LoggingStub) -> None:
    no_log_name = entry("93.184.216.7", 1)
    del no_log_name["logName"]
    list_request = entry("93.184.216.8", 1)
    list_request["httpRequest"] = ["remoteIp", "93.184.216.8"]
    number_ip = entry("93.184.216.9", 1)
    number_ip["httpRequest"]["remoteIp"] = 1572395017
    string_payload = entry("93.184.216.10", 1)
    string_payload["jsonPayload"] = "denied"
    bad_url = entry("93.184.216.11", 1)
    bad_url["httpRequest"]["requestUrl"] = "http://[::1/x"
    logging_api.serve([no_log_name, list_request, number_ip, string_payload, bad_url, "an entry", None, 7])
    result = clean(run(cli, tmp_path, "--json"))
    document = json.loads(result.stdout)
    assert {item["address"]: item["policy"] for item in document["denied"]} == {
        "93.184.216.7": "edge",  # logName is not needed
        "93.184.216.10": "unknown",
        "93.184.216.11": "edge",
    }
    assert document["skipped"] == 5


def test_ipv4_mapped_addresses_are_shown_readably() -> None:
    import ipaddress

    from iac.gcp.denied import address_text

    assert address_text(ipaddress.ip_address("::ffff:102:304")) == "::ffff:1.2.3.4"
    assert address_text(ipaddress.ip_address("2a02:26f0::1")) == "2a02:26f0::1"


def test_the_timestamp_reader_is_rfc3339() -> None:
    from iac.gcp.denied import parse_timestamp

    assert parse_timestamp("2026-12-06T06:12:53+00:00") == datetime(2026, 12, 6, 6, 12, 53, tzinfo=UTC)
    assert parse_timestamp("2026-12-06T07:12:53.999999999+01:00") == datetime(
        2026, 12, 6, 6, 12, 53, 999999, tzinfo=UTC
    )
    for bad in ("2026-12-06T06:12:53", "2026-12-06", "06:12:53Z", "2026-02-30T00:00:00Z", "", None):
        assert parse_timestamp(bad) is None
