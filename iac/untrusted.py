"""What comes from outside (servers, APIs, Terraform): escaped before it is printed, bounded when it is read.

- `printable`: control characters (C0, DEL, C1) and the invisible bidirectional controls are written as escapes
  (`\\x1b`, `\\u202e`), so a server's reason phrase or header, or an API's error text, cannot clear the screen,
  set the window title or reorder what a terminal shows. Every command prints such text through it.
- `visible`: text shown to a reviewer (a pull request comment, a comment in rendered Terraform) on one line,
  every invisible or bidirectional character written as `<U+202E>`, so what is read is what is there.
- `Bounds`: the caps on every read from the network, for every HTTP client iac uses (Compute, Cloud Logging,
  Cloud Storage): a body cap per response, an aggregate cap and a page limit per command, a connect and a read
  timeout per request, a total deadline. The shorter timeouts of single requests (`iac invalidate`'s Compute
  calls, `iac doctor`'s requests, run budget and error page) are set here too: one place owns every cap.
  $IAC_API_DEADLINE lowers (or raises) the deadline, and with it the read timeout.
- `Budget`: one command's reading of one API within those bounds; `read_body` reads a response body in chunks,
  checking the size and the deadline after each, so a huge body is cut at the cap and a dripping one at the deadline.
- `cap_responses`, `cap_rest_client`: a `requests` session (the one a Google API client talks through) reads
  each response body through a `Budget` of its own: a longer one is an error (`BodyTooLarge`), never read whole.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from iac.errors import IacError

# C0 controls, DEL, C1 controls, and the bidirectional controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# In a multi-line message, line breaks and tabs are layout: kept (a carriage return, which rewrites the line, is not).
_UNPRINTABLE_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

_MIB = 1024 * 1024
# What is read of one API response body at most (a Compute resource is a few kB; a large policy ~100 kB; a
# page of 1,000 log entries 1-3 MB).
MAX_API_BODY = 8 * _MIB
# What one command reads from one API at most, all responses together (only one body is held at a time).
MAX_API_TOTAL = 256 * _MIB
# The most pages of one listing one command asks for (Cloud Logging may answer empty pages with a token).
MAX_PAGES = 200
CONNECT_TIMEOUT = 10.0  # seconds to open a connection
READ_TIMEOUT = 30.0  # seconds one read of the socket may wait for data
DEADLINE = 120.0  # seconds one command's reading of one API may take, every page and retry included
DEADLINE_ENV = "IAC_API_DEADLINE"
# Within those, the shorter bounds of single requests: a Compute call of `iac invalidate` (each retried with
# backoff, the operation waited for up to 600 s), and `iac doctor`'s, which must answer within half a minute.
COMPUTE_REQUEST_TIMEOUT = 60.0  # seconds for one Compute API request
DOCTOR_REQUEST_TIMEOUT = 5.0  # seconds for one request of `iac doctor` (Compute API, DNS, bucket listing, HTTPS)
DOCTOR_BUDGET = 27.0  # seconds for the whole doctor run: each check gets at most what is left
DOCTOR_ERROR_BODY = 16 * 1024  # bytes of an error page read to tell who answered (a download is not read)
_CHUNK = 64 * 1024


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with every control character escaped; with `lines`, line breaks and tabs are kept (a multi-line
    message)."""
    return (_UNPRINTABLE_BUT_LAYOUT if lines else _UNPRINTABLE).sub(_escape, text)


# Unicode categories `visible` names: format (bidirectional controls, zero-width characters), control, private
# use, surrogate, unassigned, line and paragraph separators.
_INVISIBLE = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})


def visible(text: str) -> str:
    """`text` on one line, each run of whitespace one space, every invisible or bidirectional character
    written as `<U+XXXX>`."""
    import unicodedata

    return "".join(
        f"<U+{ord(char):04X}>" if unicodedata.category(char) in _INVISIBLE else char for char in " ".join(text.split())
    )


class BodyTooLarge(IacError):
    """An API answered a body longer than the cap: it was not read."""


class TooMuchInAll(BodyTooLarge):
    """The answers of one API to one command, all together, went past the aggregate cap."""


class OutOfTime(IacError):
    """Reading an API took longer than the deadline: what was being read was dropped."""


@dataclass(frozen=True)
class Bounds:
    """The caps on reading one API in one command (see the module docstring; docs/reference.md lists them)."""

    body: int = MAX_API_BODY
    total: int = MAX_API_TOTAL
    pages: int = MAX_PAGES
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    deadline: float = DEADLINE

    @classmethod
    def current(cls) -> Bounds:
        """The defaults, with the deadline of $IAC_API_DEADLINE (seconds) when set; the read timeout is never
        longer than the deadline."""
        text = os.environ.get(DEADLINE_ENV, "").strip()
        if not text:
            return cls()
        try:
            deadline = float(text) if text.isascii() else math.nan
        except ValueError:
            deadline = math.nan
        if not 0 < deadline <= 86_400:
            raise IacError(
                f"{DEADLINE_ENV}={printable(text)!r}: give a number of seconds, more than 0 and at most 86400"
            )
        return cls(deadline=deadline, read_timeout=min(READ_TIMEOUT, deadline))


@dataclass
class Budget:
    """One command's reading of one API (`what`, e.g. "Cloud Logging"): the time and bytes left of `bounds`."""

    what: str
    bounds: Bounds = field(default_factory=Bounds.current)
    started: float = field(default_factory=time.monotonic)
    read: int = 0  # bytes of bodies read so far
    pages: int = 0  # requests answered so far

    @property
    def ends(self) -> float:
        return self.started + self.bounds.deadline

    def left(self) -> float:
        return self.ends - time.monotonic()

    def timeout(self) -> tuple[float, float]:
        """`requests`' (connect, read) timeout for the next request: never past the deadline by more than one
        read timeout."""
        left = max(self.left(), 0.1)
        return min(self.bounds.connect_timeout, left), min(self.bounds.read_timeout, left)

    def read_body(self, response: Any) -> bytes:
        """A `requests` response's body (sent with `stream=True`, or not yet read), decoded, read in chunks:
        `BodyTooLarge` beyond the body cap or the aggregate cap, `OutOfTime` past the deadline. A chunk read
        waits at most the read timeout, so this ends at most that long after the deadline."""
        where = f"({response.request.method} {response.url.split('?', 1)[0]})"
        limit = min(self.bounds.body, max(self.bounds.total - self.read, 0))
        raw = response.raw
        read_some = getattr(raw, "read1", None) or raw.read  # read1: one read of the socket, what it has
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = read_some(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise self._too_large(limit, where)
                chunks.append(chunk)
                if time.monotonic() > self.ends:
                    raise OutOfTime(
                        f"{self.what} did not finish answering within {self.bounds.deadline:g} s {where}: "
                        f"stopped reading (the deadline; {DEADLINE_ENV} sets it)"
                    )
        except BaseException:
            response.close()
            raise
        finally:
            self.read += size
        self.pages += 1
        return b"".join(chunks)

    def _too_large(self, limit: int, where: str) -> BodyTooLarge:
        if limit < self.bounds.body:
            return TooMuchInAll(
                f"{self.what} answered more than {self.bounds.total // _MIB} MB in all {where}: stopped reading "
                "(the aggregate cap)"
            )
        return BodyTooLarge(f"{self.what} answered a body of more than {limit // _MIB} MB {where}: not read")


def cap_responses(session: Any, bounds: Bounds | None = None, *, what: str = "the API") -> None:
    """Make `session` (a `requests.Session`) read each response body through a `Budget` of its own (`bounds`:
    by default `Bounds.current()`), so at most the body cap and within the deadline.

    A response hook runs before `requests` reads the body (the adapter does not preload it), so the body is read
    here; a longer one raises `BodyTooLarge` and the connection is closed unread. Streamed requests
    (`stream=True`: downloads, which their callers bound) are left to their caller.
    """
    chosen = bounds or Bounds.current()

    def read_capped(response: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream") or getattr(response, "_content_consumed", False):
            return response
        response._content = Budget(what, chosen).read_body(response)
        response._content_consumed = True
        return response

    session.hooks.setdefault("response", []).append(read_capped)


def cap_rest_client(client: Any, bounds: Bounds | None = None, *, what: str = "the API") -> None:
    """`cap_responses` for a google-cloud client on the REST transport (its `requests` session is the
    transport's; no public option sets it)."""
    cap_responses(client._transport._session, bounds, what=what)
