"""Terraform-style durations (`300s`, `5m`, `1m30s`), as --lock-timeout and --since take them."""

from __future__ import annotations

import re

from iac.defaults import DEFAULT_LOCK_TIMEOUT
from iac.errors import IacError

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(d|h|ms|m|s)")  # ASCII digits only (\d is any script's)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_DURATION = 366 * 86400.0  # seconds: a year is longer than any wait iac does


def parse_duration(text: str, option: str = "--lock-timeout", *, days: bool = False) -> float:
    """Seconds in a Terraform-style duration (`300s`, `5m`, `1m30s`, `0s`) of at most MAX_DURATION; a bad one
    names the option.

    `days` also takes `d` (`7d`, `1d12h`): not for a duration handed to Terraform, which has no days."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value or (not days and "d" in value):
        example = "24h, 7d or 1d12h" if days else "300s, 5m or 1m30s"
        raise IacError(f"{option} {text!r}: not a duration; write a number with a unit, e.g. {example}")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds > MAX_DURATION:
        most = "366d" if days else f"{MAX_DURATION / 3600:.0f}h"
        raise IacError(f"{option} {text!r}: too long; at most {most}")
    return seconds


# How long a command waits for a lock unless told (--lock-timeout): Terraform's default, in seconds.
DEFAULT_LOCK_SECONDS = parse_duration(DEFAULT_LOCK_TIMEOUT)
