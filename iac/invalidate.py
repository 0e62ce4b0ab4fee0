"""Invalidate Cloud CDN's cache for one host and path of a url map, and wait until Google reports it done.

Google allows at most one path/host invalidation per minute per url map and answers more with a rate-limit
error; transient errors (429, 500, 502, 503, 504, dropped connections) are retried with exponential backoff.
Every try of one invalidation sends the same `requestId`, so a retried POST never starts a second invalidation.

`google.cloud.compute_v1` takes over a second to import, so it is imported only inside the functions that call
Google: `iac render` and `iac --help` never load it.
"""

from __future__ import annotations

import ipaddress
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iac.errors import IacError
from iac.untrusted import cap_rest_client

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import compute_v1

ENDPOINT_ENV = "IAC_GCP_API_ENDPOINT"
PERMISSIONS = ("compute.urlMaps.invalidateCache", "compute.urlMaps.get")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 60.0
RATE_LIMIT_WAIT = 60.0  # Google allows one path/host invalidation per minute
JITTER = 0.1  # up to 10 % on top of each wait
REQUEST_TIMEOUT = 60.0  # seconds for one HTTP request to Google


class InvalidationError(IacError):
    """Cache invalidation failed (after retries); the message says why, keeping Google's own error text."""

    exit_code = 3


class CredentialsMissing(IacError):
    """No Google credentials to ask for an invalidation with: a setup problem, not a failed invalidation."""


@dataclass(frozen=True)
class InvalidationTarget:
    project: str
    url_map: str
    host: str
    path: str = "/*"


def check_path(path: str) -> str:
    """Return `path` if Cloud CDN accepts it as an invalidation path, else raise IacError saying what is wrong."""
    if not path:
        raise IacError('invalidation path is empty: give a path starting with "/", e.g. "/*" or "/images/*"')
    shown = repr(path)
    if not path.startswith("/"):
        raise IacError(f'invalidation path {shown} must start with "/" (e.g. "/*" or "/images/*")')
    if any(ch.isspace() or not ch.isprintable() for ch in path):
        raise IacError(f"invalidation path {shown} must not contain whitespace or control characters")
    if "?" in path or "#" in path:
        raise IacError(f'invalidation path {shown} must not contain "?" or "#" (query strings cannot be invalidated)')
    star = path.find("*")
    if star != -1 and (star != len(path) - 1 or path[star - 1] != "/"):
        raise IacError(
            f'invalidation path {shown}: "*" is allowed only as the last character, right after "/" '
            '(e.g. "/*" or "/images/*")'
        )
    return path


def api_endpoint(configured: str | None) -> str | None:
    """The Compute API endpoint to call: $IAC_GCP_API_ENDPOINT, else the configured one; None means Google's."""
    from_env = os.environ.get(ENDPOINT_ENV, "").strip()
    if from_env:
        return from_env
    if configured and configured.strip():
        return configured.strip()
    return None


def _is_local_http(endpoint: str | None) -> bool:
    """True for an http:// endpoint on this machine (a test stub), which gets anonymous credentials."""
    if not endpoint:
        return False
    parts = urlsplit(endpoint)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_endpoint(endpoint: str | None) -> None:
    if endpoint and urlsplit(endpoint).scheme == "http" and not _is_local_http(endpoint):
        raise InvalidationError(
            f"refusing to send Google credentials to {endpoint} over plain http: use https:// "
            f"(plain http is only for local stubs on 127.0.0.1, localhost or [::1]; check {ENDPOINT_ENV})"
        )


def _target_url(target: InvalidationTarget) -> str:
    return f"https://{target.host}{target.path}" if target.host else f"all hosts, path {target.path}"


def _google_message(exc: Any) -> str:
    """Google's own error text from an api_core exception, without the method and URL prefix."""
    response = getattr(exc, "response", None)
    try:
        payload = response.json() if response is not None and hasattr(response, "json") else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"])
    return str(getattr(exc, "message", None) or exc)


def _status_text(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _describe(exc: Any) -> str:
    """'503 Service Unavailable' plus Google's message when it adds something."""
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        return f"{type(exc).__name__}: {exc}"
    status = _status_text(code)
    message = _google_message(exc)
    phrase = status.split(" ", 1)[-1]
    if message and message.strip().rstrip(".").lower() != phrase.lower():
        return f"{status}: {message}"
    return status


def _is_rate_limit(exc: Any) -> bool:
    code = getattr(exc, "code", None)
    if code == 429:
        return True
    if code != 403:
        return False
    reasons = {getattr(exc, "reason", None)}
    for item in getattr(exc, "errors", None) or ():
        if isinstance(item, dict):
            reasons.add(item.get("reason"))
    return bool(reasons & RATE_LIMIT_REASONS)


def _backoff(attempt: int) -> float:
    """Seconds to wait after failed try number `attempt` (1-based): 2, 4, 8, 16, 32, 60, 60, ... plus jitter."""
    base = min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** (attempt - 1))
    return base + random.uniform(0, JITTER * base)


def _fatal_message(exc: Any, target: InvalidationTarget) -> str:
    code = getattr(exc, "code", None)
    what = f"url map {target.url_map!r} (project {target.project!r})"
    said = _describe(exc)
    if code == 403:
        return (
            f"permission denied invalidating the cache of {what}: {said}. The pipeline identity needs "
            f"{' and '.join(PERMISSIONS)} on project {target.project!r}"
        )
    if code == 404:
        return f"{what} not found: {said}. Check the url map name and the project"
    if code == 401:
        return (
            f"Google rejected the credentials: {said}. Check Application Default Credentials "
            "(GOOGLE_APPLICATION_CREDENTIALS, workload identity, or `gcloud auth application-default login`)"
        )
    if code == 400:
        return f"Google rejected the invalidation of {_target_url(target)} on {what}: {said}"
    return f"cache invalidation of {what} failed: {said}"


def compute_credentials(
    endpoint: str | None,
    *,
    purpose: str = "to invalidate the CDN cache with",
    permissions: str = "compute.urlMaps.invalidateCache",
) -> tuple[Credentials, dict[str, str]]:
    """Credentials and client_options for a google-cloud-compute client (transport="rest") on `endpoint`.

    None is Google's endpoint. A plain-http endpoint on this machine (a test stub) gets anonymous credentials,
    plain http elsewhere is refused; otherwise Application Default Credentials, or CredentialsMissing, whose
    message `purpose` and `permissions` complete. Shared by `iac invalidate` and `iac doctor`.
    """
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError

    _check_endpoint(endpoint)
    credentials: Credentials
    if _is_local_http(endpoint):
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    else:
        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except DefaultCredentialsError as exc:
            raise CredentialsMissing(
                f"no Google credentials {purpose}: set up Application Default Credentials "
                "(`gcloud auth application-default login`, GOOGLE_APPLICATION_CREDENTIALS pointing at a key file, "
                f"or workload identity in CI) with {permissions} ({exc})"
            ) from None
    return credentials, ({"api_endpoint": endpoint} if endpoint else {})


def _clients(endpoint: str | None) -> tuple[compute_v1.UrlMapsClient, compute_v1.GlobalOperationsClient]:
    """A url-maps client and an operations client that talk to the same endpoint with the same credentials."""
    from google.cloud import compute_v1

    credentials, options = compute_credentials(endpoint)
    url_maps = compute_v1.UrlMapsClient(credentials=credentials, transport="rest", client_options=options)
    operations = compute_v1.GlobalOperationsClient(credentials=credentials, transport="rest", client_options=options)
    for client in (url_maps, operations):  # each answer is read whole by the REST transport: capped
        cap_rest_client(client, what="the Compute API")
    return url_maps, operations


def _transient_types() -> tuple[type[BaseException], ...]:
    """Errors below HTTP (dropped connection, timeout, token refresh transport error): safe to retry."""
    import requests
    from google.auth.exceptions import TransportError

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout, TransportError)


def _operation_errors(operation: compute_v1.Operation) -> list[str]:
    """The error lines of a DONE operation; empty when it succeeded."""
    lines = [
        ": ".join(part for part in (item.code, item.message) if part) or "unknown error"
        for item in operation.error.errors
    ]
    if not lines and "error" in operation:
        lines.append("unknown error")
    if lines and operation.http_error_status_code:
        status = f"{operation.http_error_status_code} {operation.http_error_message}".strip()
        lines.insert(0, status)
    return lines


def _status_name(operation: compute_v1.Operation) -> str:
    from google.cloud import compute_v1

    try:
        return str(compute_v1.Operation.Status(operation.status).name)
    except ValueError:
        return str(operation.status)


def invalidate_cache(
    target: InvalidationTarget,
    *,
    endpoint: str | None = None,
    attempts: int = 6,
    timeout: float = 600.0,
    poll_interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> str:
    """Invalidate `target.host` + `target.path` on the url map; return the operation name once it is DONE."""
    from google.api_core import exceptions as google_exceptions
    from google.auth.exceptions import RefreshError
    from google.cloud import compute_v1

    sleep = sleep or time.sleep  # looked up per call, so a test can stand in for the clock
    check_path(target.path)
    if attempts < 1:
        raise IacError(f"attempts must be at least 1, got {attempts}")
    url_maps, operations = _clients(endpoint)
    transient = _transient_types()

    rule = compute_v1.CacheInvalidationRule(path=target.path)
    if target.host:
        rule.host = target.host
    request = compute_v1.InvalidateCacheUrlMapRequest(
        project=target.project,
        url_map=target.url_map,
        request_id=str(uuid.uuid4()),  # the same for every retry: Google runs the invalidation once
        cache_invalidation_rule_resource=rule,
    )
    progress(
        f"requesting cache invalidation of {_target_url(target)} on url map {target.url_map} (project {target.project})"
    )

    operation: compute_v1.Operation | None = None
    for attempt in range(1, attempts + 1):
        try:
            operation = url_maps.invalidate_cache_unary(request=request, retry=None, timeout=REQUEST_TIMEOUT)
            break
        except google_exceptions.GoogleAPICallError as exc:
            code = exc.code if isinstance(exc.code, int) else None
            rate_limited = _is_rate_limit(exc)
            if not rate_limited and code not in RETRYABLE_STATUS:
                raise InvalidationError(_fatal_message(exc, target)) from None
            said = _describe(exc)
        except RefreshError as exc:
            raise InvalidationError(f"could not get a Google access token: {exc}") from None
        except transient as exc:
            rate_limited = False
            said = f"connection problem ({type(exc).__name__}: {exc})"
        if attempt == attempts:
            raise InvalidationError(
                f"cache invalidation of {_target_url(target)} on url map {target.url_map} (project "
                f"{target.project}) failed after {attempts} attempt{'s' if attempts != 1 else ''}; last error: {said}"
            )
        delay = _backoff(attempt)
        if rate_limited:
            delay = max(delay, RATE_LIMIT_WAIT + random.uniform(0, JITTER * RATE_LIMIT_WAIT))
            said += " (Google allows one path/host invalidation per minute)"
        progress(f"{said}; retrying in {delay:.0f} s (attempt {attempt + 1} of {attempts})")
        sleep(delay)
    assert operation is not None

    name = str(operation.name)
    if not name:
        raise InvalidationError("Google answered the invalidation request without an operation name")
    start = time.monotonic()
    waited = 0.0
    done = compute_v1.Operation.Status.DONE
    while operation.status != done:
        elapsed = max(time.monotonic() - start, waited)
        if elapsed >= timeout:
            raise InvalidationError(
                f"operation {name} is still {_status_name(operation)} after {elapsed:.0f} s (timeout "
                f"{timeout:.0f} s); the invalidation may still finish: check it with `gcloud compute "
                f"operations describe {name} --global --project {target.project}`"
            )
        progress(f"waiting for operation {name} ({_status_name(operation)}, {elapsed:.0f} s)")
        sleep(poll_interval)
        waited += poll_interval
        try:
            operation = operations.get(project=target.project, operation=name, retry=None, timeout=REQUEST_TIMEOUT)
        except google_exceptions.GoogleAPICallError as exc:
            if exc.code in RETRYABLE_STATUS or _is_rate_limit(exc):
                progress(f"{_describe(exc)} while checking operation {name}; trying again")
                continue
            if exc.code == 403:
                raise InvalidationError(
                    f"the invalidation was requested (operation {name}) but checking it was denied: "
                    f"{_describe(exc)}. To wait for it, the pipeline identity also needs compute.globalOperations.get "
                    f"on project {target.project!r}"
                ) from None
            raise InvalidationError(f"could not check operation {name}: {_describe(exc)}") from None
        except RefreshError as exc:
            raise InvalidationError(f"could not get a Google access token: {exc}") from None
        except transient as exc:
            progress(f"connection problem while checking operation {name} ({type(exc).__name__}); trying again")
            continue

    errors = _operation_errors(operation)
    if errors:
        raise InvalidationError(
            f"cache invalidation of {_target_url(target)} on url map {target.url_map} (project {target.project}) "
            f"failed: operation {name} finished with error: {'; '.join(errors)}"
        )
    progress(f"cache invalidation of {_target_url(target)} done (operation {name})")
    return name
