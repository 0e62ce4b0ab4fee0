"""`iac doctor` against local stand-ins only: the Compute API is a pytest-httpserver stub, the load balancer a
local HTTPS server with a certificate for the domain from a test CA (trustme), reached with --connect-to, and
Cloud Storage the gcp-storage-emulator. Nothing reaches Google.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer

from iac.doctor.https import ConnectTo, HttpAnswer, who_denied
from iac.errors import IacError
from iac.gcp.names import ResourceNames

ROOT = Path(__file__).resolve().parent.parent

PROJECT = "enc-demo"
NAME = "encord-da"
DOMAIN = "data.acme-test.com"
BUCKET = "encord-doctor-data"
LB_IP = "34.120.10.20"
NAMES = ResourceNames.of(NAME)
RANGES = ["34.90.1.1/32", "81.2.69.160/28", "2a00:1450:4001::/48"]
OBJECT = "images/cat 1.jpg"
OBJECT_PATH = "/images/cat%201.jpg"
ORIGIN = "https://app.encord.com"
API = f"/compute/v1/projects/{PROJECT}/global"
SELF_LINK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global"

# Cloud Armor's deny(403) page, as the Google Front End serves it.
ARMOR_PAGE = (
    b'<!doctype html><meta charset="utf-8"><meta name=viewport content="width=device-width, initial-scale=1">'
    b"<title>403</title>403 Forbidden"
)


def gcs_error(code: str, message: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
        "<Details>GET /encord-doctor-data/images/cat%201.jpg</Details></Error>"
    ).encode()


def write_config(tmp_path: Path, *, create: bool = True, cors: str = "", bucket: str = BUCKET) -> Path:
    location = "  location: EU\n" if create else "  create: false\n"
    text = (
        f"project: {PROJECT}\nname: {NAME}\ndomain: {DOMAIN}\n"
        f"bucket:\n  name: {bucket}\n{location}"
        "allowlist:\n  - 34.90.1.1\n  - 81.2.69.160/28\n  - 2a00:1450:4001::/48\n" + cors
    )
    path = tmp_path / "iac.yaml"
    path.write_text(text)
    return path


# -- the Compute API stub ------------------------------------------------------------------------------------


def address(ip: str = LB_IP) -> dict[str, Any]:
    return {
        "kind": "compute#address",
        "name": NAMES.address,
        "address": ip,
        "status": "IN_USE",
        "addressType": "EXTERNAL",
        "ipVersion": "IPV4",
    }


def certificate(status: str = "ACTIVE", domain_status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "kind": "compute#sslCertificate",
        "name": NAMES.certificate,
        "type": "MANAGED",
        "managed": {"domains": [DOMAIN], "status": status, "domainStatus": {DOMAIN: domain_status}},
    }


def policy(name: str, kind: str, ranges: list[str], default_action: str = "deny(403)") -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {
            "priority": 1000 + index,
            "action": "allow",
            "description": f"Allowlist rule {1000 + index}",
            "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ranges[start : start + 10]}},
        }
        for index, start in enumerate(range(0, len(ranges), 10))
    ]
    rules.append(
        {
            "priority": 2147483647,
            "action": default_action,
            "description": "Default rule: deny everything not allowlisted",
            "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
        }
    )
    return {"kind": "compute#securityPolicy", "name": name, "type": kind, "rules": rules}


def backend_service(**override: Any) -> dict[str, Any]:
    service = {
        "kind": "compute#backendService",
        "name": NAMES.backend_service,
        "enableCDN": True,
        "edgeSecurityPolicy": f"{SELF_LINK}/securityPolicies/{NAMES.edge_policy}",
        "securityPolicy": f"{SELF_LINK}/securityPolicies/{NAMES.backend_policy}",
    }
    service.update(override)
    return {key: value for key, value in service.items() if value is not None}


def serve_compute(
    stub: HTTPServer,
    *,
    addr: dict[str, Any] | None = None,
    cert: dict[str, Any] | None = None,
    edge: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
) -> None:
    stub.expect_request(f"{API}/addresses/{NAMES.address}", method="GET").respond_with_json(addr or address())
    stub.expect_request(f"{API}/sslCertificates/{NAMES.certificate}", method="GET").respond_with_json(
        cert or certificate()
    )
    stub.expect_request(f"{API}/securityPolicies/{NAMES.edge_policy}", method="GET").respond_with_json(
        edge or policy(NAMES.edge_policy, "CLOUD_ARMOR_EDGE", RANGES)
    )
    stub.expect_request(f"{API}/securityPolicies/{NAMES.backend_policy}", method="GET").respond_with_json(
        backend or policy(NAMES.backend_policy, "CLOUD_ARMOR", RANGES)
    )
    stub.expect_request(f"{API}/backendServices/{NAMES.backend_service}", method="GET").respond_with_json(
        service or backend_service()
    )


# -- the load balancer stand-in -------------------------------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]
REASON = ":reason"  # in an Answer's headers: the reason phrase the server sends instead of the standard one


def served(cache: str = "hit") -> Answer:
    return 200, {"Content-Type": "image/jpeg", "X-Cache-Hit": cache}, b"\xff\xd8\xff jpeg bytes"


def armor() -> Answer:
    return 403, {"Content-Type": "text/html; charset=UTF-8"}, ARMOR_PAGE


def bucket_denied(code: str, message: str) -> Answer:
    headers = {"Content-Type": "application/xml; charset=UTF-8", "X-GUploader-UploadID": "ABPtcPp-doctor-test"}
    return 403, headers, gcs_error(code, message)


def preflight(allow: bool) -> Callable[[dict[str, str]], Answer]:
    def answer(headers: dict[str, str]) -> Answer:
        if not allow:
            return 200, {"Content-Length": "0"}, b""
        return (
            200,
            {
                "Access-Control-Allow-Origin": headers.get("origin", ""),
                "Access-Control-Allow-Methods": "GET,HEAD,OPTIONS",
                "Access-Control-Max-Age": "3600",
            },
            b"",
        )

    return answer


@dataclass
class LoadBalancer:
    """A local HTTPS server answering like the load balancer; `get` and `options` choose the answers."""

    port: int
    get: Answer | Callable[[dict[str, str]], Answer] = field(default_factory=served)
    options: Answer | Callable[[dict[str, str]], Answer] = field(default_factory=lambda: preflight(True))
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    @property
    def connect_to(self) -> str:
        return f"{DOMAIN}:443:127.0.0.1:{self.port}"

    def answer(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        self.requests.append((method, path, headers))
        chosen = self.get if method == "GET" else self.options
        return chosen(headers) if callable(chosen) else chosen


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def lb(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadBalancer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(DOMAIN).configure_cert(context)
    bundle = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    state: dict[str, LoadBalancer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra, body = state["lb"].answer(self.command, self.path, headers)
            extra = dict(extra)
            self.send_response(status, extra.pop(REASON, None))  # the server's own reason phrase, if given
            for name, value in extra.items():
                self.send_header(name, value)
            if "Content-Length" not in extra:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _respond
        do_OPTIONS = _respond

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    balancer = LoadBalancer(port=server.server_address[1])
    state["lb"] = balancer

    def remember_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        balancer.sni.append(name)

    context.sni_callback = remember_sni
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield balancer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_google(monkeypatch: pytest.MonkeyPatch, compute_stub: HTTPServer) -> HTTPServer:
    """Every Compute call goes to the stub, every listing to a closed local port unless a test says otherwise."""
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{compute_stub.port}")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("IAC_CONFIG", raising=False)
    return compute_stub


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def doctor(cli: Callable[..., Any], config: Path, *args: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    result = cli("doctor", "-c", config, "--json", *args)
    document = json.loads(result.stdout)
    assert set(document) == ({"ok", "checks"} if result.exit_code == 0 else {"ok", "exit_code", "error", "checks"})
    checks = {check["name"]: check for check in document["checks"]}
    assert [check["name"] for check in document["checks"]] == [
        "config",
        "address",
        "dns",
        "certificate",
        "security_policies",
        "https",
        "cors",
        "encord",
    ]
    assert all(set(check) == {"name", "status", "detail", "fix"} for check in document["checks"])
    assert document["ok"] == (result.exit_code == 0)
    assert document.get("exit_code", 0) == result.exit_code
    failed = [check["name"] for check in document["checks"] if check["status"] == "fail"]
    if failed:  # the failure document says which checks failed
        assert document["error"].endswith(f"failed: {', '.join(failed)}")
    return result, checks


def statuses(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


ALL_OK = {
    "config": "ok",
    "address": "ok",
    "dns": "skip",
    "certificate": "ok",
    "security_policies": "ok",
    "https": "ok",
    "cors": "ok",
    "encord": "skip",
}


# -- the whole run ---------------------------------------------------------------------------------------------


def test_all_ok(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert statuses(checks) == ALL_OK
    assert LB_IP in checks["address"]["detail"]
    assert "--connect-to" in checks["dns"]["detail"]
    assert "ACTIVE" in checks["certificate"]["detail"]
    assert "X-Cache-Hit: hit" in checks["https"]["detail"]
    assert ORIGIN in checks["cors"]["detail"]
    assert all(check["fix"] is None for name, check in checks.items() if name != "dns")

    (get_method, get_path, get_headers), (opt_method, opt_path, opt_headers) = lb.requests
    assert (get_method, get_path, get_headers["host"]) == ("GET", OBJECT_PATH, DOMAIN)
    assert (opt_method, opt_path, opt_headers["host"]) == ("OPTIONS", OBJECT_PATH, DOMAIN)
    assert opt_headers["origin"] == ORIGIN
    assert opt_headers["access-control-request-method"] == "GET"
    assert lb.sni == [DOMAIN, DOMAIN], "TLS names the domain, not the address connected to"

    paths = sorted(request.path for request, _ in compute_stub.log)
    assert paths == sorted(
        [
            f"{API}/addresses/{NAMES.address}",
            f"{API}/sslCertificates/{NAMES.certificate}",
            f"{API}/securityPolicies/{NAMES.edge_policy}",
            f"{API}/securityPolicies/{NAMES.backend_policy}",
            f"{API}/backendServices/{NAMES.backend_service}",
        ]
    )
    assert all("Authorization" not in request.headers for request, _ in compute_stub.log)


def test_text_report_and_progress(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub, cert=certificate("PROVISIONING", "FAILED_NOT_VISIBLE"))
    result = cli("doctor", "-c", write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 0, "a warning is not a failure"
    lines = result.stdout.splitlines()
    assert re.match(r"ok +config +", lines[0])
    assert any(re.match(r"warn +certificate +", line) for line in lines)
    assert any(line.strip().startswith(f"fix: create the A record {DOMAIN} -> {LB_IP}") for line in lines)
    assert lines[-1] == "OK: 5 ok, 1 warn, 0 fail, 2 skip"
    progress = [line for line in result.stderr.splitlines() if line.startswith("doctor: ")]
    assert [line.split(":")[1].strip() for line in progress] == [
        "config",
        "address",
        "certificate",
        "security_policies",
        "https",
        "cors",
    ]


def test_invalid_config_skips_everything(cli: Any, tmp_path: Path, compute_stub: HTTPServer) -> None:
    config = tmp_path / "iac.yaml"
    config.write_text(f"project: {PROJECT}\ndomain: {DOMAIN}\n")
    result, checks = doctor(cli, config, "--object", OBJECT)

    assert result.exit_code == 1
    assert checks["config"]["status"] == "fail"
    assert "bucket" in checks["config"]["detail"]
    assert "iac validate" in checks["config"]["fix"]
    assert {checks[name]["status"] for name in checks if name != "config"} == {"skip"}
    assert compute_stub.log == []


def test_missing_config_file_says_to_create_one(cli: Any, tmp_path: Path, compute_stub: HTTPServer) -> None:
    result, checks = doctor(cli, tmp_path / "iac.yaml")

    assert result.exit_code == 1
    assert checks["config"]["detail"] == f"{tmp_path / 'iac.yaml'}: no such config file"
    assert f"`iac init {tmp_path / 'iac.yaml'}`" in checks["config"]["fix"]
    assert "fix the config" not in checks["config"]["fix"]
    assert checks["address"]["detail"] == "not run: the config check failed, and every check needs the config"
    assert compute_stub.log == []


@pytest.mark.parametrize("given", [True, False], ids=["object-given", "bucket-listed"])
def test_no_credentials_is_said_once(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lb: LoadBalancer, given: bool
) -> None:
    """Google's endpoints (never reached) with no credentials: the text report says what to set up once, and the
    checks that need the Compute API say which check found that and why they did not run."""
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", "https://compute.invalid")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    chosen = ["--object", OBJECT] if given else []
    result = cli("doctor", "-c", write_config(tmp_path), *chosen, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert result.stdout.count("Application Default Credentials") == 1, result.stdout
    address_lines = [line for line in lines if re.match(r"fail +address ", line)]
    assert len(address_lines) == 1
    assert "no Google credentials to read the deployment with" in address_lines[0]
    index = lines.index(address_lines[0])
    assert "fix: set up Application Default Credentials" in lines[index + 1]
    assert "compute.globalAddresses.get" in lines[index + 1]
    for name in ("certificate", "security_policies"):
        [line] = [line for line in lines if re.match(rf"skip +{name} ", line)]
        assert line.endswith("not run: no Google credentials for the Compute API (found by the address check)")
    if not given:
        [https] = [line for line in lines if re.match(r"skip +https ", line)]
        assert "cannot list gs://encord-doctor-data to pick an object: no Google credentials" in https
        assert lines[lines.index(https) + 1].strip() == (
            "fix: pass --object NAME (an object in the bucket), or set up credentials as the address check says"
        )
    # 8 checks, the address fix, the summary, and the https fix when the bucket was to be listed
    assert len(lines) == (10 if given else 11), result.stdout
    assert max(len(line) for line in lines) < 400


def test_dns_fix_with_a_zone_names_the_zone(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, resolver: Callable[[str | None, int], None]
) -> None:
    serve_compute(compute_stub)
    resolver(None, 0)
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "dns_zone: acme-test-com\n")
    _, checks = doctor(cli, config, "--object", OBJECT)

    assert checks["dns"]["status"] == "fail"
    fix = checks["dns"]["fix"]
    assert f"`iac apply` writes the A record {DOMAIN} -> {LB_IP} in the Cloud DNS zone acme-test-com" in fix
    assert f"gcloud dns managed-zones describe acme-test-com --project {PROJECT}" in fix
    assert "dns_record_to_create" not in fix, "with a zone, there is no such output"


# -- certificate --------------------------------------------------------------------------------------------


def test_certificate_provisioning_not_visible(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    serve_compute(compute_stub, cert=certificate("PROVISIONING", "FAILED_NOT_VISIBLE"))
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 0
    cert = checks["certificate"]
    assert cert["status"] == "warn"
    assert f"{DOMAIN} FAILED_NOT_VISIBLE" in cert["detail"]
    assert "does not resolve to the load balancer" in cert["detail"]
    assert LB_IP in cert["fix"], "the fix names the address to point the A record at"


def test_certificate_failed_caa(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub, cert=certificate("PROVISIONING_FAILED_PERMANENTLY", "FAILED_CAA_FORBIDDEN"))
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    assert checks["certificate"]["status"] == "fail"
    assert "FAILED_CAA_FORBIDDEN" in checks["certificate"]["detail"]
    assert "pki.goog" in checks["certificate"]["fix"]


# -- security policies ----------------------------------------------------------------------------------------


def test_allowlist_drift_is_listed_both_ways(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    live = ["34.90.1.1/32", "2a00:1450:4001::/48", "34.90.2.0/24"]  # 81.2.69.160/28 removed, 34.90.2.0/24 added
    serve_compute(compute_stub, edge=policy(NAMES.edge_policy, "CLOUD_ARMOR_EDGE", live))
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    found = checks["security_policies"]
    assert found["status"] == "fail"
    assert f"{NAMES.edge_policy} allows 1 range not in the config: 34.90.2.0/24" in found["detail"]
    assert f"{NAMES.edge_policy} lacks 1 range of the config: 81.2.69.160/28" in found["detail"]
    assert NAMES.backend_policy not in found["detail"], "the backend policy matches"
    assert "iac apply" in found["fix"] and "iac plan" in found["fix"]
    assert statuses(checks) == {**ALL_OK, "security_policies": "fail"}


@pytest.mark.parametrize(
    ("service", "backend", "expected"),
    [
        (
            backend_service(edgeSecurityPolicy=None),
            None,
            f"{NAMES.backend_service} has no edge security policy (expected {NAMES.edge_policy})",
        ),
        (
            backend_service(edgeSecurityPolicy=f"{SELF_LINK}/securityPolicies/other-policy"),
            None,
            "has edge security policy other-policy (expected encord-da-edge-policy)",
        ),
        (backend_service(enableCDN=False), None, "Cloud CDN disabled"),
        (
            None,
            policy(NAMES.backend_policy, "CLOUD_ARMOR", RANGES, default_action="allow"),
            "the default rule's action is 'allow'",
        ),
    ],
    ids=["edge-not-attached", "other-edge-policy", "cdn-off", "default-allows"],
)
def test_policy_attachment_problems(
    cli: Any,
    tmp_path: Path,
    compute_stub: HTTPServer,
    lb: LoadBalancer,
    service: dict[str, Any] | None,
    backend: dict[str, Any] | None,
    expected: str,
) -> None:
    serve_compute(compute_stub, service=service, backend=backend)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    assert checks["security_policies"]["status"] == "fail"
    assert expected in checks["security_policies"]["detail"]


def test_missing_policy_and_permission(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    missing = {"error": {"code": 404, "message": "The resource was not found", "errors": [{"reason": "notFound"}]}}
    denied = {"error": {"code": 403, "message": "Required 'compute.sslCertificates.get' permission", "errors": []}}
    compute_stub.expect_request(f"{API}/securityPolicies/{NAMES.edge_policy}").respond_with_json(missing, status=404)
    compute_stub.expect_request(f"{API}/sslCertificates/{NAMES.certificate}").respond_with_json(denied, status=403)
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    assert "not found" in checks["security_policies"]["detail"]
    assert checks["certificate"]["status"] == "fail"
    assert "Required 'compute.sslCertificates.get' permission" in checks["certificate"]["detail"]
    assert "compute.sslCertificates.get" in checks["certificate"]["fix"]


# -- https and who answered -------------------------------------------------------------------------------------


def test_cloud_armor_403_is_a_warning(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub)
    lb.get = armor()
    lb.options = armor()
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 0, "a pipeline runner outside the allowlist is expected"
    assert checks["https"]["status"] == "warn"
    assert "Cloud Armor" in checks["https"]["detail"]
    assert "this machine's address is not in the allowlist" in checks["https"]["detail"]
    assert "`iac allowlist denied`" in checks["https"]["fix"]
    assert checks["cors"]["status"] == "skip"


@pytest.mark.parametrize(
    ("code", "message", "fix_words"),
    [
        ("SignatureDoesNotMatch", "Access denied.", ["HMAC key", "origin_region is eu"]),
        ("InvalidAccessKeyId", "The GOOG access id you provided does not exist.", ["HMAC key"]),
        ("AccessDenied", "Access denied.", [f"{NAMES.reader}@{PROJECT}.iam.gserviceaccount.com", "read access"]),
    ],
)
def test_bucket_403_fails_naming_origin_authentication(
    cli: Any,
    tmp_path: Path,
    compute_stub: HTTPServer,
    lb: LoadBalancer,
    code: str,
    message: str,
    fix_words: list[str],
) -> None:
    serve_compute(compute_stub)
    lb.get = bucket_denied(code, message)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    found = checks["https"]
    assert found["status"] == "fail"
    assert code in found["detail"]
    assert "Cloud Armor" not in found["detail"]
    assert "origin authentication" in found["fix"]
    for word in fix_words:
        assert word in found["fix"]


def test_unrecognised_403_fails(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub)
    lb.get = (403, {"Content-Type": "text/plain"}, b"go away")
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1

    assert checks["https"]["status"] == "fail"
    assert "'go away'" in checks["https"]["detail"]
    assert "enforcedSecurityPolicy" in checks["https"]["fix"]


def test_untrusted_certificate_fails(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert result.exit_code == 1
    assert checks["https"]["status"] == "fail"
    assert "certificate is not trusted" in checks["https"]["detail"]
    assert checks["cors"]["status"] == "skip"


# -- CORS ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("create", "fix_words"),
    [(True, ["cors:", "iac apply"]), (False, ["cors.targets", "iac cors apply", BUCKET])],
    ids=["created-bucket", "existing-bucket"],
)
def test_cors_missing(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, create: bool, fix_words: list[str]
) -> None:
    serve_compute(compute_stub)
    lb.options = preflight(False)
    result, checks = doctor(
        cli, write_config(tmp_path, create=create), "--object", OBJECT, "--connect-to", lb.connect_to
    )

    assert result.exit_code == 1
    assert checks["cors"]["status"] == "fail"
    assert "no Access-Control-Allow-Origin" in checks["cors"]["detail"]
    for word in fix_words:
        assert word in checks["cors"]["fix"]
    assert statuses(checks) == {**ALL_OK, "cors": "fail"}


def test_cors_uses_the_first_configured_origin(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    serve_compute(compute_stub)
    cors = "cors:\n  origins:\n    - https://app.us.encord.com\n"
    _, checks = doctor(cli, write_config(tmp_path, cors=cors), "--object", OBJECT, "--connect-to", lb.connect_to)

    assert checks["cors"]["status"] == "ok"
    assert lb.requests[1][2]["origin"] == "https://app.us.encord.com"


# -- DNS (the resolver answers for the domain; everything stays on this machine) --------------------------------


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None, int], None]:
    """Make the domain resolve to `ip` (None: not at all), port 443 mapped to `port` on it."""
    real = socket.getaddrinfo

    def install(ip: str | None, port: int) -> None:
        def fake(host: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
            if host != DOMAIN:
                return real(host, service, *args, **kwargs)
            if ip is None:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))]

        monkeypatch.setattr(socket, "getaddrinfo", fake)

    return install


def test_dns_resolves_to_the_address(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, resolver: Callable[[str | None, int], None]
) -> None:
    serve_compute(compute_stub, addr=address("127.0.0.1"))
    resolver("127.0.0.1", lb.port)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT)

    assert result.exit_code == 0, result.stdout
    assert checks["dns"]["status"] == "ok"
    assert "the load balancer's address" in checks["dns"]["detail"]
    assert checks["https"]["status"] == "ok", "without --connect-to the request goes where the domain resolves"


def test_dns_points_elsewhere(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, resolver: Callable[[str | None, int], None]
) -> None:
    serve_compute(compute_stub, addr=address("127.0.0.1"))
    resolver("127.0.0.2", closed_port())
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT)

    assert result.exit_code == 1
    assert checks["dns"]["status"] == "fail"
    assert "resolves to 127.0.0.2, not the load balancer's address 127.0.0.1" in checks["dns"]["detail"]


def test_dns_does_not_resolve(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, resolver: Callable[[str | None, int], None]
) -> None:
    serve_compute(compute_stub)
    resolver(None, 0)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT)

    assert result.exit_code == 1
    assert checks["dns"]["status"] == "fail"
    assert LB_IP in checks["dns"]["fix"]
    assert checks["https"]["status"] == "skip"
    assert f"--connect-to {DOMAIN}:443:{LB_IP}:443" in checks["https"]["fix"]
    assert checks["cors"]["status"] == "skip"
    # A check that cannot run is reported as skipped, never first announced as a request in progress.
    assert "doctor: https:" not in result.stderr
    assert "doctor: dns:" in result.stderr


# -- an endpoint that never answers ------------------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.mark.slow
def test_unresponsive_endpoints_are_bounded(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_port: int, lb: LoadBalancer
) -> None:
    monkeypatch.setenv("IAC_GCP_API_ENDPOINT", f"http://127.0.0.1:{silent_port}")
    start = time.monotonic()
    result, checks = doctor(
        cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", f"{DOMAIN}:443:127.0.0.1:{silent_port}"
    )
    elapsed = time.monotonic() - start

    assert elapsed < 35, f"took {elapsed:.0f} s"
    assert result.exit_code == 1
    assert statuses(checks) == {
        "config": "ok",
        "address": "fail",
        "dns": "skip",
        "certificate": "skip",
        "security_policies": "skip",
        "https": "fail",
        "cors": "skip",
        "encord": "skip",
    }
    assert "did not answer" in checks["address"]["detail"]
    assert "Compute API" in checks["certificate"]["detail"]
    assert "no answer within" in checks["https"]["detail"]


# -- the object from the bucket (gcp-storage-emulator) ----------------------------------------------------------


def test_object_comes_from_the_bucket(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, gcs_client: Any
) -> None:
    name = f"encord-doctor-{uuid.uuid4().hex[:12]}"
    bucket = gcs_client.create_bucket(name)
    bucket.blob("first/object.jpg").upload_from_string(b"jpeg")
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path, bucket=name), "--connect-to", lb.connect_to)

    assert result.exit_code == 0, result.stdout
    assert checks["https"]["status"] == "ok"
    assert f"https://{DOMAIN}/first/object.jpg" in checks["https"]["detail"]
    assert [(method, path) for method, path, _ in lb.requests] == [
        ("GET", "/first/object.jpg"),
        ("OPTIONS", "/first/object.jpg"),
    ]


def test_empty_bucket_skips(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer, gcs_client: Any
) -> None:
    name = f"encord-doctor-{uuid.uuid4().hex[:12]}"
    gcs_client.create_bucket(name)
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path, bucket=name), "--connect-to", lb.connect_to)

    assert result.exit_code == 0
    assert checks["https"]["status"] == "skip"
    assert "is empty" in checks["https"]["detail"]
    assert checks["cors"]["status"] == "skip"
    assert lb.requests == []


def test_listing_fails_skips_with_the_fix(cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer) -> None:
    serve_compute(compute_stub)  # STORAGE_EMULATOR_HOST points at a closed port (no_google)
    result, checks = doctor(cli, write_config(tmp_path), "--connect-to", lb.connect_to)

    assert result.exit_code == 0
    assert checks["https"]["status"] == "skip"
    assert f"cannot list gs://{BUCKET}" in checks["https"]["detail"]
    assert "pass --object NAME" in checks["https"]["fix"]


# -- options ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("data.acme.com:443:34.120.10.20:443", ConnectTo("data.acme.com", 443, "34.120.10.20", 443)),
        ("data.acme.com:443:[2001:db8::1]:8443", ConnectTo("data.acme.com", 443, "2001:db8::1", 8443)),
        ("::127.0.0.1:", ConnectTo("", None, "127.0.0.1", None)),
    ],
)
def test_connect_to_parses(spec: str, expected: ConnectTo) -> None:
    assert ConnectTo.parse(spec) == expected


@pytest.mark.parametrize("spec", ["127.0.0.1:8443", "a:b:c:d", "h:443:x:70000", "h:443:[::1:443"])
def test_connect_to_rejects(spec: str) -> None:
    with pytest.raises(IacError, match="--connect-to"):
        ConnectTo.parse(spec)


def test_connect_to_for_another_host_is_an_error(cli: Any, tmp_path: Path, compute_stub: HTTPServer) -> None:
    result = cli("doctor", "-c", write_config(tmp_path), "--connect-to", "other.example.org:443:127.0.0.1:1")
    assert result.exit_code == 1
    assert f"the config's domain is {DOMAIN}" in result.stderr
    assert compute_stub.log == []


def test_who_denied_markers() -> None:
    assert who_denied(HttpAnswer(403, "Forbidden", {"content-type": "text/html"}, ARMOR_PAGE)) == "cloud_armor"
    xml = gcs_error("AccessDenied", "Access denied.")
    assert who_denied(HttpAnswer(403, "Forbidden", {"content-type": "application/xml"}, xml)) == "bucket"
    assert who_denied(HttpAnswer(403, "Forbidden", {"x-guploader-uploadid": "x"}, b"")) == "bucket"
    assert who_denied(HttpAnswer(403, "Forbidden", {}, b"<html>nope</html>")) == "unknown"


def test_names_match_the_module() -> None:
    module = "\n".join(path.read_text() for path in (ROOT / "modules" / "gcp-direct-access").glob("*.tf"))
    for suffix in ("-ip", "-cert", "-backend", "-reader"):
        assert f'"${{var.name}}{suffix}"' in module
    assert '"${var.name}-${each.key}-policy"' in module
    assert re.search(r"edge\s*=\s*\"CLOUD_ARMOR_EDGE\"", module) and re.search(r"backend\s*=\s*\"CLOUD_ARMOR\"", module)
    assert (NAMES.address, NAMES.certificate, NAMES.edge_policy, NAMES.backend_policy, NAMES.backend_service) == (
        "encord-da-ip",
        "encord-da-cert",
        "encord-da-edge-policy",
        "encord-da-backend-policy",
        "encord-da-backend",
    )


def test_help_has_an_example_and_loads_no_google_client() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "iac", "doctor", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Example: iac doctor" in result.stdout
    assert "google" not in result.stderr, "iac doctor --help must not import the Google clients"


# -- what came from outside is escaped, and read within bounds (issue 16.16, 16.17) ------------------------------

HOSTILE = "\x1b[2J\x1b]0;owned\x07\u202e"  # clear the screen, set the window title, reverse the text
HTTP_HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b"  # what an HTTP header can carry (Latin-1): \x9b is CSI


def test_control_characters_from_the_server_are_escaped_in_the_report(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    serve_compute(compute_stub)
    lb.get = (200, {"X-Cache-Hit": f"hit{HTTP_HOSTILE}", REASON: f"OK{HTTP_HOSTILE}"}, b"jpeg")
    lb.options = (200, {"Access-Control-Allow-Origin": f"{ORIGIN}{HTTP_HOSTILE}", REASON: f"Fine{HTTP_HOSTILE}"}, b"")
    config = write_config(tmp_path)
    text = cli("doctor", "-c", config, "--object", OBJECT, "--connect-to", lb.connect_to)
    printed = text.stdout + text.stderr
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in printed
    assert "X-Cache-Hit: hit\\x1b[2J\\x1b]0;owned\\x07\\x9b" in text.stdout
    assert "Fine\\x1b[2J" in text.stdout
    assert f"Access-Control-Allow-Origin {ORIGIN}\\x1b[2J" in text.stdout

    _, checks = doctor(cli, config, "--object", OBJECT, "--connect-to", lb.connect_to)
    assert "OK\\x1b[2J" in checks["https"]["detail"], "the JSON report holds the escaped text too"


def test_a_bucket_error_and_an_unknown_reason_are_escaped(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    serve_compute(compute_stub)
    lb.get = bucket_denied("AccessDenied", f"Access denied.{HTTP_HOSTILE}")
    lb.options = (418, {REASON: f"Teapot{HTTP_HOSTILE}"}, b"")
    result = cli("doctor", "-c", write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout + result.stderr
    assert "Access denied.\\x1b[2J" in result.stdout
    assert "Teapot\\x1b[2J" in result.stdout


def test_google_error_text_is_escaped_in_the_report(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    denied = {"error": {"code": 403, "message": f"Required permission{HOSTILE}", "errors": []}}
    compute_stub.expect_request(f"{API}/sslCertificates/{NAMES.certificate}").respond_with_json(denied, status=403)
    serve_compute(compute_stub)
    result = cli("doctor", "-c", write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout + result.stderr
    assert "Required permission\\x1b[2J\\x1b]0;owned\\x07\\u202e" in result.stdout


def test_a_huge_compute_answer_is_not_read_whole(
    cli: Any, tmp_path: Path, compute_stub: HTTPServer, lb: LoadBalancer
) -> None:
    from iac.untrusted import MAX_API_BODY

    padding = "x" * (MAX_API_BODY + 1024)
    huge = json.dumps({**address(), "description": padding}).encode()
    compute_stub.expect_request(f"{API}/addresses/{NAMES.address}").respond_with_data(
        huge, content_type="application/json"
    )
    serve_compute(compute_stub)
    result, checks = doctor(cli, write_config(tmp_path), "--object", OBJECT, "--connect-to", lb.connect_to)
    assert result.exit_code == 1
    assert checks["address"]["status"] == "fail"
    assert "the Compute API answered a body of more than 8 MB" in checks["address"]["detail"]
    assert "not read" in checks["address"]["detail"]
    assert checks["certificate"]["status"] == "skip"


@pytest.mark.parametrize(
    ("text", "lines", "shown"),
    [
        ("a\x1b[2Jb", False, "a\\x1b[2Jb"),
        ("one\ntwo\tthree", False, "one\\ntwo\\tthree"),
        ("one\ntwo\tthree", True, "one\ntwo\tthree"),
        ("over\rwritten", True, "over\\rwritten"),
        ("csi\x9b and del\x7f", True, "csi\\x9b and del\\x7f"),
        ("abc\u202edef\u2066", True, "abc\\u202edef\\u2066"),
        ("naïve ñandú 東京", False, "naïve ñandú 東京"),
    ],
)
def test_printable_escapes_controls_and_keeps_text(text: str, lines: bool, shown: str) -> None:
    from iac.untrusted import printable

    assert printable(text, lines=lines) == shown


# -- the encord check ------------------------------------------------------------------------------------------


def test_the_encord_check_is_skipped_without_an_integration_or_a_key(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, checks = doctor(cli, write_config(tmp_path))
    assert checks["encord"]["status"] == "skip"
    assert "encord.integration is not set" in checks["encord"]["detail"]

    monkeypatch.delenv("ENCORD_SSH_KEY_FILE", raising=False)
    monkeypatch.delenv("ENCORD_SSH_KEY", raising=False)
    config = write_config(tmp_path, cors="encord: {integration: Direct Access acme, folder: scans}\n")
    _, checks = doctor(cli, config)
    assert checks["encord"]["status"] == "skip"
    assert "no Encord key in ENCORD_SSH_KEY_FILE or ENCORD_SSH_KEY" in checks["encord"]["detail"]


def test_the_encord_check_finds_the_integration_or_lists_what_the_key_sees(
    cli: Any, tmp_path: Path, encord_api: Any
) -> None:
    from standins_encord import INTEGRATION, OTHER_INTEGRATION

    config = write_config(tmp_path, cors=f"encord: {{integration: {INTEGRATION}, folder: scans}}\n")
    _, checks = doctor(cli, config)
    assert checks["encord"]["status"] == "ok", checks["encord"]
    assert (
        f"the cloud integration '{INTEGRATION}' is visible to the key at {encord_api.domain}"
        in (checks["encord"]["detail"])
    )

    config = write_config(tmp_path, cors="encord: {integration: Direct Acess, folder: scans}\n")
    _, checks = doctor(cli, config)
    assert checks["encord"]["status"] == "fail"
    assert f"it can see '{INTEGRATION}', '{OTHER_INTEGRATION}'" in checks["encord"]["detail"]
    assert "encord.integration" in checks["encord"]["fix"]
    assert encord_api.unsigned == []
