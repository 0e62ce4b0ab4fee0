"""Cloud Logging's `entries.list` for one project, read page after page within a budget (pages, bytes,
deadline), every refusal one `LoggingError` saying what to do."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from iac.errors import IacError
from iac.gcp import credentials as gcp
from iac.untrusted import Budget, OutOfTime, TooMuchInAll

PAGE_SIZE = 1000  # the most entries.list returns in one page
LOGGING_HOST = "logging.googleapis.com"


class LoggingError(IacError):
    """Cloud Logging could not be read (refused, disabled, unreachable): the message says what to do."""


class LogReader:
    """`entries.list` of one project, page after page, within the budget: the number of pages, the bytes of
    all answers, the deadline. `stopped` says which bound ended the listing early ("pages", "deadline",
    "bytes"), None when Cloud Logging had no more pages."""

    def __init__(self, endpoint: str | None, project: str, budget: Budget) -> None:
        self.project = project
        self.budget = budget
        self.where = endpoint or LOGGING_HOST
        base = endpoint or f"https://{LOGGING_HOST}"
        self.url = ("" if "://" in base else "https://") + base.rstrip("/") + "/v2/entries:list"
        self.credentials, _ = gcp.credentials(
            endpoint,
            purpose="to read the load balancer's log with",
            needs=f"{gcp.LOGGING_PERMISSION} (e.g. {gcp.LOGGING_ROLE})",
            env=gcp.LOGGING_ENDPOINT_ENV,
        )
        self.anonymous = endpoint is not None and gcp.is_local_http(endpoint)
        self.answered = 0
        self.stopped: str | None = None

    def pages(self, query: str) -> Generator[list[Any], None, None]:
        from google.auth.transport.requests import AuthorizedSession

        # No refresh and retry on a 401 for the anonymous credentials of a local stand-in: nothing to refresh.
        refresh = () if self.anonymous else (401,)
        with AuthorizedSession(self.credentials, refresh_status_codes=refresh) as session:  # type: ignore[no-untyped-call]
            token: str | None = None
            while True:
                if self.answered >= self.budget.bounds.pages:
                    self.stopped = "pages"
                    return
                try:
                    if self.budget.left() <= 0:
                        raise OutOfTime(f"Cloud Logging's pages took longer than {self.budget.bounds.deadline:g} s")
                    entries, token = self._page(session, query, token)
                except OutOfTime as exc:
                    if not self.answered:
                        raise LoggingError(
                            f"{exc}; nothing was read: check the network path (and {gcp.LOGGING_ENDPOINT_ENV} if "
                            f"set), then run again"
                        ) from None
                    self.stopped = "deadline"
                    return
                except TooMuchInAll:
                    self.stopped = "bytes"
                    return
                self.answered += 1
                yield entries
                if token is None:
                    return

    def _page(self, session: Any, query: str, token: str | None) -> tuple[list[Any], str | None]:
        """One page: its entries and the next page's token (None: the last page)."""
        from google.auth.exceptions import RefreshError
        from requests.exceptions import Timeout

        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self.project}"],
            "filter": query,
            "orderBy": "timestamp desc",
            "pageSize": PAGE_SIZE,
        }
        if token is not None:
            body["pageToken"] = token
        try:
            response = session.request(
                "POST",
                self.url,
                json=body,
                stream=True,
                allow_redirects=False,
                timeout=self.budget.timeout(),
                max_allowed_time=max(self.budget.left(), 0.1),
            )
            with response:
                data = self.budget.read_body(response)
        except RefreshError as exc:
            raise LoggingError(f"could not get a Google access token: {gcp.reason(exc)}; {gcp.ADC_HELP}") from None
        except Timeout:
            raise LoggingError(
                f"Cloud Logging at {self.where} did not answer within {self.budget.bounds.read_timeout:g} s: check "
                f"the network path (and {gcp.LOGGING_ENDPOINT_ENV} if set), then run again"
            ) from None
        except gcp.network_errors() as exc:
            raise LoggingError(
                f"cannot reach Cloud Logging at {self.where} ({type(exc).__name__}: {gcp.reason(exc)}): check the "
                f"network path (and {gcp.LOGGING_ENDPOINT_ENV} if set), then run again"
            ) from None
        if response.status_code != 200:
            raise LoggingError(self._refusal(response, data))
        return _page_of(data, self.where)

    def _refusal(self, response: Any, data: bytes) -> str:
        """What Cloud Logging's refusal (any status but 200) means and what to do."""
        from google.api_core import exceptions as google_exceptions

        code = int(response.status_code)
        payload = _json(data)
        error = payload.get("error") if isinstance(payload, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message")
        said = message if isinstance(message, str) else ""
        listed = error.get("errors")
        errors = [item for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []
        response._content = data  # Google's message, read by gcp.google_message
        exc = google_exceptions.from_http_status(  # type: ignore[no-untyped-call]
            code, said[:500] or gcp.status_text(code), errors=errors, response=response
        )
        if code == 401 and self.anonymous:
            return (
                f"Cloud Logging at {self.where} asks for credentials ({gcp.describe(exc)}): no Google credentials "
                f"are sent to a plain-http endpoint; {gcp.ADC_HELP} with {gcp.LOGGING_PERMISSION} "
                f"(e.g. {gcp.LOGGING_ROLE}), and use an https:// endpoint"
            )
        return _refusal(exc, self.project)


def _json(data: bytes) -> Any:
    """`data` as JSON, or None when it is not JSON (or nested too deep to read)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _page_of(data: bytes, where: str) -> tuple[list[Any], str | None]:
    """The entries and next page token of an `entries.list` answer; anything else is a LoggingError."""
    payload = _json(data)
    problem = None
    if payload is None:
        problem = "is not JSON"
    elif not isinstance(payload, dict):
        problem = f"is a JSON {type(payload).__name__}, not an object"
    else:
        entries = payload.get("entries", [])
        token = payload.get("nextPageToken") or None
        if not isinstance(entries, list):
            problem = "has `entries` that is not a list"
        elif token is not None and not isinstance(token, str):
            problem = "has a `nextPageToken` that is not text"
        else:
            return entries, token
    raise LoggingError(
        f"Cloud Logging at {where} answered entries.list with a body that {problem}: not a page of log entries; "
        f"check {gcp.LOGGING_ENDPOINT_ENV} if set, then run again"
    )


def _refusal(exc: Any, project: str) -> str:
    """What Google's refusal of entries.list means and what to do."""
    said = gcp.describe(exc)
    if exc.code == 403 and _service_disabled(exc):
        return (
            f"the Cloud Logging API is disabled in project {project!r}: {said}; enable it with "
            f"`gcloud services enable logging.googleapis.com --project {project}`"
        )
    if exc.code == 401:
        return (
            f"the Cloud Logging API did not accept the credentials iac sent ({said}): they may have expired or "
            f"been revoked; {gcp.ADC_HELP} with {gcp.LOGGING_PERMISSION} (e.g. {gcp.LOGGING_ROLE})"
        )
    if exc.code == 403:
        return (
            f"reading the load balancer's log in project {project!r} was refused by the Cloud Logging API: {said}; "
            f"{gcp.grant([gcp.LOGGING_PERMISSION], project, gcp.LOGGING_ROLE)}"
        )
    if exc.code == 404:
        return f"Cloud Logging does not know project {project!r}: {said}; check `project` in the config"
    if exc.code == 429:
        return (
            f"the Cloud Logging API refused to read more now ({said}): its read quota is used up for the "
            "moment; wait a minute and run again, or shorten --since"
        )
    if exc.code >= 500:
        return f"the Cloud Logging API failed to read the log of project {project!r} ({said}): run again later"
    return f"reading the load balancer's log in project {project!r} failed: the Cloud Logging API answered {said}"


def _service_disabled(exc: Any) -> bool:
    if gcp.reasons(exc) & {"SERVICE_DISABLED", "accessNotConfigured"}:
        return True
    message = gcp.google_message(exc).lower()
    return "has not been used in project" in message or "it is disabled" in message
