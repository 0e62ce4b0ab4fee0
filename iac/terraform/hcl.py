"""The one path by which values reach rendered HCL: every template expression is encoded here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters that end or change a quoted HCL string, plus the two template introducers.
_SPECIAL = re.compile(r'["\\\n\r\t\x00-\x1f\x7f\u2028\u2029]|\$\{|%\{')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class Hcl(str):
    """Text that is already HCL (produced by this module), passed through templates unchanged."""


@dataclass(frozen=True)
class Commented:
    """A list item written with a comment after it on its line: `"81.2.69.160/28", # Lisbon office`."""

    value: Any
    comment: str


def comment(text: str) -> Hcl:
    """A `#` comment holding `text` on one line: no line break or control character can end it early, and
    invisible or bidirectional characters are named (`<U+202E>`), so a reviewer reads what is there."""
    from iac.untrusted import visible

    return Hcl(f"# {visible(text)}".rstrip())


def string(value: str) -> str:
    """A quoted HCL string whose content is exactly `value`: no interpolation, no directives, one line."""

    def escape(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "${":
            return "$${"
        if text == "%{":
            return "%%{"
        return _ESCAPES.get(text, f"\\u{ord(text):04x}")

    return '"' + _SPECIAL.sub(escape, value) + '"'


def value(data: Any, indent: int = 0) -> Hcl:
    """An HCL expression for a Python value; lists and maps are written one item per line at `indent`."""
    if isinstance(data, Hcl):
        return data
    if data is None:
        return Hcl("null")
    if isinstance(data, bool):
        return Hcl("true" if data else "false")
    if isinstance(data, int):
        return Hcl(str(data))
    if isinstance(data, float):
        return Hcl(json.dumps(data))
    if isinstance(data, str):
        return Hcl(string(data))
    pad = " " * (indent + 2)
    if isinstance(data, Mapping):
        if not data:
            return Hcl("{}")
        items = [(_key(str(k)), value(v, indent + 2)) for k, v in data.items()]
        return Hcl("{\n" + "\n".join(_aligned(items, pad)) + "\n" + " " * indent + "}")
    if isinstance(data, Sequence):
        if not data:
            return Hcl("[]")
        listed: list[tuple[str, str | None]] = [
            (f"{value(item.value, indent + 2)},", comment(item.comment))
            if isinstance(item, Commented)
            else (f"{value(item, indent + 2)},", None)
            for item in data
        ]
        lines = [pad + line for line in _commented(listed)]
        return Hcl("[\n" + "\n".join(lines) + "\n" + " " * indent + "]")
    raise TypeError(f"no HCL form for {type(data).__name__}")


def _aligned(items: Sequence[tuple[str, str]], pad: str) -> list[str]:
    """`key = value` lines aligned as `terraform fmt` does: `=` lines up within each run of one-line
    attributes; a multi-line value ends the run and is not padded."""
    return [pad + line for line in _in_columns(items, " = ")]


def _commented(items: Sequence[tuple[str, str | None]]) -> list[str]:
    """List item lines, each with its comment (if any) after it; as `terraform fmt` does, the comments of
    consecutive commented lines start in one column."""
    return _in_columns(items, " ")


def _in_columns(items: Sequence[tuple[str, str | None]], separator: str) -> list[str]:
    """`left` + `separator` + `right` lines whose separators line up within each run of one-line `right`
    parts; a `right` over several lines ends the run unpadded, and None ends it with `left` alone."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(left) for left, _ in run), default=0)
        lines.extend(f"{left.ljust(width)}{separator}{right}" for left, right in run)
        run.clear()

    for left, right in items:
        if right is None or "\n" in right:
            flush()
            lines.append(left if right is None else f"{left}{separator}{right}")
        else:
            run.append((left, right))
    flush()
    return lines


def _key(key: str) -> str:
    return key if _IDENTIFIER.fullmatch(key) else string(key)


def identifier(text: str) -> Hcl:
    """A block label made from `text`: letters, digits and underscores only, quoted."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
        cleaned = "_" + cleaned
    return Hcl(f'"{cleaned}"')


def finalize(data: Any) -> str:
    """Jinja `finalize` hook: whatever a template prints is encoded, so no raw user text reaches HCL."""
    return value(data)
