"""Who Cloud Armor turned away: the load balancer's request log in Cloud Logging, read for this deployment's
denials in a time window and grouped by client address (`iac allowlist denied`).

The load balancer logs every request (`log_config` with sample rate 1) and Cloud Armor writes its decision into
each entry: `jsonPayload.statusDetails` is `denied_by_security_policy`, and `enforcedSecurityPolicy` (backend
policy) or `enforcedEdgeSecurityPolicy` (edge policy) has `outcome` `DENY`.

`google.cloud.logging` takes about a second to import: it is imported only inside `read_denied`.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iac import gcp
from iac.defaults import DEFAULT_LIMIT
from iac.errors import IacError
from iac.files import parse_duration
from iac.names import ResourceNames

if TYPE_CHECKING:
    from iac.config import LoadedConfig

MAX_SINCE = timedelta(days=30)  # the default retention of the _Default log bucket
PAGE_SIZE = 1000  # the most entries.list returns in one page
LOGGING_HOST = "logging.googleapis.com"


class LoggingError(IacError):
    """Cloud Logging could not be read (refused, disabled, unreachable): the message says what to do."""


def parse_since(text: str) -> timedelta:
    """`--since`: a positive duration (`24h`, `7d`, `90m`) of at most 30 days, Cloud Logging's default retention."""
    seconds = parse_duration(text, "--since", days=True)
    window = timedelta(seconds=seconds)
    if seconds <= 0 or window > MAX_SINCE:
        raise IacError(
            f"--since {text!r}: must be more than 0 and at most 30d (Cloud Logging keeps the load balancer's "
            "log 30 days by default)"
        )
    return window


def rfc3339(moment: datetime) -> str:
    """'2026-12-02T17:29:25Z': UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def denial_filter(url_map: str, since: datetime) -> str:
    """The Logging query for the Cloud Armor denials of the load balancer of `url_map` from `since` on (the
    project is the request's `resourceNames`)."""
    return " AND ".join(
        (
            'resource.type="http_load_balancer"',
            f'resource.labels.url_map_name="{url_map}"',
            '(jsonPayload.statusDetails="denied_by_security_policy" '
            'OR jsonPayload.enforcedSecurityPolicy.outcome="DENY" '
            'OR jsonPayload.enforcedEdgeSecurityPolicy.outcome="DENY")',
            f'timestamp>="{rfc3339(since)}"',
        )
    )


@dataclass(frozen=True)
class Denial:
    """One denied request, as read from its log entry."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    at: datetime
    policy: str  # "edge", "backend" or "unknown"
    path: str | None


@dataclass(frozen=True)
class DeniedAddress:
    """The denied requests of one client address in the window."""

    address: str
    count: int
    first: datetime
    last: datetime
    policy: str  # "edge", "backend", "edge+backend" when both refused it, "unknown" when no entry said
    sample_path: str | None
    allowed_now: bool  # the config allows it now: refused before it was added (perhaps not applied yet)

    def allow_command(self, config: Path) -> str:
        """The `iac allowlist add` line that allows it; printed for a person to review, never run."""
        times = "once" if self.count == 1 else f"{self.count} times"
        note = f"who is this? refused {times}, last at {rfc3339(self.last)}"
        return shlex.join(["iac", "allowlist", "add", self.address, "--note", note, "-c", str(config)])

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "count": self.count,
            "first": rfc3339(self.first),
            "last": rfc3339(self.last),
            "policy": self.policy,
            "sample_path": self.sample_path,
            "allowed_now": self.allowed_now,
        }


@dataclass(frozen=True)
class DeniedReport:
    """Cloud Armor's denials for one deployment since `since`, by address: most requests first, then by address."""

    project: str
    url_map: str
    since: datetime
    denied: tuple[DeniedAddress, ...]
    skipped: int  # entries without a usable client address or timestamp
    truncated: bool  # stopped at `limit` entries with more to read
    limit: int

    @property
    def requests(self) -> int:
        return sum(item.count for item in self.denied)

    def to_allow(self) -> tuple[DeniedAddress, ...]:
        """The addresses the config does not allow now."""
        return tuple(item for item in self.denied if not item.allowed_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "since": rfc3339(self.since),
            "denied": [item.to_json() for item in self.denied],
            "truncated": self.truncated,
            "skipped": self.skipped,
        }


def read_denied(
    loaded: LoadedConfig,
    since: timedelta,
    *,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> DeniedReport:
    """Read the deployment's Cloud Armor denials of the last `since` (at most `limit` log entries, newest first)
    from Cloud Logging, on $IAC_LOGGING_API_ENDPOINT or Google's endpoint."""
    if limit < 1:
        raise IacError(f"--limit {limit}: must be at least 1")
    project = loaded.config.project
    url_map = ResourceNames.of(loaded.config.name).url_map
    start = (now or datetime.now(UTC)) - since
    endpoint = gcp.endpoint(gcp.LOGGING_ENDPOINT_ENV)
    progress(f"reading Cloud Armor denials on url map {url_map} since {rfc3339(start)} from Cloud Logging")
    entries = _list_entries(endpoint, project, denial_filter(url_map, start), limit + 1)
    denials, read, skipped = _collect(entries, limit)
    return DeniedReport(
        project=project,
        url_map=url_map,
        since=start,
        denied=group(denials, loaded.allowlist.ranges),
        skipped=skipped,
        truncated=read > limit,
        limit=limit,
    )


def _list_entries(endpoint: str | None, project: str, query: str, most: int) -> Iterator[Any]:
    """The log entries matching `query`, newest first, page after page; Google's errors become LoggingError."""
    from google.api_core import exceptions as google_exceptions
    from google.auth.exceptions import RefreshError
    from google.cloud import logging as cloud_logging

    credentials, options = gcp.credentials(
        endpoint,
        purpose="to read the load balancer's log with",
        needs=f"{gcp.LOGGING_PERMISSION} (e.g. {gcp.LOGGING_ROLE})",
        env=gcp.LOGGING_ENDPOINT_ENV,
    )
    client = cloud_logging.Client(  # type: ignore[no-untyped-call]
        project=project, credentials=credentials, _use_grpc=False, client_options=options or None
    )
    where = endpoint or LOGGING_HOST
    try:
        yield from client.list_entries(  # type: ignore[no-untyped-call]
            resource_names=[f"projects/{project}"],
            filter_=query,
            order_by=cloud_logging.DESCENDING,
            page_size=PAGE_SIZE,
            max_results=most,
        )
    except google_exceptions.GoogleAPICallError as exc:
        raise LoggingError(_refusal(exc, project)) from None
    except RefreshError as exc:
        raise LoggingError(f"could not get a Google access token: {gcp.reason(exc)}; {gcp.ADC_HELP}") from None
    except gcp.network_errors() as exc:
        raise LoggingError(
            f"cannot reach Cloud Logging at {where} ({type(exc).__name__}: {gcp.reason(exc)}): check the network "
            f"path (and {gcp.LOGGING_ENDPOINT_ENV} if set), then run again"
        ) from None


def _refusal(exc: Any, project: str) -> str:
    """What Google's refusal of entries.list means and what to do."""
    said = gcp.describe(exc)
    if exc.code == 403 and _service_disabled(exc):
        return (
            f"the Cloud Logging API is disabled in project {project!r}: {said}; enable it with "
            f"`gcloud services enable logging.googleapis.com --project {project}`"
        )
    if exc.code in (401, 403):
        return (
            f"reading the load balancer's log in project {project!r} was refused: {said}; "
            f"{gcp.grant([gcp.LOGGING_PERMISSION], project, gcp.LOGGING_ROLE)}"
        )
    if exc.code == 404:
        return f"Cloud Logging does not know project {project!r}: {said}; check `project` in the config"
    return f"reading the load balancer's log in project {project!r} failed: {said}; run again"


def _service_disabled(exc: Any) -> bool:
    if gcp.reasons(exc) & {"SERVICE_DISABLED", "accessNotConfigured"}:
        return True
    message = gcp.google_message(exc).lower()
    return "has not been used in project" in message or "it is disabled" in message


def _collect(entries: Iterable[Any], limit: int) -> tuple[list[Denial], int, int]:
    """The denials of the first `limit` entries, how many entries were read (one more than `limit` when there
    are more) and how many were skipped for lack of a client address or a timestamp."""
    denials: list[Denial] = []
    read = skipped = 0
    for entry in entries:
        read += 1
        if read > limit:
            break
        denial = denial_of(entry)
        if denial is None:
            skipped += 1
        else:
            denials.append(denial)
    return denials, read, skipped


def denial_of(entry: Any) -> Denial | None:
    """The denial a log entry records, or None when it lacks the client address or the time."""
    http_request = entry.http_request if isinstance(entry.http_request, dict) else {}
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    if not isinstance(entry.timestamp, datetime):
        return None
    try:
        address = ipaddress.ip_address(str(http_request.get("remoteIp", "")).strip())
    except ValueError:
        return None
    url = http_request.get("requestUrl")
    path = _printable(urlsplit(url).path or "/") if isinstance(url, str) and url else None
    return Denial(address, entry.timestamp, _policy(payload), path)


def _printable(text: str) -> str:
    """The client's path as a terminal shows it: control characters escaped (`\\x1b`), never acted on."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _policy(payload: dict[str, Any]) -> str:
    """Which policy refused the request: the one whose outcome is DENY, else the one the entry names."""
    edge = payload.get("enforcedEdgeSecurityPolicy")
    backend = payload.get("enforcedSecurityPolicy")
    for name, decision in (("edge", edge), ("backend", backend)):
        if isinstance(decision, dict) and decision.get("outcome") == "DENY":
            return name
    if isinstance(edge, dict):
        return "edge"
    if isinstance(backend, dict):
        return "backend"
    return "unknown"


@dataclass
class _Group:
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    path: str | None = None  # of the newest request with one
    path_at: datetime | None = None
    policies: set[str] = field(default_factory=set)

    def add(self, denial: Denial) -> None:
        self.count += 1
        self.first = denial.at if self.first is None else min(self.first, denial.at)
        self.last = denial.at if self.last is None else max(self.last, denial.at)
        if denial.path is not None and (self.path_at is None or denial.at > self.path_at):
            self.path, self.path_at = denial.path, denial.at
        self.policies.add(denial.policy)


def group(denials: Iterable[Denial], allowlist: Iterable[str]) -> tuple[DeniedAddress, ...]:
    """Denials by address, most requests first, then by address (IPv4 before IPv6); `allowed_now` against the
    config's allowlist ranges."""
    networks = [ipaddress.ip_network(cidr) for cidr in allowlist]
    groups: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, _Group] = {}
    for denial in denials:
        groups.setdefault(denial.address, _Group()).add(denial)
    result = []
    for address, found in sorted(groups.items(), key=lambda item: (-item[1].count, item[0].version, item[0])):
        assert found.first is not None and found.last is not None
        known = sorted(found.policies - {"unknown"}, key=("edge", "backend").index)
        result.append(
            DeniedAddress(
                address=str(address),
                count=found.count,
                first=found.first,
                last=found.last,
                policy="+".join(known) or "unknown",
                sample_path=found.path,
                allowed_now=any(address in network for network in networks if network.version == address.version),
            )
        )
    return tuple(result)
