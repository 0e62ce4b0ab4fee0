"""CORS on an AWS S3 bucket: rules in boto3's shape, `aws s3api put-bucket-cors` JSON, and the bucket's live rules.

boto3 is imported only inside `Store`, so `iac --help` and `iac render` never load it. Credentials, profile and
endpoint come from boto3's usual chain (environment, ~/.aws, instance role; `AWS_ENDPOINT_URL_S3` overrides the
endpoint).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

from iac.config import AwsCorsTarget, CorsRule
from iac.cors.policy import Native
from iac.cors.provider import Provider, ProviderModule, missing_sdk
from iac.errors import IacError

NAME = "aws"
MAX_RULES = 100
METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})


def native(rule: CorsRule) -> Native:
    """`rule` as one S3 CORSRule dict (boto3 / `put-bucket-cors` shape); absent optional keys are left out."""
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
    """An S3 CORSRule dict back to a CorsRule (id=None when the rule has no ID)."""
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


def document(rules: Sequence[Native]) -> str:
    """The `--cors-configuration` file for `aws s3api put-bucket-cors`: {"CORSRules": [...]}, keys sorted."""
    return json.dumps({"CORSRules": list(rules)}, indent=2, sort_keys=True) + "\n"


def document_name(target: AwsCorsTarget) -> str:
    return f"aws-s3-{target.bucket}.json"


def documents(target: AwsCorsTarget, rule: CorsRule) -> dict[str, bytes]:
    """The `put-bucket-cors` document, and an `aws_s3_bucket_cors_configuration` for Terraform users."""
    from iac.templates import template

    ours = native(rule)
    values = {"bucket": target.bucket, "label": f"encord_{target.bucket}", "rule": ours}
    return {
        document_name(target): document([ours]).encode("utf-8"),
        f"terraform/aws-s3-{target.bucket}.tf": template("cors/aws_s3_bucket_cors_configuration.tf.j2", values),
    }


def _import_sdk() -> tuple[Any, Any]:
    try:
        boto3 = importlib.import_module("boto3")
        exceptions = importlib.import_module("botocore.exceptions")
    except ImportError as exc:
        raise missing_sdk("CORS on AWS S3", "boto3", "aws", exc) from None
    return boto3, exceptions


class Store:
    """The CORS configuration of one S3 bucket, read and replaced through boto3."""

    def __init__(self, target: AwsCorsTarget) -> None:
        self.bucket = target.bucket
        self.description = f"s3://{target.bucket} ({target.region})"
        boto3, exceptions = _import_sdk()
        self._errors: tuple[type[BaseException], ...] = (exceptions.ClientError, exceptions.BotoCoreError)
        try:
            self._client: Any = boto3.Session().client("s3", region_name=target.region)
        except self._errors as exc:
            raise IacError(f"{self.description}: cannot create the S3 client: {_message(exc)}") from None

    def read(self) -> list[Native]:
        """The bucket's CORS rules; [] when it has no CORS configuration."""
        try:
            response = self._client.get_bucket_cors(Bucket=self.bucket)
        except self._errors as exc:
            if _code(exc) == "NoSuchCORSConfiguration":
                return []
            raise IacError(f"{self.description}: reading the CORS configuration failed: {_message(exc)}") from None
        return [dict(rule) for rule in response.get("CORSRules", [])]

    def write(self, rules: list[Native]) -> None:
        """Replace the bucket's whole CORS configuration with `rules` ([] deletes it)."""
        if len(rules) > MAX_RULES:
            raise IacError(f"{self.description}: {len(rules)} CORS rules, S3 allows at most {MAX_RULES}")
        try:
            if rules:
                self._client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
            else:
                self._client.delete_bucket_cors(Bucket=self.bucket)
        except self._errors as exc:
            raise IacError(f"{self.description}: writing the CORS configuration failed: {_message(exc)}") from None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _message(exc: BaseException) -> str:
    """`Code: message` from S3's error response, else botocore's own text (neither carries credentials)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code, message = error.get("Code"), error.get("Message")
        if code or message:
            return ": ".join(str(part) for part in (code, message) if part)
    return str(exc) or type(exc).__name__


PROVIDER: Provider[AwsCorsTarget] = ProviderModule(METHODS, MAX_RULES, Store, native, parse, documents)
