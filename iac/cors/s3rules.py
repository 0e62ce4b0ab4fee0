"""S3's CORS rule shape, which OTC OBS shares: a CORSRule dict as boto3 and `put-bucket-cors` take it."""

from __future__ import annotations

from iac.config.cors import CorsRule
from iac.cors.policy import Native


def native(rule: CorsRule) -> Native:
    """`rule` as one CORSRule dict; absent optional keys are left out."""
    out: Native = {}
    if rule.id is not None:
        out["ID"] = rule.id
    if rule.allowed_headers:
        out["AllowedHeaders"] = list(rule.allowed_headers)
    out["AllowedMethods"] = list(rule.methods)
    out["AllowedOrigins"] = list(rule.origins)
    if rule.exposed_headers:
        out["ExposeHeaders"] = list(rule.exposed_headers)
    if rule.max_age is not None:
        out["MaxAgeSeconds"] = rule.max_age
    return out


def parse(native: Native) -> CorsRule:
    """A CORSRule dict back to a CorsRule (id=None when the rule has no ID)."""
    max_age = native.get("MaxAgeSeconds")
    rule_id = native.get("ID")
    return CorsRule(
        origins=tuple(native.get("AllowedOrigins") or ()),
        methods=tuple(native.get("AllowedMethods") or ()),
        allowed_headers=tuple(native.get("AllowedHeaders") or ()),
        exposed_headers=tuple(native.get("ExposeHeaders") or ()),
        max_age=None if max_age is None else int(max_age),
        id=None if rule_id is None else str(rule_id),
    )
