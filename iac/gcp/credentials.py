"""Google Cloud, as every command that calls a Google API meets it: which endpoint, which credentials, which
permissions, and Google's error text in a message of ours.

Used by `iac invalidate` (Compute), `iac doctor` (Compute), `iac allowlist denied` (Cloud Logging) and the Cloud
Storage client (iac.gcp.storage) of `iac manifest`, `iac cors` and `iac doctor`. google-auth is imported only
inside the functions that need it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iac.errors import IacError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

COMPUTE_ENDPOINT_ENV = "IAC_GCP_API_ENDPOINT"
LOGGING_ENDPOINT_ENV = "IAC_LOGGING_API_ENDPOINT"

# What each use of Google needs, as docs/pipelines.md's IAM section lists it.
OPERATIONS_PERMISSION = "compute.globalOperations.get"  # to wait for an operation
INVALIDATION_PERMISSIONS = ("compute.urlMaps.invalidateCache", "compute.urlMaps.get", OPERATIONS_PERMISSION)
READ_PERMISSIONS = (
    "compute.globalAddresses.get",
    "compute.sslCertificates.get",
    "compute.securityPolicies.get",
    "compute.backendServices.get",
)
READ_ROLE = "roles/compute.viewer"
LOGGING_PERMISSION = "logging.logEntries.list"
LOGGING_ROLE = "roles/logging.viewer"

ADC_HELP = (
    "set up Application Default Credentials (`gcloud auth application-default login`, "
    "GOOGLE_APPLICATION_CREDENTIALS pointing at a key file, or workload identity in CI)"
)
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class CredentialsMissing(IacError):
    """No Google credentials: a setup problem, not a failed call. `summary` says what is missing and google-auth's
    reason, `fix` how to set them up; the message is both."""

    def __init__(self, purpose: str, needs: str, reason: str) -> None:
        self.summary = f"no Google credentials {purpose} ({reason})"
        self.fix = f"{ADC_HELP} with {needs}"
        super().__init__(f"{self.summary}: {self.fix}")


class EndpointRefused(IacError):
    """An endpoint credentials must not be sent to (plain http to another machine): a setup problem."""


def listed(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(items)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def grant(permissions: Iterable[str], project: str, role: str | None = None) -> str:
    """What to grant, for a permission-denied message."""
    example = f" (e.g. {role})" if role else ""
    return f"the identity running iac needs {listed(permissions)}{example} on project {project!r}"


def endpoint(env: str, configured: str | None = None) -> str | None:
    """The endpoint to call: $`env`, else the configured one; None means Google's."""
    from_env = os.environ.get(env, "").strip()
    if from_env:
        return from_env
    if configured and configured.strip():
        return configured.strip()
    return None


def api_endpoint(configured: str | None) -> str | None:
    """The Compute API endpoint: $IAC_GCP_API_ENDPOINT, else `gcp.api_endpoint`; None means Google's."""
    return endpoint(COMPUTE_ENDPOINT_ENV, configured)


def is_local_http(url: str | None) -> bool:
    """True for an http:// endpoint on this machine (a test stand-in), which gets anonymous credentials."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credentials(url: str | None, *, purpose: str, needs: str, env: str) -> tuple[Credentials, dict[str, str]]:
    """Credentials and client_options for a Google client on `url` (None: Google's endpoint).

    A plain-http endpoint on this machine (a test stand-in) gets anonymous credentials; plain http elsewhere is
    EndpointRefused (`env` is the variable to check); otherwise Application Default Credentials, or
    CredentialsMissing, whose message `purpose` ("to read the deployment with") and `needs` complete.
    """
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError

    options = {"api_endpoint": url} if url else {}
    if is_local_http(url):
        return AnonymousCredentials(), options  # type: ignore[no-untyped-call]
    if url and urlsplit(url).scheme == "http":
        raise EndpointRefused(
            f"refusing to send Google credentials to {url} over plain http: use https:// "
            f"(plain http is only for local stand-ins on 127.0.0.1, localhost or [::1]; check {env})"
        )
    try:
        found, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as exc:
        raise CredentialsMissing(purpose, needs, reason(exc)) from None
    return found, options


def reason(exc: BaseException) -> str:
    """An exception's text on one line and without its final period (google-auth's reason for refusing)."""
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def status_text(code: int) -> str:
    """'403 Forbidden'."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def google_message(exc: Any) -> str:
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


def describe(exc: Any) -> str:
    """'503 Service Unavailable', plus Google's message when it adds something, from an api_core exception."""
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        return f"{type(exc).__name__}: {exc}"
    status = status_text(code)
    message = google_message(exc)
    phrase = status.split(" ", 1)[-1]
    if message and message.strip().rstrip(".").lower() != phrase.lower():
        return f"{status}: {message}"
    return status


def reasons(exc: Any) -> set[str]:
    """The `reason`s of an api_core exception and of each of its errors (`rateLimitExceeded`, `SERVICE_DISABLED`)."""
    found = {getattr(exc, "reason", None)}
    found.update(item.get("reason") for item in getattr(exc, "errors", None) or () if isinstance(item, dict))
    return {reason for reason in found if isinstance(reason, str)}


def network_errors() -> tuple[type[BaseException], ...]:
    """Errors below HTTP (dropped connection, timeout, token refresh transport error): Google never answered."""
    import requests
    from google.auth.exceptions import TransportError

    return (requests.exceptions.ConnectionError, requests.exceptions.Timeout, TransportError)
