"""Cache invalidation against a local stub of the Compute REST API (pytest-httpserver): real client, no mocks.

The stub answers on 127.0.0.1, so the client uses anonymous credentials and never reaches Google; `sleep` is a
recorder, so retries and polling cost no real time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_httpserver import HTTPServer

from iac.errors import IacError
from iac.gcp.credentials import EndpointRefused, api_endpoint
from iac.gcp.invalidate import InvalidationError, InvalidationTarget, check_path, invalidate_cache

ROOT = Path(__file__).resolve().parent.parent

PROJECT = "enc-demo"
URL_MAP = "encord-cdn"
HOST = "cdn.example.com"
INSERT = f"/compute/v1/projects/{PROJECT}/global/urlMaps/{URL_MAP}/invalidateCache"
OPERATION = "operation-1700000000000-abc"
GET = f"/compute/v1/projects/{PROJECT}/global/operations/{OPERATION}"
TARGET = InvalidationTarget(project=PROJECT, url_map=URL_MAP, host=HOST)


def operation(status: str, **extra: object) -> dict[str, object]:
    return {
        "kind": "compute#operation",
        "name": OPERATION,
        "operationType": "invalidateCache",
        "status": status,
        **extra,
    }


def google_error(code: int, message: str, reason: str) -> dict[str, object]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


@pytest.fixture
def stub(compute_stub: HTTPServer) -> HTTPServer:
    return compute_stub


@pytest.fixture
def endpoint(stub: HTTPServer) -> str:
    return f"http://127.0.0.1:{stub.port}"


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.messages: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def progress(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def run(endpoint: str, rec: Recorder, target: InvalidationTarget = TARGET, **kwargs: object) -> str:
    return invalidate_cache(target, endpoint=endpoint, sleep=rec.sleep, progress=rec.progress, **kwargs)  # type: ignore[arg-type]


def requests_to(stub: HTTPServer, path: str) -> list[object]:
    return [request for request, _ in stub.log if request.path == path]


def request_id(request: object) -> str:
    ids = parse_qs(urlsplit(request.full_path).query)["requestId"]  # type: ignore[attr-defined]
    assert len(ids) == 1
    return ids[0]


def test_invalidation_done_at_once(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_json(operation("DONE"))

    assert run(endpoint, rec) == OPERATION

    [(request, response)] = stub.log
    assert response.status_code == 200
    assert request.method == "POST"
    assert request.path == INSERT
    assert json.loads(request.get_data()) == {"path": "/*", "host": HOST}
    assert uuid.UUID(request_id(request)).version == 4
    assert "Authorization" not in request.headers, "a local stub gets anonymous credentials"
    assert rec.sleeps == []
    assert (
        rec.messages[0] == f"requesting cache invalidation of https://{HOST}/* on url map {URL_MAP} (project {PROJECT})"
    )
    assert "done" in rec.messages[-1]


def test_custom_path_goes_into_the_body(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_json(operation("DONE"))
    run(endpoint, rec, InvalidationTarget(PROJECT, URL_MAP, HOST, "/images/*"))
    [(request, _)] = stub.log
    assert json.loads(request.get_data()) == {"path": "/images/*", "host": HOST}


def test_running_operation_is_polled_on_the_same_endpoint(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(operation("RUNNING"))
    stub.expect_ordered_request(GET, method="GET").respond_with_json(operation("RUNNING"))
    stub.expect_ordered_request(GET, method="GET").respond_with_json(operation("DONE"))

    assert run(endpoint, rec, poll_interval=5.0) == OPERATION

    assert [request.method + " " + request.path for request, _ in stub.log] == [
        f"POST {INSERT}",
        f"GET {GET}",
        f"GET {GET}",
    ]
    stub.check_assertions()
    assert rec.sleeps == [5.0, 5.0]
    waiting = [m for m in rec.messages if m.startswith("waiting for operation")]
    assert waiting == [
        f"waiting for operation {OPERATION} (RUNNING, 0 s)",
        f"waiting for operation {OPERATION} (RUNNING, 5 s)",
    ]
    assert rec.messages[-1] == f"cache invalidation of https://{HOST}/* done (operation {OPERATION})"


def test_operation_that_never_finishes_times_out(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_json(operation("PENDING"))
    stub.expect_request(GET, method="GET").respond_with_json(operation("RUNNING"))

    with pytest.raises(InvalidationError, match=rf"operation {OPERATION} is still RUNNING after 10 s") as info:
        run(endpoint, rec, timeout=10.0, poll_interval=2.0)

    assert rec.sleeps == [2.0] * 5
    assert len(requests_to(stub, GET)) == 5
    assert f"gcloud compute operations describe {OPERATION} --global --project {PROJECT}" in str(info.value)


def test_transient_error_while_polling_is_retried(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(operation("RUNNING"))
    stub.expect_ordered_request(GET, method="GET").respond_with_json(
        google_error(503, "The service is currently unavailable.", "backendError"), status=503
    )
    stub.expect_ordered_request(GET, method="GET").respond_with_json(operation("DONE"))

    assert run(endpoint, rec) == OPERATION
    assert len(requests_to(stub, GET)) == 2


def test_503_is_retried_with_the_same_request_id(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    unavailable = google_error(503, "The service is currently unavailable.", "backendError")
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(unavailable, status=503)
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(unavailable, status=503)
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(operation("DONE"))

    assert run(endpoint, rec) == OPERATION

    posts = requests_to(stub, INSERT)
    assert len(posts) == 3
    assert len({request_id(request) for request in posts}) == 1, "a retry must not be a second invalidation"
    assert len(rec.sleeps) == 2
    assert 2.0 <= rec.sleeps[0] <= 2.2
    assert 4.0 <= rec.sleeps[1] <= 4.4
    retries = [m for m in rec.messages if "retrying" in m]
    assert retries[0].startswith("503 Service Unavailable: The service is currently unavailable.; retrying in 2 s")
    assert retries[0].endswith("(attempt 2 of 6)")
    assert retries[1].endswith("(attempt 3 of 6)")


def test_separate_invalidations_use_separate_request_ids(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_json(operation("DONE"))
    run(endpoint, rec)
    run(endpoint, rec)
    first, second = (request_id(request) for request in requests_to(stub, INSERT))
    assert first != second


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, "rateLimitExceeded"), (403, "rateLimitExceeded"), (403, "userRateLimitExceeded")],
)
def test_rate_limit_waits_at_least_a_minute(
    stub: HTTPServer, endpoint: str, rec: Recorder, status: int, reason: str
) -> None:
    limited = google_error(status, "Rate Limit Exceeded", reason)
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(limited, status=status)
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(operation("DONE"))

    assert run(endpoint, rec) == OPERATION

    assert len(rec.sleeps) == 1
    assert 60.0 <= rec.sleeps[0] <= 66.0
    assert len({request_id(request) for request in requests_to(stub, INSERT)}) == 1
    assert any("one path/host invalidation per minute" in m for m in rec.messages)


def test_operation_done_with_error_keeps_googles_message(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    failed = operation(
        "DONE",
        httpErrorStatusCode=400,
        httpErrorMessage="BAD REQUEST",
        error={"errors": [{"code": "INVALID_USAGE", "message": "Invalid value for field 'resource.host': 'x'."}]},
    )
    stub.expect_ordered_request(INSERT, method="POST").respond_with_json(operation("RUNNING"))
    stub.expect_ordered_request(GET, method="GET").respond_with_json(failed)

    with pytest.raises(InvalidationError) as info:
        run(endpoint, rec)

    message = str(info.value)
    assert "INVALID_USAGE: Invalid value for field 'resource.host': 'x'." in message
    assert "400 BAD REQUEST" in message
    assert OPERATION in message


def test_retries_exhausted(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_json(
        google_error(503, "The service is currently unavailable.", "backendError"), status=503
    )

    with pytest.raises(InvalidationError, match=r"failed after 4 attempts; last error: 503 Service Unavailable"):
        run(endpoint, rec, attempts=4)

    assert len(requests_to(stub, INSERT)) == 4
    assert len(rec.sleeps) == 3
    assert rec.sleeps == sorted(rec.sleeps), "backoff grows"
    assert rec.sleeps[2] >= 8.0


def test_backoff_is_capped_at_a_minute(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    stub.expect_request(INSERT, method="POST").respond_with_data("bad gateway", status=502)
    with pytest.raises(InvalidationError, match=r"after 8 attempts; last error: 502 Bad Gateway"):
        run(endpoint, rec, attempts=8)
    assert len(rec.sleeps) == 7
    assert all(base <= s <= base * 1.1 for base, s in zip([2, 4, 8, 16, 32], rec.sleeps, strict=False))
    assert all(60.0 <= s <= 66.0 for s in rec.sleeps[5:])


def test_permission_denied_fails_at_once(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    denied = google_error(
        403,
        f"Required 'compute.urlMaps.invalidateCache' permission for 'projects/{PROJECT}/global/urlMaps/{URL_MAP}'",
        "forbidden",
    )
    stub.expect_request(INSERT, method="POST").respond_with_json(denied, status=403)

    with pytest.raises(InvalidationError) as info:
        run(endpoint, rec)

    assert len(stub.log) == 1
    assert rec.sleeps == []
    message = str(info.value)
    assert "compute.urlMaps.invalidateCache" in message
    assert "compute.urlMaps.get" in message
    assert "Required 'compute.urlMaps.invalidateCache' permission" in message, "Google's own text is kept"


def test_unknown_url_map_fails_at_once(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    missing = google_error(404, f"The resource 'projects/{PROJECT}/global/urlMaps/{URL_MAP}' was not found", "notFound")
    stub.expect_request(INSERT, method="POST").respond_with_json(missing, status=404)

    with pytest.raises(InvalidationError, match="Check the url map name and the project") as info:
        run(endpoint, rec)

    assert len(stub.log) == 1
    assert "was not found" in str(info.value)


def test_plain_http_to_another_machine_is_refused(rec: Recorder) -> None:
    with pytest.raises(EndpointRefused, match="plain http"):
        run("http://compute.example.com:8080", rec)


def test_bad_path_is_refused_before_any_request(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    with pytest.raises(IacError):
        run(endpoint, rec, InvalidationTarget(PROJECT, URL_MAP, HOST, "images/*"))
    assert stub.log == []


@pytest.mark.parametrize("path", ["/*", "/images/*", "/a/b.jpg", "/", "/images/"])
def test_check_path_accepts(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "empty"),
        ("images/*", 'must start with "/"'),
        ("/ima*ges", '"\\*" is allowed only as the last character'),
        ("/*x", '"\\*" is allowed only as the last character'),
        ("/a*", '"\\*" is allowed only as the last character'),
        ("/a b", "whitespace or control characters"),
        ("/a\tb", "whitespace or control characters"),
        ("/a\x00", "whitespace or control characters"),
        ("/a?b=1", "query strings"),
    ],
)
def test_check_path_rejects(path: str, why: str) -> None:
    with pytest.raises(IacError, match=why):
        check_path(path)


def test_api_endpoint_env_overrides_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAC_GCP_API_ENDPOINT", raising=False)
    assert api_endpoint(None) is None
    assert api_endpoint("https://compute.example.test") == "https://compute.example.test"
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", "http://127.0.0.1:9999")
    assert api_endpoint("https://compute.example.test") == "http://127.0.0.1:9999"
    assert api_endpoint(None) == "http://127.0.0.1:9999"
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", "")
    assert api_endpoint("https://compute.example.test") == "https://compute.example.test"


def test_importing_the_module_does_not_import_the_compute_client() -> None:
    code = (
        "import sys, iac.gcp.invalidate\n"
        "loaded = sorted(m for m in sys.modules if m == 'google.cloud' or m.startswith('google.cloud.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_answer_too_large_to_read_is_an_error_not_read_whole(stub: HTTPServer, endpoint: str, rec: Recorder) -> None:
    """A Compute endpoint answering gigabytes must not make iac read them (issue 16.17)."""
    from iac.untrusted import MAX_API_BODY

    huge = json.dumps({**operation("DONE"), "description": "x" * (MAX_API_BODY + 1024)})
    stub.expect_request(INSERT, method="POST").respond_with_data(huge, content_type="application/json")
    with pytest.raises(IacError, match="the Compute API answered a body of more than 8 MB") as raised:
        run(endpoint, rec)
    assert "not read" in str(raised.value)
