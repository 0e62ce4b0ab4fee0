"""What comes from outside (servers, APIs, Terraform): escaped before it is printed, bounded when it is read.

- `printable`: control characters (C0, DEL, C1) and the invisible bidirectional controls are written as escapes
  (`\\x1b`, `\\u202e`), so a server's reason phrase or header, or an API's error text, cannot clear the screen,
  set the window title or reorder what a terminal shows. Every command prints such text through it.
- `visible`: text shown to a reviewer (a pull request comment, a comment in rendered Terraform) on one line,
  every invisible or bidirectional character written as `<U+202E>`, so what is read is what is there.
- `cap_responses`, `cap_rest_client`: a `requests` session (the one a Google API client talks through) reads
  at most `limit` bytes of any response body; a longer one is an error (`BodyTooLarge`), never read whole.
"""

from __future__ import annotations

import re
from typing import Any

from iac.errors import IacError

# C0 controls, DEL, C1 controls, and the bidirectional controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# In a multi-line message, line breaks and tabs are layout: kept (a carriage return, which rewrites the line, is not).
_UNPRINTABLE_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# What is read of one API response body at most (a Compute resource is a few kB; a large policy ~100 kB).
MAX_API_BODY = 8 * 1024 * 1024


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


def cap_responses(session: Any, limit: int = MAX_API_BODY, *, what: str = "the API") -> None:
    """Make `session` (a `requests.Session`) read at most `limit` bytes of each response body.

    A response hook runs before `requests` reads the body (the adapter does not preload it), so the body is read
    here, up to `limit` + 1 bytes; a longer one raises `BodyTooLarge` and the connection is closed unread.
    Streamed requests (`stream=True`) are left to their caller.
    """

    def read_capped(response: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream") or getattr(response, "_content_consumed", False):
            return response
        data = response.raw.read(limit + 1, decode_content=True) or b""
        if len(data) > limit:
            response.close()
            raise BodyTooLarge(
                f"{what} answered a body of more than {limit // (1024 * 1024)} MB "
                f"({response.request.method} {response.url.split('?', 1)[0]}): not read"
            )
        response._content = data
        response._content_consumed = True
        return response

    session.hooks.setdefault("response", []).append(read_capped)


def cap_rest_client(client: Any, limit: int = MAX_API_BODY, *, what: str = "the API") -> None:
    """`cap_responses` for a google-cloud client on the REST transport (its `requests` session is the
    transport's; no public option sets it)."""
    cap_responses(client._transport._session, limit, what=what)
