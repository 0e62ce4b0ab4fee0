"""Which CORS rule of a bucket iac owns, merging without losing others', and what a set of rules allows.

The rule itself (`iac.config.cors.CorsRule`, `CorsConfig.rule`) is derived from the config below this package, so
the Terraform rendering of the created bucket uses the same rule without importing `iac.cors`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from iac.config.cors import CORS_RULE_ID, CorsRule

# One rule in a provider's own shape (boto3's CORSRule dict, a GCS cors entry, ...).
Native = dict[str, Any]


def is_encord_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == "encord.com" or host.endswith(".encord.com"))


def owned_by_iac(rule: CorsRule, ours: CorsRule) -> bool:
    """Whether `rule`, found on a bucket, is the one iac manages there (and may replace).

    With rule IDs: the ID says so. Without (GCS, Azure): every origin is Encord's or one of ours, so a
    rule that also serves another app is never taken over.
    """
    if rule.id is not None:
        return rule.id == CORS_RULE_ID
    known = set(ours.origins)
    return bool(rule.origins) and all(o in known or is_encord_origin(o) for o in rule.origins)


def merge(
    current: Sequence[Native],
    ours: Native,
    parse: Callable[[Native], CorsRule],
    ours_rule: CorsRule,
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


def allows(rules: Sequence[CorsRule], origin: str, method: str) -> bool:
    """Whether a browser on `origin` gets a CORS grant for `method` from any of `rules`."""
    return any(
        any(origin_allowed(p, origin) for p in rule.origins) and (method in rule.methods or "*" in rule.methods)
        for rule in rules
    )


def missing_grants(rules: Sequence[CorsRule], origins: Sequence[str], methods: Sequence[str]) -> list[str]:
    """Every `origin method` pair the rules do not allow, for `iac cors check`."""
    return [f"{origin} {method}" for origin in origins for method in methods if not allows(rules, origin, method)]
