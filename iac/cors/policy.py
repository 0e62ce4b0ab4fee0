"""The provider-neutral CORS rule, which rule of a bucket iac owns, and merging without losing others'."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Encord's web app and API origins (EU and US); https://app.in.encord.com is available on request.
DEFAULT_ORIGINS = (
    "https://app.encord.com",
    "https://api.encord.com",
    "https://app.us.encord.com",
    "https://api.us.encord.com",
)
READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("PUT", "POST")
# Identifier of the rule iac owns, where the provider has rule IDs (S3, OBS).
RULE_ID = "iac-encord-direct-access"

Native = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One CORS rule in provider-neutral terms."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ("*",)
    exposed_headers: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None


def encord_rule(origins: Sequence[str], access: str, max_age: int) -> Rule:
    """The rule iac writes: Encord's origins, read (GET, HEAD) or read-write (+ PUT, POST) methods."""
    methods = READ_METHODS + (WRITE_METHODS if access == "read-write" else ())
    return Rule(
        origins=tuple(origins),
        methods=methods,
        allowed_headers=("*",),
        exposed_headers=("Content-Length", "Content-Range", "Content-Type", "ETag"),
        max_age=max_age,
        id=RULE_ID,
    )


def is_encord_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == "encord.com" or host.endswith(".encord.com"))


def owned_by_iac(rule: Rule, ours: Rule) -> bool:
    """Whether `rule`, found on a bucket, is the one iac manages there (and may replace).

    With rule IDs: the ID says so. Without (GCS, Azure): every origin is Encord's or one of ours, so a
    rule that also serves another app is never taken over.
    """
    if rule.id is not None:
        return rule.id == RULE_ID
    known = set(ours.origins)
    return bool(rule.origins) and all(o in known or is_encord_origin(o) for o in rule.origins)


def merge(
    current: Sequence[Native],
    ours: Native,
    parse: Callable[[Native], Rule],
    ours_rule: Rule,
) -> list[Native]:
    """The bucket's rules with iac's rule in place of any it owned, every other rule kept as it was.

    The first rule iac owned is replaced where it stood (order decides which rule a browser gets); further
    owned duplicates are dropped; without one, iac's rule goes last.
    """
    merged: list[Native] = []
    placed = False
    for native in current:
        if owned_by_iac(parse(native), ours_rule):
            if not placed:
                merged.append(ours)
                placed = True
            continue
        merged.append(native)
    if not placed:
        merged.append(ours)
    return merged


def origin_allowed(pattern: str, origin: str) -> bool:
    """Whether an AllowedOrigin entry (`*`, an exact origin, or one `*` wildcard) admits `origin`."""
    if pattern == "*":
        return True
    if "*" in pattern:
        return fnmatch.fnmatchcase(origin.lower(), pattern.lower())
    return pattern.rstrip("/").lower() == origin.lower()


def allows(rules: Sequence[Rule], origin: str, method: str) -> bool:
    """Whether a browser on `origin` gets a CORS grant for `method` from any of `rules`."""
    return any(
        any(origin_allowed(p, origin) for p in rule.origins) and (method in rule.methods or "*" in rule.methods)
        for rule in rules
    )


def missing_grants(rules: Sequence[Rule], origins: Sequence[str], methods: Sequence[str]) -> list[str]:
    """Every `origin method` pair the rules do not allow, for `iac cors check`."""
    return [f"{origin} {method}" for origin in origins for method in methods if not allows(rules, origin, method)]
