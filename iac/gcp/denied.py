"""Who Cloud Armor turned away: the load balancer's request log in Cloud Logging, read for this deployment's
denials in a time window and grouped by client address (`iac allowlist denied`).

The load balancer logs every request (`log_config` with sample rate 1) and Cloud Armor writes its decision into
each entry: `jsonPayload.statusDetails` is `denied_by_security_policy`, and `enforcedSecurityPolicy` (backend
policy) or `enforcedEdgeSecurityPolicy` (edge policy) has `outcome` `DENY`.

The log is read over Cloud Logging's REST API (`POST /v2/entries:list`) with google-auth's session, within
`iac.untrusted.Bounds` (pages, bytes, deadline), and each answer is read as the JSON it is, by this module: a
body that is not a page of entries is one clear error, an entry without what a denial needs is skipped, and
what an entry says (address, path) is text from outside, escaped before it is shown. google-auth is imported
only when the log is read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from iac.allowlist.ranges import not_global
from iac.defaults import DEFAULT_LIMIT, MAX_LIMIT
from iac.errors import IacError
from iac.files.durations import parse_duration
from iac.gcp import credentials as gcp
from iac.gcp.log_entries import LogReader
from iac.gcp.names import ResourceNames
from iac.untrusted import DEADLINE_ENV, Bounds, Budget, printable

if TYPE_CHECKING:
    from iac.config.load import LoadedConfig

MAX_SINCE = timedelta(days=30)  # the default retention of the _Default log bucket
# An entry stamped later than this after the read started is outside the window too (clocks differ a little).
FUTURE_SKEW = timedelta(minutes=5)
MAX_SHOWN = 200  # characters of a client's text (an address that is not one, a path) shown at most
# What an IP address is written with; anything else is not one (ipaddress takes other digits too).
_ADDRESS_CHARACTERS = re.compile(r"[0-9A-Fa-f:.]{2,45}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Which bound ended a listing early, as the report says it.
STOPPED_BY = {
    "limit": "the newest {limit} log entries (--limit): older denials are not counted; raise --limit or shorten "
    "--since",
    "pages": "{pages} pages of the log (the page limit): older denials are not counted; shorten --since",
    "deadline": "{deadline:g} s (the deadline, {env}): older denials are not counted; shorten --since or run again",
    "bytes": "{total} MB of answers (the aggregate cap): older denials are not counted; shorten --since",
}


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

    address: IPAddress
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
class NotPlainAddress:
    """Denied requests from a client address that is not a plain global IP (a zone id, a private or special
    address, not an address at all): reported, never suggested for `iac allowlist add`."""

    address: str  # as the log wrote it, escaped and cut
    count: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "count": self.count, "reason": self.reason}


@dataclass(frozen=True)
class DeniedReport:
    """Cloud Armor's denials for one deployment since `since`, by address: most requests first, then by address."""

    project: str
    url_map: str
    since: datetime
    denied: tuple[DeniedAddress, ...]
    not_plain: tuple[NotPlainAddress, ...]
    skipped: int  # entries without a client address or a valid time, or from outside the window
    truncated_by: str | None  # the bound that stopped the reading early: a key of STOPPED_BY
    limit: int
    bounds: Bounds = field(default_factory=Bounds)

    @property
    def truncated(self) -> bool:
        return self.truncated_by is not None

    @property
    def requests(self) -> int:
        return sum(item.count for item in self.denied)

    def stopped(self) -> str | None:
        """Where the reading stopped early and what to do, or None."""
        if self.truncated_by is None:
            return None
        bounds = self.bounds
        return "stopped after " + STOPPED_BY[self.truncated_by].format(
            limit=self.limit,
            pages=bounds.pages,
            deadline=bounds.deadline,
            env=DEADLINE_ENV,
            total=bounds.total // (1024 * 1024),
        )

    def to_allow(self) -> tuple[DeniedAddress, ...]:
        """The addresses the config does not allow now."""
        return tuple(item for item in self.denied if not item.allowed_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "since": rfc3339(self.since),
            "denied": [item.to_json() for item in self.denied],
            "truncated": self.truncated,
            "truncated_by": self.truncated_by,
            "not_plain": [item.to_json() for item in self.not_plain],
            "skipped": self.skipped,
        }


def check_limit(limit: int) -> int:
    """`--limit`: at least 1, at most MAX_LIMIT (what one run reads within the bounds)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise IacError(f"--limit {limit}: must be at least 1 and at most {MAX_LIMIT:,} log entries")
    return limit


def read_denied(
    loaded: LoadedConfig,
    since: timedelta,
    *,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> DeniedReport:
    """Read the deployment's Cloud Armor denials of the last `since` (at most `limit` log entries, newest first)
    from Cloud Logging, on $IAC_LOGGING_API_ENDPOINT or Google's endpoint, within `iac.untrusted.Bounds`."""
    check_limit(limit)
    project = loaded.config.project
    url_map = ResourceNames.of(loaded.config.name).url_map
    end = now or datetime.now(UTC)
    start = end - since
    reader = LogReader(gcp.endpoint(gcp.LOGGING_ENDPOINT_ENV), project, Budget("Cloud Logging"))
    progress(f"reading Cloud Armor denials on url map {url_map} since {rfc3339(start)} from Cloud Logging")
    tally = _Tally(start, end + FUTURE_SKEW, limit)
    with contextlib.closing(reader.pages(denial_filter(url_map, start))) as pages:  # closes the session early too
        for entries in pages:
            if tally.add(entries):
                break
    return DeniedReport(
        project=project,
        url_map=url_map,
        since=start,
        denied=group(tally.denials, loaded.allowlist.ranges),
        not_plain=tuple(
            NotPlainAddress(text, count, reason) for text, (count, reason) in sorted(tally.not_plain.items())
        ),
        skipped=tally.skipped,
        truncated_by="limit" if tally.read > limit else reader.stopped,
        limit=limit,
        bounds=reader.budget.bounds,
    )


class _Tally:
    """The entries read so far: denials, addresses that are not plain global ones, entries skipped."""

    def __init__(self, start: datetime, end: datetime, limit: int) -> None:
        self.start, self.end, self.limit = start, end, limit
        self.denials: list[Denial] = []
        self.not_plain: dict[str, tuple[int, str]] = {}
        self.read = self.skipped = 0

    def add(self, entries: list[Any]) -> bool:
        """Count `entries`; True once more than `limit` were read (the rest is not wanted)."""
        for entry in entries:
            self.read += 1
            if self.read > self.limit:
                return True
            found = denial_of(entry)
            if found is None or found.at is None or not self.start <= found.at <= self.end:
                self.skipped += 1
            elif isinstance(found, NotPlain):
                count, _ = self.not_plain.get(found.text, (0, found.reason))
                self.not_plain[found.text] = (count + 1, found.reason)
            else:
                self.denials.append(found)
        return False


@dataclass(frozen=True)
class NotPlain:
    """A log entry's client address that is not a plain global IP address, as printed (escaped), and why."""

    text: str
    reason: str
    at: datetime | None = None  # when the entry says the request came


def classify(text: str) -> IPAddress | NotPlain:
    """A log's `remoteIp` as an address a client on the internet can have, or why it is not one."""
    shown = printable(text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "...")
    if "%" in text:
        return NotPlain(shown, "has a zone id (%...), which names an interface of one machine")
    if not _ADDRESS_CHARACTERS.fullmatch(text):
        return NotPlain(shown, "not an IP address")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return NotPlain(shown, "not an IP address")
    blocked = not_global(ipaddress.ip_network(address))
    if blocked is not None:
        return NotPlain(address_text(address), f"not a global address: {blocked[0]}, {blocked[1]}")
    return address


def address_text(address: IPAddress) -> str:
    """The address as people write it; an IPv4-mapped IPv6 one with its IPv4 part (`::ffff:1.2.3.4`)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp (`2026-12-06T06:12:53Z`, `...53.123456789Z`, `...53+01:00`) in UTC, or None."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = int((match.group(7) or "0").ljust(6, "0")[:6])
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        offset = -offset if match.group(9) == "-" else offset
    try:
        zone = timezone(offset)
        return datetime(year, month, day, hour, minute, min(second, 59), fraction, tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def denial_of(entry: object) -> Denial | NotPlain | None:
    """The denial a log entry records; NotPlain when its client address is not a plain global one; None when it
    lacks the client address or a valid time."""
    if not isinstance(entry, dict):
        return None
    http_request = entry.get("httpRequest")
    http_request = http_request if isinstance(http_request, dict) else {}
    payload = entry.get("jsonPayload")
    payload = payload if isinstance(payload, dict) else {}
    at = parse_timestamp(entry.get("timestamp"))
    remote = http_request.get("remoteIp")
    if at is None or not isinstance(remote, str) or not remote.strip():
        return None
    address = classify(remote.strip())
    if isinstance(address, NotPlain):
        return replace(address, at=at)
    return Denial(address, at, _policy(payload), _path(http_request.get("requestUrl")))


def _path(url: object) -> str | None:
    """The path of the request's URL, escaped (it is the client's text) and cut to MAX_SHOWN characters."""
    if not isinstance(url, str) or not url:
        return None
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        path = url
    return printable(path if len(path) <= MAX_SHOWN else path[:MAX_SHOWN] + "...")


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
    groups: dict[IPAddress, _Group] = {}
    for denial in denials:
        groups.setdefault(denial.address, _Group()).add(denial)
    result = []
    for address, found in sorted(groups.items(), key=lambda item: (-item[1].count, item[0].version, item[0])):
        assert found.first is not None and found.last is not None
        known = sorted(found.policies - {"unknown"}, key=("edge", "backend").index)
        result.append(
            DeniedAddress(
                address=address_text(address),
                count=found.count,
                first=found.first,
                last=found.last,
                policy="+".join(known) or "unknown",
                sample_path=found.path,
                allowed_now=any(address in network for network in networks if network.version == address.version),
            )
        )
    return tuple(result)
