"""A problem of a registration file, and the wording both checkers (JSON and CSV) give it."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registration file, and where."""

    path: str  # the file, as given
    line: int  # 1-based; 0 when the problem is about the whole file
    column: int  # 1-based; 0 when not known
    where: str  # a JSON path like images[3].objectUrl, a CSV place like "row 12, column ObjectUrl", or ""
    message: str  # what is wrong and what to do

    def __str__(self) -> str:
        location = self.path
        if self.line:
            location += f":{self.line}"
            if self.column:
                location += f":{self.column}"
        return ": ".join(part for part in (location, self.where, self.message) if part)


def quoted(value: str, limit: int = 80) -> str:
    """`value` as a JSON string, cut to `limit` characters: how a message shows what the file holds."""
    shown = value if len(value) <= limit else value[: limit - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def suggest(key: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """'; did you mean ...?' naming the choice (or alias) `key` was probably meant to be; "" when none is close."""
    choices = sorted(choices)
    by_lower = {choice.lower(): choice for choice in choices}
    if aliases and key in aliases:
        return f"; did you mean '{aliases[key]}'?"
    if key.lower() in by_lower:
        return f"; did you mean '{by_lower[key.lower()]}'?"
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
