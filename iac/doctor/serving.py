"""The https and cors checks: download an object through the load balancer and send a CORS preflight for it,
and say what the answer means (served, Cloud Armor's 403, the bucket's error) and what to do.

`google.cloud.storage` (through iac.gcp.storage) is imported only inside the function that lists the bucket.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import quote

from iac.doctor.findings import Findings
from iac.doctor.https import HttpAnswer, bucket_error, https_request, snippet, who_denied
from iac.doctor.report import Check

_UNREACHABLE_FIX = "check that the load balancer's forwarding rule serves port 443 and the network path to it"

# Cloud Storage error codes caused by the load balancer's request signing (the HMAC key, origin_region, the
# Host header the signature covers).
_SIGNING_CODES = frozenset(
    {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidSecurity", "AuthorizationHeaderMalformed"}
)
_ACCESS_CODES = frozenset({"AccessDenied", "UserProjectAccountProblem", "AccountProblem"})


def first_object(findings: Findings) -> tuple[str | None, Check | None]:
    """The object to download: --object, else the first the bucket lists; or a `skip` saying why not."""
    if findings.object_name is not None:
        return findings.object_name, None
    bucket = findings.loaded.config.bucket.name
    fix = "pass --object NAME (an object in the bucket)"
    try:
        from iac.gcp import storage

        try:
            client = storage.client(findings.loaded.config.project)
        except storage.NoCredentials as exc:
            setup = "set up credentials as the address check says" if findings.credentials_missing else exc.fix
            detail = f"cannot list gs://{bucket} to pick an object: {exc.summary}"
            return None, Check("https", "skip", detail, f"{fix}, or {setup}")
        blobs = list(client.list_blobs(bucket, max_results=1, timeout=findings.timeout(), retry=None))
    except Exception as exc:
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return None, Check("https", "skip", f"cannot list gs://{bucket} to pick an object: {reason}", fix)
    if not blobs:
        return None, Check(
            "https", "skip", f"gs://{bucket} is empty: no object to download", "upload an object, or pass --object"
        )
    return str(blobs[0].name), None


def https_not_run(findings: Findings) -> Check | None:
    """The https check's outcome when it cannot run at all (the domain does not resolve and no --connect-to
    says where to go instead): decided before the check is announced."""
    domain = findings.loaded.config.domain
    if findings.connect_to is None and findings.resolves is False:
        where = findings.address or "<load balancer address>"
        return Check(
            "https",
            "skip",
            f"not run: the dns check found that {domain} does not resolve",
            f"to check the load balancer before DNS points at it: --connect-to {domain}:443:{where}:443",
        )
    return None


def check_https(findings: Findings) -> Check:
    domain = findings.loaded.config.domain
    blocked = https_not_run(findings)
    if blocked is not None:
        return blocked
    name, skipped = first_object(findings)
    if skipped is not None or name is None:
        return skipped or Check("https", "skip", "no object to download")
    url_path = findings.url_path = "/" + quote(name, safe="/")
    url = f"https://{domain}{url_path}"
    via = findings.via()
    try:
        answer = https_request("GET", domain, url_path, {}, connect_to=findings.connect_to, timeout=findings.timeout())
    except OSError as exc:
        return Check("https", "fail", f"GET {url}{via}: {_connection_problem(exc, findings.timeout())}", _tls_fix(exc))
    except http.client.HTTPException as exc:
        return Check("https", "fail", f"GET {url}{via}: no HTTP answer ({type(exc).__name__}: {exc})", _UNREACHABLE_FIX)
    findings.reached = True
    if answer.status in (200, 206):
        cache = answer.header("x-cache-hit")
        shown = f"X-Cache-Hit: {cache}" if cache is not None else "no X-Cache-Hit header"
        return Check("https", "ok", f"GET {url}{via}: {answer.status} {answer.reason}, {shown}")
    who = who_denied(answer)
    if who == "cloud_armor":
        return Check(
            "https",
            "warn",
            f"GET {url}{via}: 403 from Cloud Armor: this machine's address is not in the allowlist "
            "(expected on a pipeline runner)",
            "run from an allowlisted address to download; `iac allowlist denied` lists the addresses Cloud Armor "
            "refused, with the `iac allowlist add` line for each",
        )
    error = bucket_error(answer)
    if who == "bucket":
        return _bucket_check(findings, url + via, answer, error)
    return Check(
        "https",
        "fail",
        f"GET {url}{via}: {answer.status} {answer.reason} with {snippet(answer)} (neither a Cloud Armor page "
        "nor a Cloud Storage error)",
        "check the load balancer's request log (Cloud Logging, resource http_load_balancer: statusDetails, "
        "jsonPayload.enforcedSecurityPolicy)",
    )


def _bucket_check(findings: Findings, url: str, answer: HttpAnswer, error: tuple[str, str] | None) -> Check:
    """The https check's outcome when the bucket answered an error: which part of the origin to look at."""
    config = findings.loaded.config
    code, message = error or ("", "")
    said = f"{answer.status} {answer.reason}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    bucket = config.bucket.name
    region = config.bucket.origin_region or (config.bucket.location or "").lower() or "the bucket's location"
    account = f"{findings.names.reader}@{config.project}.iam.gserviceaccount.com"
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


def check_cors(findings: Findings) -> Check:
    from iac.config.cors import DEFAULT_CORS_ORIGINS, CorsConfig

    assert findings.url_path is not None
    config = findings.loaded.config
    origins = (config.cors or CorsConfig()).origins
    origin = origins[0] if origins else DEFAULT_CORS_ORIGINS[0]
    url = f"https://{config.domain}{findings.url_path}{findings.via()}"
    try:
        answer = https_request(
            "OPTIONS",
            config.domain,
            findings.url_path,
            {"Origin": origin, "Access-Control-Request-Method": "GET"},
            connect_to=findings.connect_to,
            timeout=findings.timeout(),
        )
    except OSError as exc:
        return Check("cors", "fail", f"OPTIONS {url}: {_connection_problem(exc, findings.timeout())}", _tls_fix(exc))
    except http.client.HTTPException as exc:
        return Check("cors", "fail", f"OPTIONS {url}: no HTTP answer ({type(exc).__name__}: {exc})")
    allowed = answer.header("access-control-allow-origin")
    if allowed is not None and allowed.strip() in (origin, "*"):
        return Check("cors", "ok", f"preflight from {origin}: {answer.status}, Access-Control-Allow-Origin {allowed}")
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


def _connection_problem(exc: OSError, timeout: float) -> str:
    """Why a request got no answer, in a few words."""
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
