"""Invalidate Cloud CDN's cache for one host and path of a url map, and wait until Google reports it done.

Google allows at most one path/host invalidation per minute per url map and answers more with a rate-limit
error; transient errors (429, 500, 502, 503, 504, dropped connections) are retried with exponential backoff.
Every try of one invalidation sends the same `requestId`, so a retried POST never starts a second invalidation.

`google.cloud.compute_v1` takes over a second to import, so it is imported only inside the functions that call
Google: `iac render` and `iac --help` never load it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iac.errors import EXIT_INVALIDATION_FAILED, IacError
from iac.gcp import credentials as gcp
from iac.untrusted import COMPUTE_REQUEST_TIMEOUT, cap_rest_client
from iac.words import plural

if TYPE_CHECKING:
    from google.cloud import compute_v1

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 60.0
RATE_LIMIT_WAIT = 60.0  # Google allows one path/host invalidation per minute
JITTER = 0.1  # up to 10 % on top of each wait
REQUEST_TIMEOUT = COMPUTE_REQUEST_TIMEOUT  # seconds for one HTTP request to Google


class InvalidationError(IacError):
    """Cache invalidation failed (after retries); the message says why, keeping Google's own error text."""

    exit_code = EXIT_INVALIDATION_FAILED


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


def _target_url(target: InvalidationTarget) -> str:
    return f"https://{target.host}{target.path}" if target.host else f"all hosts, path {target.path}"


def _is_rate_limit(exc: Any) -> bool:
    code = getattr(exc, "code", None)
    return code == 429 or (code == 403 and bool(gcp.reasons(exc) & RATE_LIMIT_REASONS))


def _backoff(attempt: int) -> float:
    """Seconds to wait after failed try number `attempt` (1-based): 2, 4, 8, 16, 32, 60, 60, ... plus jitter."""
    base = min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** (attempt - 1))
    return base + random.uniform(0, JITTER * base)


def _fatal_message(exc: Any, target: InvalidationTarget) -> str:
    code = getattr(exc, "code", None)
    what = f"url map {target.url_map!r} (project {target.project!r})"
    said = gcp.describe(exc)
    if code == 403:
        return (
            f"permission denied invalidating the cache of {what}: {said}; "
            f"{gcp.grant(gcp.INVALIDATION_PERMISSIONS, target.project)}"
        )
    if code == 404:
        return f"{what} not found: {said}. Check the url map name and the project"
    if code == 401:
        return f"Google rejected the credentials: {said}; {gcp.ADC_HELP}"
    if code == 400:
        return f"Google rejected the invalidation of {_target_url(target)} on {what}: {said}"
    return f"cache invalidation of {what} failed: {said}"


def _clients(endpoint: str | None) -> tuple[compute_v1.UrlMapsClient, compute_v1.GlobalOperationsClient]:
    """A url-maps client and an operations client that talk to the same endpoint with the same credentials."""
    from google.cloud import compute_v1

    credentials, options = gcp.credentials(
        endpoint,
        purpose="to invalidate the CDN cache with",
        needs=gcp.listed(gcp.INVALIDATION_PERMISSIONS),
        env=gcp.COMPUTE_ENDPOINT_ENV,
    )
    url_maps = compute_v1.UrlMapsClient(credentials=credentials, transport="rest", client_options=options)
    operations = compute_v1.GlobalOperationsClient(credentials=credentials, transport="rest", client_options=options)
    for client in (url_maps, operations):  # each answer is read whole by the REST transport: capped
        cap_rest_client(client, what="the Compute API")
    return url_maps, operations


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


@dataclass
class _Invalidation:
    """One invalidation of `target`: request it (with retries), wait for its operation, check how it ended."""

    target: InvalidationTarget
    url_maps: compute_v1.UrlMapsClient
    operations: compute_v1.GlobalOperationsClient
    sleep: Callable[[float], None]
    progress: Callable[[str], None]

    @property
    def where(self) -> str:
        target = self.target
        return f"{_target_url(target)} on url map {target.url_map} (project {target.project})"

    def request(self, attempts: int) -> compute_v1.Operation:
        """Ask for the invalidation, retrying transient errors with backoff; the operation Google started."""
        from google.api_core import exceptions as google_exceptions
        from google.auth.exceptions import RefreshError
        from google.cloud import compute_v1

        target = self.target
        rule = compute_v1.CacheInvalidationRule(path=target.path)
        if target.host:
            rule.host = target.host
        request = compute_v1.InvalidateCacheUrlMapRequest(
            project=target.project,
            url_map=target.url_map,
            request_id=str(uuid.uuid4()),  # the same for every retry: Google runs the invalidation once
            cache_invalidation_rule_resource=rule,
        )
        self.progress(f"requesting cache invalidation of {self.where}")
        for attempt in range(1, attempts + 1):
            try:
                return self.url_maps.invalidate_cache_unary(request=request, retry=None, timeout=REQUEST_TIMEOUT)
            except google_exceptions.GoogleAPICallError as exc:
                code = exc.code if isinstance(exc.code, int) else None
                rate_limited = _is_rate_limit(exc)
                if not rate_limited and code not in RETRYABLE_STATUS:
                    raise InvalidationError(_fatal_message(exc, target)) from None
                said = gcp.describe(exc)
            except RefreshError as exc:
                raise InvalidationError(f"could not get a Google access token: {exc}") from None
            except gcp.network_errors() as exc:
                rate_limited = False
                said = f"connection problem ({type(exc).__name__}: {exc})"
            if attempt == attempts:
                raise InvalidationError(
                    f"cache invalidation of {self.where} failed after {plural(attempts, 'attempt')}; last error: {said}"
                )
            delay = _backoff(attempt)
            if rate_limited:
                delay = max(delay, RATE_LIMIT_WAIT + random.uniform(0, JITTER * RATE_LIMIT_WAIT))
                said += " (Google allows one path/host invalidation per minute)"
            self.progress(f"{said}; retrying in {delay:.0f} s (attempt {attempt + 1} of {attempts})")
            self.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def wait(self, operation: compute_v1.Operation, timeout: float, poll_interval: float) -> compute_v1.Operation:
        """Poll the operation until it is DONE, at most `timeout` seconds; transient errors are polled through."""
        from google.api_core import exceptions as google_exceptions
        from google.auth.exceptions import RefreshError
        from google.cloud import compute_v1

        name, project = str(operation.name), self.target.project
        start = time.monotonic()
        waited = 0.0
        while operation.status != compute_v1.Operation.Status.DONE:
            elapsed = max(time.monotonic() - start, waited)
            if elapsed >= timeout:
                raise InvalidationError(
                    f"operation {name} is still {_status_name(operation)} after {elapsed:.0f} s (timeout "
                    f"{timeout:.0f} s); the invalidation may still finish: check it with `gcloud compute "
                    f"operations describe {name} --global --project {project}`"
                )
            self.progress(f"waiting for operation {name} ({_status_name(operation)}, {elapsed:.0f} s)")
            self.sleep(poll_interval)
            waited += poll_interval
            try:
                operation = self.operations.get(project=project, operation=name, retry=None, timeout=REQUEST_TIMEOUT)
            except google_exceptions.GoogleAPICallError as exc:
                if exc.code in RETRYABLE_STATUS or _is_rate_limit(exc):
                    self.progress(f"{gcp.describe(exc)} while checking operation {name}; trying again")
                    continue
                if exc.code == 403:
                    raise InvalidationError(
                        f"the invalidation was requested (operation {name}) but checking it was denied: "
                        f"{gcp.describe(exc)}. To wait for it, "
                        f"{gcp.grant([gcp.OPERATIONS_PERMISSION], project)} as well"
                    ) from None
                raise InvalidationError(f"could not check operation {name}: {gcp.describe(exc)}") from None
            except RefreshError as exc:
                raise InvalidationError(f"could not get a Google access token: {exc}") from None
            except gcp.network_errors() as exc:
                self.progress(
                    f"connection problem while checking operation {name} ({type(exc).__name__}); trying again"
                )
        return operation

    def check_succeeded(self, operation: compute_v1.Operation) -> None:
        """A DONE operation may still have failed: say so with Google's own error lines."""
        errors = _operation_errors(operation)
        if errors:
            raise InvalidationError(
                f"cache invalidation of {self.where} failed: operation {operation.name} finished with error: "
                f"{'; '.join(errors)}"
            )


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
    check_path(target.path)
    if attempts < 1:
        raise IacError(f"attempts must be at least 1, got {attempts}")
    url_maps, operations = _clients(endpoint)
    # time.sleep is looked up per call, so a test can stand in for the clock.
    invalidation = _Invalidation(target, url_maps, operations, sleep or time.sleep, progress)
    operation = invalidation.request(attempts)
    if not operation.name:
        raise InvalidationError("Google answered the invalidation request without an operation name")
    operation = invalidation.wait(operation, timeout, poll_interval)
    invalidation.check_succeeded(operation)
    progress(f"cache invalidation of {_target_url(target)} done (operation {operation.name})")
    return str(operation.name)
