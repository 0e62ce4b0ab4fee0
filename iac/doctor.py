"""`iac doctor`: is the deployment serving Encord? Checks the config, the load balancer's resources (Compute
API), DNS, an HTTPS download and a CORS preflight, each reported as ok, warn, fail or skip with a fix.

Every network step has a timeout and no retries, each check runs with a time limit of its own, and the whole
run has a budget (`BUDGET`), so an unresponsive endpoint costs seconds, never minutes; checks that depend on
an endpoint that did not answer are skipped rather than waiting again.

`google.cloud.compute_v1` and `google.cloud.storage` are imported only inside the functions that call them.
"""

from __future__ import annotations

import http.client
import importlib
import ipaddress
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from iac import __version__
from iac.allowlist import DEFAULT_RULE_PRIORITY
from iac.errors import ConfigError, IacError
from iac.names import ResourceNames

if TYPE_CHECKING:
    from iac.config import LoadedConfig

Status = Literal["ok", "warn", "fail", "skip"]
Progress = Callable[[str], None]

CHECKS = ("config", "address", "dns", "certificate", "security_policies", "https", "cors")
REQUEST_TIMEOUT = 5.0  # seconds for one request (Compute API, DNS, bucket listing, HTTPS)
BUDGET = 27.0  # seconds for the whole run: each check gets at most what is left
MAX_BODY = 16 * 1024  # bytes of an error body read to tell who answered
DEFAULT_ORIGIN = "https://app.encord.com"

COMPUTE_PERMISSIONS = (
    "compute.globalAddresses.get, compute.sslCertificates.get, compute.securityPolicies.get and "
    "compute.backendServices.get (e.g. roles/compute.viewer)"
)

# What each `managed.domainStatus` of a Google-managed certificate means.
DOMAIN_STATUS = {
    "ACTIVE": "the certificate covers the domain",
    "PROVISIONING": "Google is obtaining the certificate; this takes up to about an hour once DNS is right",
    "FAILED_NOT_VISIBLE": (
        "the domain does not resolve to the load balancer yet (no A record, an A record pointing elsewhere, "
        "or DNS not propagated); Google keeps retrying"
    ),
    "FAILED_CAA_CHECKING": "the domain's CAA records could not be read (a DNS server problem); Google keeps retrying",
    "FAILED_CAA_FORBIDDEN": (
        "the domain's CAA records do not allow Google's certificate authorities (pki.goog, letsencrypt.org)"
    ),
    "FAILED_RATE_LIMITED": "the certificate authority is rate-limiting certificates for this domain; Google retries",
}
DOMAIN_FIX = {
    "PROVISIONING": "wait: provisioning usually ends within 60 minutes of the domain resolving to the load balancer",
    "FAILED_CAA_CHECKING": "make sure the domain's DNS servers answer CAA queries (`dig CAA <domain>`)",
    "FAILED_CAA_FORBIDDEN": 'add CAA records allowing Google: `0 issue "pki.goog"` and `0 issue "letsencrypt.org"`',
    "FAILED_RATE_LIMITED": "wait; Google retries on its own",
}

# Who answered a 403 (see `_who_denied`).
#
# Cloud Armor's deny(403), the action of the module's default rule, answers with the Google Front End's minimal
# error page, `Content-Type: text/html`:
#     <!doctype html><meta charset="utf-8"><meta name=viewport content="width=device-width, initial-scale=1">
#     <title>403</title>403 Forbidden
# Cloud Storage answers every error with an XML document, `<?xml ...?><Error><Code>AccessDenied</Code>
# <Message>...</Message>...</Error>`, and its responses (passed through by the load balancer) carry an
# `X-GUploader-UploadID` header, which the front end's own pages never have.
# So: a `<Error>...<Code>` document or the X-GUploader-UploadID header means the bucket; otherwise a
# `<title>403</title>` page means Cloud Armor (the meta tags around it have changed over the years, the title
# has not). Anything else is reported as unrecognised, with the start of the body.
_BUCKET_ERROR = re.compile(r"<Error>\s*<Code>\s*([^<\s]{1,100})\s*</Code>", re.IGNORECASE)
_BUCKET_MESSAGE = re.compile(r"<Message>([^<]{0,500})</Message>", re.IGNORECASE)
_GFE_403_TITLE = re.compile(r"<title>\s*403\s*</title>", re.IGNORECASE)
_GCS_HEADER = "x-guploader-uploadid"

# Cloud Storage error codes caused by the load balancer's request signing (the HMAC key, origin_region, the
# Host header the signature covers).
_SIGNING_CODES = frozenset(
    {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSecurity", "AuthorizationHeaderMalformed"}
)
_ACCESS_CODES = frozenset({"AccessDenied", "UserProjectAccountProblem", "AccountProblem"})

_CONNECT_TO = re.compile(r"(\[[^\]]*\]|[^:\[\]]*):(\d*):(\[[^\]]*\]|[^:\[\]]*):(\d*)")


@dataclass(frozen=True)
class Check:
    """One check's outcome: `status` ok, warn, fail or skip; `detail` one line; `fix` what to do, if anything."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class DoctorReport:
    """Every check, in the order they ran. `ok`: no check failed (warnings and skips are not failures)."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_json() for check in self.checks]}


@dataclass(frozen=True)
class ConnectTo:
    """curl's --connect-to HOST:PORT:CONNECT_HOST:CONNECT_PORT: connect to CONNECT_HOST:CONNECT_PORT for
    HOST:PORT, keeping HOST for TLS (SNI, certificate verification) and the Host header. An empty HOST or PORT
    matches any; an empty CONNECT_HOST or CONNECT_PORT keeps the original."""

    host: str
    port: int | None
    connect_host: str
    connect_port: int | None

    @classmethod
    def parse(cls, spec: str) -> ConnectTo:
        match = _CONNECT_TO.fullmatch(spec.strip())
        if match is None:
            raise IacError(
                f"--connect-to {spec!r}: write HOST:PORT:CONNECT_HOST:CONNECT_PORT, e.g. "
                "data.acme.com:443:34.120.10.20:443 (IPv6 addresses in brackets: [2001:db8::1])"
            )
        host, port, connect_host, connect_port = match.groups()

        def number(text: str) -> int | None:
            if not text:
                return None
            value = int(text)
            if not 0 < value < 65536:
                raise IacError(f"--connect-to {spec!r}: port {text} is not between 1 and 65535")
            return value

        return cls(host.strip("[]").lower(), number(port), connect_host.strip("[]"), number(connect_port))

    def target(self, domain: str, port: int) -> tuple[str, int]:
        """Where to connect for `domain`:`port`."""
        return self.connect_host or domain, self.connect_port or port

    def check_applies(self, domain: str, port: int) -> None:
        """Raise IacError unless this applies to `domain`:`port` (a --connect-to for another name is a mistake)."""
        if (self.host and self.host != domain) or (self.port is not None and self.port != port):
            shown = f"{self.host or '*'}:{self.port if self.port is not None else '*'}"
            raise IacError(
                f"--connect-to is for {shown}, but the config's domain is {domain} (port {port}): write "
                f"{domain}:{port}:{self.connect_host or domain}:{self.connect_port or port}"
            )


@dataclass(frozen=True)
class HttpAnswer:
    """A response of the load balancer: status, headers (lower-case names) and the start of the body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS with the system's trust store; SSL_CERT_FILE (and SSL_CERT_DIR) are honoured:
    OpenSSL reads them while loading the default paths, and SSL_CERT_FILE is also loaded explicitly, so a build
    whose OpenSSL ignores the variable honours it too."""
    context = ssl.create_default_context()
    cafile = os.environ.get("SSL_CERT_FILE", "").strip()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise IacError(f"SSL_CERT_FILE={cafile}: cannot load it as CA certificates ({exc})") from None
    return context


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `host`:`port` (SNI, certificate check and Host header) over a TCP connection to `address`."""

    def __init__(self, host: str, port: int, address: tuple[str, int], context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def https_request(
    method: str,
    domain: str,
    path: str,
    headers: dict[str, str],
    *,
    connect_to: ConnectTo | None,
    timeout: float,
    port: int = 443,
) -> HttpAnswer:
    """One request to https://`domain``path`, verified against `domain`; raises OSError or HTTPException."""
    address = connect_to.target(domain, port) if connect_to else (domain, port)
    connection = _PinnedHTTPSConnection(domain, port, address, tls_context(), timeout)
    try:
        connection.request(
            method,
            path,
            headers={"User-Agent": f"iac-doctor/{__version__}", "Accept-Encoding": "identity", **headers},
        )
        response = connection.getresponse()
        # A successful download is not read: the status and headers say all, and objects can be large.
        body = response.read(MAX_BODY) if response.status >= 300 or method != "GET" else b""
        found = {name.lower(): value for name, value in response.getheaders()}
        return HttpAnswer(response.status, response.reason, found, body)
    finally:
        connection.close()


def bucket_error(answer: HttpAnswer) -> tuple[str, str] | None:
    """(code, message) of a Cloud Storage XML error document, or None."""
    text = answer.text
    found = _BUCKET_ERROR.search(text)
    if found is None:
        return None
    message = _BUCKET_MESSAGE.search(text)
    return found.group(1), (message.group(1).strip() if message else "")


def who_denied(answer: HttpAnswer) -> Literal["bucket", "cloud_armor", "unknown"]:
    """Who answered an error response: the bucket, Cloud Armor, or neither recognisably (markers: see top)."""
    if bucket_error(answer) is not None or answer.header(_GCS_HEADER) is not None:
        return "bucket"
    if answer.status == 403 and _GFE_403_TITLE.search(answer.text):
        return "cloud_armor"
    return "unknown"


def _snippet(answer: HttpAnswer, limit: int = 120) -> str:
    text = " ".join(answer.text.split())
    if not text:
        return "an empty body"
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _canonical(cidr: str) -> str:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        return cidr.strip()  # "*" or anything else: shown as it is


def _listed(ranges: Iterable[str], limit: int = 8) -> str:
    items = sorted(ranges)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class _ComputeUnavailable(Exception):
    """The Compute API cannot be used at all (no answer, no credentials): later Compute checks are skipped."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.fix = fix


class _Doctor:
    """One run of the checks; facts learnt by one check (the address, the object) feed the later ones."""

    def __init__(
        self,
        config_path: Path,
        object_name: str | None,
        connect_to: ConnectTo | None,
        progress: Progress,
        timeout: float,
        budget: float,
    ) -> None:
        self.config_path = config_path
        self.object_name = object_name
        self.connect_to = connect_to
        self.progress = progress
        self.request_timeout = timeout
        self.deadline = time.monotonic() + budget
        self.budget = budget
        self.results: dict[str, Check] = {}
        self.loaded: LoadedConfig | None = None
        self.names: ResourceNames | None = None
        self.clients: dict[str, Any] = {}
        self.compute_down: str | None = None  # why the Compute API cannot be used
        self.address: str | None = None
        self.resolves: bool | None = None  # the dns check's finding, None when not checked
        self.url_path: str | None = None
        self.reached = False  # the https check got an HTTP answer
        self.denied_by_armor = False

    # -- running ---------------------------------------------------------------------------------------------

    def timeout(self) -> float:
        """A request's timeout: REQUEST_TIMEOUT, or less when the run's budget is nearly used."""
        return max(0.5, min(self.request_timeout, self.deadline - time.monotonic()))

    def run(self, name: str, doing: str, func: Callable[[], Check], requests: int = 1) -> Check:
        """Run one check on a worker thread with a time limit, turning errors into a `fail`."""
        remaining = self.deadline - time.monotonic()
        if remaining < 0.5:
            check = Check(name, "skip", f"not run: the run's {self.budget:.0f} s budget is used up")
            return self._record(check)
        self.progress(f"doctor: {name}: {doing}")
        limit = min(requests * self.request_timeout + 2.0, remaining)
        box: list[Check | BaseException] = []

        def work() -> None:
            try:
                box.append(func())
            except BaseException as exc:
                box.append(exc)

        worker = threading.Thread(target=work, name=f"iac-doctor-{name}", daemon=True)
        worker.start()
        worker.join(limit)
        if not box:
            # The thread is left behind (a daemon: it never keeps iac alive); its late result is ignored.
            check = Check(name, "fail", f"no result within {limit:.0f} s", "check the network path and run again")
            if name in ("address", "certificate", "security_policies"):
                self.compute_down = f"the Compute API did not answer within {limit:.0f} s (see {name})"
            return self._record(check)
        outcome = box[0]
        if isinstance(outcome, Check):
            return self._record(outcome)
        if isinstance(outcome, _ComputeUnavailable):
            self.compute_down = f"{outcome} (see {name})"
            return self._record(Check(name, "fail", str(outcome), outcome.fix))
        if isinstance(outcome, IacError):
            return self._record(Check(name, "fail", str(outcome)))
        if isinstance(outcome, Exception):
            return self._record(Check(name, "fail", f"unexpected error: {type(outcome).__name__}: {outcome}"))
        raise outcome

    def _record(self, check: Check) -> Check:
        self.results[check.name] = check
        return check

    def skip(self, name: str, why: str, fix: str | None = None) -> Check:
        return self._record(Check(name, "skip", why, fix))

    def checks(self) -> tuple[Check, ...]:
        return tuple(self.results[name] for name in CHECKS if name in self.results)

    # -- config ----------------------------------------------------------------------------------------------

    def check_config(self) -> Check:
        from iac.config import load_config

        self.progress(f"doctor: config: loading {self.config_path}")
        try:
            loaded = load_config(self.config_path)
        except ConfigError as exc:
            shown = "; ".join(exc.problems[:3]) + (
                f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
            )
            return self._record(
                Check(
                    "config", "fail", shown, f"fix the config; `iac validate -c {self.config_path}` lists every problem"
                )
            )
        self.loaded = loaded
        self.names = ResourceNames.of(loaded.config.name)
        config = loaded.config
        return self._record(
            Check(
                "config",
                "ok",
                f"{self.config_path}: valid (project {config.project}, domain {config.domain}, "
                f"{_plural(len(loaded.allowlist.ranges), 'allowlist range')})",
            )
        )

    # -- Compute API -----------------------------------------------------------------------------------------

    def client(self, kind: str) -> Any:
        """A google-cloud-compute client (GlobalAddressesClient, ...) on the configured endpoint, made once."""
        if kind not in self.clients:
            from google.cloud import compute_v1

            from iac.invalidate import CredentialsMissing, api_endpoint, compute_credentials

            assert self.loaded is not None
            endpoint = api_endpoint(self.loaded.config.gcp.api_endpoint)
            try:
                credentials, options = compute_credentials(
                    endpoint, purpose="to read the deployment with", permissions=COMPUTE_PERMISSIONS
                )
            except CredentialsMissing as exc:
                raise _ComputeUnavailable(str(exc), _CREDENTIALS_FIX) from None
            except IacError as exc:  # plain http to another machine
                raise _ComputeUnavailable(str(exc), _ENDPOINT_FIX) from None
            self.clients[kind] = getattr(compute_v1, kind)(
                credentials=credentials, transport="rest", client_options=options
            )
        return self.clients[kind]

    def compute_get(self, kind: str, what: str, permission: str, **names: str) -> Any | Check:
        """`get` of one resource; a Check (fail) when it is missing or forbidden; _ComputeUnavailable when the API
        does not answer."""
        import requests
        from google.api_core import exceptions as google_exceptions
        from google.auth.exceptions import RefreshError, TransportError

        assert self.loaded is not None
        project = self.loaded.config.project
        try:
            return self.client(kind).get(project=project, **names, retry=None, timeout=self.timeout())
        except google_exceptions.GoogleAPICallError as exc:
            said = _google_error(exc)
            if exc.code == 404:
                return Check("", "fail", f"{what} not found in project {project}: {said}", _APPLY_FIX)
            if exc.code in (401, 403):
                return Check(
                    "",
                    "fail",
                    f"reading {what} was refused: {said}",
                    f"the identity running iac needs {permission} on project {project} (e.g. roles/compute.viewer)",
                )
            return Check("", "fail", f"reading {what} failed: {said}", "run again; if it persists, check the project")
        except requests.exceptions.Timeout as exc:
            raise _ComputeUnavailable(
                f"the Compute API did not answer within {self.timeout():.0f} s ({exc})", _ENDPOINT_FIX
            ) from None
        except (requests.exceptions.ConnectionError, TransportError) as exc:
            raise _ComputeUnavailable(
                f"cannot reach the Compute API ({type(exc).__name__}: {exc})", _ENDPOINT_FIX
            ) from None
        except RefreshError as exc:
            raise _ComputeUnavailable(f"could not get a Google access token: {exc}", _CREDENTIALS_FIX) from None

    def check_address(self) -> Check:
        assert self.names is not None
        name = self.names.address
        found = self.compute_get(
            "GlobalAddressesClient", f"global address {name}", "compute.globalAddresses.get", address=name
        )
        if isinstance(found, Check):
            return Check("address", found.status, found.detail, found.fix)
        if not found.address:
            return Check("address", "fail", f"global address {name} has no IP address", _APPLY_FIX)
        self.address = str(found.address)
        status = f" ({found.status})" if found.status else ""
        return Check("address", "ok", f"global address {name} is {found.address}{status}")

    def check_certificate(self) -> Check:
        assert self.names is not None and self.loaded is not None
        name = self.names.certificate
        domain = self.loaded.config.domain
        found = self.compute_get(
            "SslCertificatesClient", f"managed certificate {name}", "compute.sslCertificates.get", ssl_certificate=name
        )
        if isinstance(found, Check):
            return Check("certificate", found.status, found.detail, found.fix)
        managed = found.managed
        status = str(managed.status or "UNKNOWN")
        domains = dict(managed.domain_status)
        per_domain = "; ".join(
            f"{d} {s} ({DOMAIN_STATUS.get(s, 'see the Google Cloud console')})" for d, s in sorted(domains.items())
        )
        covered = list(managed.domains)
        if covered and domain not in covered:
            return Check(
                "certificate",
                "fail",
                f"{name} is for {', '.join(covered)}, not the config's domain {domain}",
                _APPLY_FIX,
            )
        if status == "ACTIVE":
            return Check("certificate", "ok", f"{name} is ACTIVE for {', '.join(covered) or domain}")
        fixes = []
        for state in sorted(set(domains.values())):
            if state == "FAILED_NOT_VISIBLE":
                where = self.address or "the load balancer's address (output ip_address)"
                fixes.append(
                    f"point {domain}'s A record at {where} (output dns_record_to_create; see the dns check); "
                    "the certificate follows within about an hour"
                )
            elif state in DOMAIN_FIX:
                fixes.append(DOMAIN_FIX[state])
        detail = f"{name} is {status}" + (f": {per_domain}" if per_domain else "")
        if status == "PROVISIONING":
            return Check("certificate", "warn", detail, "; ".join(fixes) or DOMAIN_FIX["PROVISIONING"])
        fixes.append(
            "once the cause is fixed, a certificate that failed for good must be recreated: `terraform -chdir=<dir> "
            "apply -replace=module.direct_access.google_compute_managed_ssl_certificate.default`"
        )
        return Check("certificate", "fail", detail, "; ".join(fixes))

    def check_security_policies(self) -> Check:
        assert self.names is not None and self.loaded is not None
        names = self.names
        expected = {_canonical(cidr) for cidr in self.loaded.allowlist.ranges}
        problems: list[str] = []
        summaries: list[str] = []
        for role, policy_name, policy_type in (
            ("edge", names.edge_policy, "CLOUD_ARMOR_EDGE"),
            ("backend", names.backend_policy, "CLOUD_ARMOR"),
        ):
            found = self.compute_get(
                "SecurityPoliciesClient",
                f"{role} security policy {policy_name}",
                "compute.securityPolicies.get",
                security_policy=policy_name,
            )
            if isinstance(found, Check):
                problems.append(found.detail)
                continue
            problems.extend(_policy_problems(found, policy_name, policy_type, expected))
            allow_rules = sum(1 for rule in found.rules if rule.action == "allow")
            summaries.append(f"{policy_name} ({_plural(allow_rules, 'allow rule')})")
        service = self.compute_get(
            "BackendServicesClient",
            f"backend service {names.backend_service}",
            "compute.backendServices.get",
            backend_service=names.backend_service,
        )
        if isinstance(service, Check):
            problems.append(service.detail)
        else:
            problems.extend(_service_problems(service, names))
        if problems:
            return Check("security_policies", "fail", "; ".join(problems), _DRIFT_FIX)
        return Check(
            "security_policies",
            "ok",
            f"{' and '.join(summaries)} hold the config's {_plural(len(expected), 'range')} and deny everything else; "
            f"{names.backend_service} uses both, CDN enabled",
        )

    # -- DNS -------------------------------------------------------------------------------------------------

    def check_dns(self) -> Check:
        assert self.loaded is not None
        domain = self.loaded.config.domain
        try:
            infos = socket.getaddrinfo(domain, 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            self.resolves = False
            where = self.address or "the load balancer's address (output ip_address)"
            return Check(
                "dns",
                "fail",
                f"{domain} does not resolve ({exc.strerror or exc})",
                f"create an A record {domain} -> {where} (output dns_record_to_create), or with dns_zone check "
                "that the zone is delegated to Cloud DNS",
            )
        self.resolves = True
        found = sorted({str(info[4][0]) for info in infos})
        if self.address is None:
            return Check(
                "dns",
                "skip",
                f"{domain} resolves to {', '.join(found)}; not compared: the load balancer's address is unknown "
                "(see address)",
            )
        if found == [self.address]:
            return Check("dns", "ok", f"{domain} resolves to {self.address}, the load balancer's address")
        if self.address in found:
            others = [ip for ip in found if ip != self.address]
            return Check(
                "dns",
                "warn",
                f"{domain} resolves to {self.address} (the load balancer) and also to {', '.join(others)}",
                f"remove the other A/AAAA records of {domain}: clients using them do not reach the load balancer",
            )
        return Check(
            "dns",
            "fail",
            f"{domain} resolves to {', '.join(found)}, not the load balancer's address {self.address}",
            f"point {domain}'s A record at {self.address} (output dns_record_to_create) and wait for the old "
            "record's TTL",
        )

    # -- HTTPS -----------------------------------------------------------------------------------------------

    def first_object(self) -> tuple[str | None, Check | None]:
        """The object to download: --object, else the first the bucket lists; or a `skip` saying why not."""
        if self.object_name is not None:
            return self.object_name, None
        assert self.loaded is not None
        bucket = self.loaded.config.bucket.name
        fix = "pass --object NAME (an object in the bucket)"
        try:
            from iac import storage

            try:
                client = storage.client(self.loaded.config.project)
            except storage.NoCredentials as exc:
                return None, Check("https", "skip", f"cannot list gs://{bucket}: {exc}", fix)
            blobs = list(client.list_blobs(bucket, max_results=1, timeout=self.timeout(), retry=None))
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            return None, Check("https", "skip", f"cannot list gs://{bucket} to pick an object: {reason}", fix)
        if not blobs:
            return None, Check(
                "https", "skip", f"gs://{bucket} is empty: no object to download", "upload an object, or pass --object"
            )
        return str(blobs[0].name), None

    def check_https(self) -> Check:
        assert self.loaded is not None
        config = self.loaded.config
        domain = config.domain
        if self.connect_to is None and self.resolves is False:
            where = self.address or "<load balancer address>"
            return Check(
                "https",
                "skip",
                f"{domain} does not resolve (see dns)",
                f"to check the load balancer before DNS points at it: --connect-to {domain}:443:{where}:443",
            )
        name, skipped = self.first_object()
        if skipped is not None or name is None:
            return skipped or Check("https", "skip", "no object to download")
        self.url_path = "/" + quote(name, safe="/")
        url = f"https://{domain}{self.url_path}"
        via = self._via()
        try:
            answer = https_request("GET", domain, self.url_path, {}, connect_to=self.connect_to, timeout=self.timeout())
        except OSError as exc:
            return Check("https", "fail", f"GET {url}{via}: {_connection_problem(exc, self.timeout())}", _tls_fix(exc))
        except http.client.HTTPException as exc:
            return Check(
                "https", "fail", f"GET {url}{via}: no HTTP answer ({type(exc).__name__}: {exc})", _UNREACHABLE_FIX
            )
        self.reached = True
        if answer.status in (200, 206):
            cache = answer.header("x-cache-hit")
            shown = f"X-Cache-Hit: {cache}" if cache is not None else "no X-Cache-Hit header"
            return Check("https", "ok", f"GET {url}{via}: {answer.status} {answer.reason}, {shown}")
        who = who_denied(answer)
        if who == "cloud_armor":
            self.denied_by_armor = True
            return Check(
                "https",
                "warn",
                f"GET {url}{via}: 403 from Cloud Armor: this machine's address is not in the allowlist "
                "(expected on a pipeline runner)",
                "run from an allowlisted address to download; to allow this one: `iac allowlist add <address> --apply`",
            )
        error = bucket_error(answer)
        if who == "bucket":
            return self._bucket_check(url + via, answer, error)
        return Check(
            "https",
            "fail",
            f"GET {url}{via}: {answer.status} {answer.reason} with {_snippet(answer)} (neither a Cloud Armor page "
            "nor a Cloud Storage error)",
            "check the load balancer's request log (Cloud Logging, resource http_load_balancer: statusDetails, "
            "jsonPayload.enforcedSecurityPolicy)",
        )

    def _bucket_check(self, url: str, answer: HttpAnswer, error: tuple[str, str] | None) -> Check:
        assert self.loaded is not None and self.names is not None
        config = self.loaded.config
        code, message = error or ("", "")
        said = f"{answer.status} {answer.reason}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        bucket = config.bucket.name
        region = config.bucket.origin_region or (config.bucket.location or "").lower() or "the bucket's location"
        account = f"{self.names.reader}@{config.project}.iam.gserviceaccount.com"
        if code in _SIGNING_CODES:
            return Check(
                "https",
                "fail",
                f"GET {url}: the bucket refused the load balancer's origin authentication: {said}",
                f"check the origin authentication: the HMAC key of {account} is ACTIVE (`gcloud storage hmac "
                f"list --service-account={account} --project={config.project}`); the signing region origin_region "
                f"is {region} (set bucket.origin_region to change it); then `iac apply`",
            )
        if code in _ACCESS_CODES or (answer.status == 403 and not code):
            return Check(
                "https",
                "fail",
                f"GET {url}: the bucket denied the load balancer's read: {said}",
                f"check the origin authentication: {account} (owner of the HMAC key) needs read access to objects "
                f"of gs://{bucket} (roles/storage.legacyObjectReader; for an existing bucket also check its IAM and "
                "deny policies); the signature itself was accepted, so the HMAC key and origin_region are fine",
            )
        if code == "NoSuchKey" or answer.status == 404:
            return Check(
                "https",
                "fail",
                f"GET {url}: {said}",
                f"pass --object with the name of an object in gs://{bucket}",
            )
        return Check(
            "https",
            "fail",
            f"GET {url}: the bucket answered {said}",
            f"check the origin authentication: the HMAC key of {account}, origin_region ({region}) and the "
            f"account's read access to gs://{bucket}",
        )

    def connect_target(self) -> str | None:
        """HOST:PORT that --connect-to sends the requests to, or None."""
        if self.connect_to is None or self.loaded is None:
            return None
        host, port = self.connect_to.target(self.loaded.config.domain, 443)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _via(self) -> str:
        target = self.connect_target()
        return f" (via {target})" if target else ""

    # -- CORS ------------------------------------------------------------------------------------------------

    def check_cors(self) -> Check:
        from iac.config import CorsConfig

        assert self.loaded is not None and self.url_path is not None
        config = self.loaded.config
        origins = (config.cors or CorsConfig()).origins
        origin = origins[0] if origins else DEFAULT_ORIGIN
        url = f"https://{config.domain}{self.url_path}{self._via()}"
        try:
            answer = https_request(
                "OPTIONS",
                config.domain,
                self.url_path,
                {"Origin": origin, "Access-Control-Request-Method": "GET"},
                connect_to=self.connect_to,
                timeout=self.timeout(),
            )
        except OSError as exc:
            return Check("cors", "fail", f"OPTIONS {url}: {_connection_problem(exc, self.timeout())}", _tls_fix(exc))
        except http.client.HTTPException as exc:
            return Check("cors", "fail", f"OPTIONS {url}: no HTTP answer ({type(exc).__name__}: {exc})")
        allowed = answer.header("access-control-allow-origin")
        if allowed is not None and allowed.strip() in (origin, "*"):
            return Check(
                "cors", "ok", f"preflight from {origin}: {answer.status}, Access-Control-Allow-Origin {allowed}"
            )
        if answer.status == 403 and who_denied(answer) == "cloud_armor":
            return Check(
                "cors",
                "skip",
                f"preflight from {origin}: 403 from Cloud Armor (this machine is not allowlisted)",
                "run from an allowlisted address to check CORS",
            )
        got = f"Access-Control-Allow-Origin {allowed}" if allowed is not None else "no Access-Control-Allow-Origin"
        if config.bucket.create:
            fix = (
                f"the bucket is created by the module: list {origin} in the config's cors: origins (a `cors:` section "
                "with the defaults allows Encord's web app) and run `iac apply`"
            )
        else:
            fix = (
                f"the bucket exists outside the module: add a cors.targets entry {{provider: gcp, bucket: "
                f"{config.bucket.name}}} allowing {origin} and run `iac cors apply`"
            )
        return Check(
            "cors",
            "fail",
            f"preflight from {origin} for GET: {answer.status} {answer.reason} with {got}; Encord's web app cannot "
            "read the data",
            fix,
        )


_APPLY_FIX = "run `iac apply` (or `iac plan` to see what is missing); check project and name in the config"
_DRIFT_FIX = (
    "the live setup differs from the config (a console change?): `iac plan` shows the difference and `iac apply` "
    "restores the config; if the live change was intended, put it into the config first (`iac allowlist add` / "
    "`remove`)"
)
_CREDENTIALS_FIX = (
    "set up Application Default Credentials (`gcloud auth application-default login`, or "
    f"GOOGLE_APPLICATION_CREDENTIALS / workload identity in CI) with {COMPUTE_PERMISSIONS}"
)
_ENDPOINT_FIX = (
    "check the network path to the Compute API (gcp.api_endpoint in the config, or IAC_GCP_API_ENDPOINT) and run again"
)
_UNREACHABLE_FIX = "check that the load balancer's forwarding rule serves port 443 and the network path to it"


def _policy_problems(policy: Any, name: str, policy_type: str, expected: set[str]) -> list[str]:
    """What in a live security policy differs from what the module deploys for the config."""
    problems: list[str] = []
    if policy.type_ and policy.type_ != policy_type:
        problems.append(f"{name} is of type {policy.type_}, not {policy_type}")
    live: set[str] = set()
    default = None
    for rule in policy.rules:
        if rule.priority == DEFAULT_RULE_PRIORITY:
            default = rule
            continue
        if rule.action != "allow":
            continue
        if rule.preview:
            problems.append(f"{name}: allow rule {rule.priority} is in preview mode")
        ranges = list(rule.match.config.src_ip_ranges)
        if not ranges:
            problems.append(f"{name}: allow rule {rule.priority} matches by expression, not an IP list")
        live.update(_canonical(cidr) for cidr in ranges)
    extra, missing = live - expected, expected - live
    if extra:
        problems.append(f"{name} allows {_plural(len(extra), 'range')} not in the config: {_listed(extra)}")
    if missing:
        problems.append(f"{name} lacks {_plural(len(missing), 'range')} of the config: {_listed(missing)}")
    if default is None:
        problems.append(f"{name} has no default rule (priority {DEFAULT_RULE_PRIORITY})")
    elif not str(default.action).startswith("deny"):
        problems.append(f"{name}: the default rule's action is {default.action!r}, not deny: everyone is let in")
    elif default.preview:
        problems.append(f"{name}: the default deny rule is in preview mode: everyone is let in")
    return problems


def _service_problems(service: Any, names: ResourceNames) -> list[str]:
    problems: list[str] = []
    edge = _last_segment(service.edge_security_policy) if service.edge_security_policy else None
    backend = _last_segment(service.security_policy) if service.security_policy else None
    if edge != names.edge_policy:
        problems.append(
            f"{names.backend_service} has "
            + (f"edge security policy {edge}" if edge else "no edge security policy")
            + f" (expected {names.edge_policy}): cached objects are served to anyone"
        )
    if backend != names.backend_policy:
        problems.append(
            f"{names.backend_service} has "
            + (f"security policy {backend}" if backend else "no security policy")
            + f" (expected {names.backend_policy})"
        )
    if not service.enable_c_d_n:
        problems.append(f"{names.backend_service} has Cloud CDN disabled")
    return problems


def _google_error(exc: Any) -> str:
    """'404 Not Found: <Google's message>' from an api_core exception, without the method and URL."""
    from http import HTTPStatus

    code = exc.code if isinstance(exc.code, int) else None
    try:
        status = f"{code} {HTTPStatus(code).phrase}" if code else type(exc).__name__
    except ValueError:
        status = f"HTTP {code}"
    message = ""
    response = getattr(exc, "response", None)
    try:
        payload = response.json() if response is not None and hasattr(response, "json") else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = str(payload["error"].get("message") or "")
    return f"{status}: {message}" if message else status


def _connection_problem(exc: OSError, timeout: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the certificate is not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:.0f} s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the name ({exc.strerror or exc})"
    return f"cannot connect ({exc.strerror or exc})"


def _tls_fix(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return (
            "the load balancer serves the managed certificate only once it is ACTIVE (see certificate); behind a "
            "TLS-inspecting proxy, point SSL_CERT_FILE at its CA bundle"
        )
    return _UNREACHABLE_FIX


def run(
    config: Path,
    *,
    object_name: str | None = None,
    connect_to: ConnectTo | None = None,
    progress: Progress = lambda message: None,
    timeout: float = REQUEST_TIMEOUT,
    budget: float = BUDGET,
) -> DoctorReport:
    """Run every check in order and return their outcomes. Raises IacError only for a --connect-to that does
    not name the config's domain; everything else is a check's outcome."""
    doctor = _Doctor(config, object_name, connect_to, progress, timeout, budget)
    if doctor.check_config().status != "ok":
        for name in CHECKS[1:]:
            doctor.skip(name, "not run: the config is invalid")
        return DoctorReport(doctor.checks())
    assert doctor.loaded is not None and doctor.names is not None
    domain = doctor.loaded.config.domain
    if connect_to is not None:
        connect_to.check_applies(domain, 443)
    # Imported here, on this thread: a check abandoned at its time limit never holds the import lock.
    importlib.import_module("google.cloud.compute_v1")

    doctor.run("address", f"globalAddresses.get {doctor.names.address}", doctor.check_address)

    if connect_to is not None:
        doctor.skip("dns", f"--connect-to given: {domain} is not resolved, requests go to {doctor.connect_target()}")
    else:
        doctor.run("dns", f"resolving {domain}", doctor.check_dns)

    if doctor.compute_down:
        doctor.skip("certificate", f"not run: {doctor.compute_down}")
    else:
        doctor.run("certificate", f"sslCertificates.get {doctor.names.certificate}", doctor.check_certificate)

    if doctor.compute_down:
        doctor.skip("security_policies", f"not run: {doctor.compute_down}")
    else:
        doctor.run(
            "security_policies",
            f"securityPolicies.get {doctor.names.edge_policy}, {doctor.names.backend_policy}; "
            f"backendServices.get {doctor.names.backend_service}",
            doctor.check_security_policies,
            requests=3,
        )

    what = f"--object {object_name}" if object_name is not None else "the first object of the bucket"
    doctor.run("https", f"GET https://{domain}/ ({what})", doctor.check_https, requests=2)

    if doctor.url_path is None:
        doctor.skip("cors", "not run: no object URL to send a preflight for (see https)")
    elif not doctor.reached:
        doctor.skip("cors", "not run: the load balancer did not answer (see https)")
    else:
        doctor.run("cors", f"OPTIONS https://{domain}{doctor.url_path}", doctor.check_cors)
    return DoctorReport(doctor.checks())
