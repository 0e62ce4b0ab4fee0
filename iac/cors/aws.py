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

from iac.config.cors import AwsCorsTarget, CorsRule
from iac.cors import s3rules
from iac.cors.policy import Native
from iac.cors.provider import Document, Provider, ProviderModule, missing_sdk, no_credentials
from iac.errors import IacError
from iac.terraform.hcl import Hcl, identifier
from iac.untrusted import Bounds

MAX_RULES = 100
METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
CREDENTIALS = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE for a profile in ~/.aws), "
    "or run where an instance or task role applies"
)
native = s3rules.native
parse = s3rules.parse


def describe(target: AwsCorsTarget) -> str:
    return f"s3://{target.bucket} ({target.region})"


def document(rules: Sequence[Native]) -> str:
    """The `--cors-configuration` file for `aws s3api put-bucket-cors`: {"CORSRules": [...]}, keys sorted."""
    return json.dumps({"CORSRules": list(rules)}, indent=2, sort_keys=True) + "\n"


def document_name(target: AwsCorsTarget) -> str:
    return f"aws-s3-{target.bucket}.json"


def documents(target: AwsCorsTarget, rule: CorsRule) -> list[Document]:
    """The `put-bucket-cors` document, and an `aws_s3_bucket_cors_configuration` for Terraform users."""
    from iac.terraform.templates import template

    ours = native(rule)
    alias = str(identifier(f"encord_{target.bucket}")).strip('"')  # the resource's label, and its provider's alias
    values: dict[str, Any] = {"bucket": target.bucket, "region": target.region, "alias": alias, "rule": ours}
    values["provider"] = Hcl(f"aws.{alias}")
    replaces = "it replaces the bucket's whole CORS configuration; `iac cors apply` keeps other apps' rules"
    return [
        Document(
            document_name(target),
            document([ours]).encode("utf-8"),
            f"aws s3api put-bucket-cors --region {target.region} --bucket {target.bucket} "
            f"--cors-configuration file://{{path}} ({replaces})",
        ),
        Document(
            f"terraform/aws-s3-{target.bucket}.tf",
            template("cors/aws_s3_bucket_cors_configuration.tf.j2", values),
            f"copy into the Terraform (hashicorp/aws) that manages s3://{target.bucket} ({replaces})",
        ),
    ]


def _import_sdk() -> tuple[Any, Any]:
    try:
        boto3 = importlib.import_module("boto3")
        exceptions = importlib.import_module("botocore.exceptions")
    except ImportError as exc:
        raise missing_sdk("CORS on AWS S3", "boto3", "aws", exc) from None
    return boto3, exceptions


def _bounded(bounds: Bounds) -> Any:
    """botocore's client settings within iac's caps on network reads (`iac.untrusted.Bounds`): its connect and
    read timeouts, and 3 attempts (botocore's standard retry mode) instead of its default 5."""
    from botocore.config import Config  # type: ignore[import-untyped]

    return Config(
        connect_timeout=bounds.connect_timeout,
        read_timeout=bounds.read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )


class Store:
    """The CORS configuration of one S3 bucket, read and replaced through boto3."""

    def __init__(self, target: AwsCorsTarget) -> None:
        self.bucket = target.bucket
        self.description = describe(target)
        boto3, exceptions = _import_sdk()
        self._errors: tuple[type[BaseException], ...] = (exceptions.ClientError, exceptions.BotoCoreError)
        self._no_credentials: type[BaseException] = exceptions.NoCredentialsError
        try:
            self._client: Any = boto3.Session().client(
                "s3", region_name=target.region, config=_bounded(Bounds.current())
            )
        except self._errors as exc:
            raise IacError(f"{self.description}: cannot create the S3 client: {_message(exc)}") from None

    def read(self) -> list[Native]:
        """The bucket's CORS rules; [] when it has no CORS configuration."""
        try:
            response = self._client.get_bucket_cors(Bucket=self.bucket)
        except self._no_credentials:
            raise no_credentials(f"{self.description}: reading the CORS configuration failed", CREDENTIALS) from None
        except self._errors as exc:
            if _code(exc) == "NoSuchCORSConfiguration":
                return []
            raise IacError(f"{self.description}: reading the CORS configuration failed: {_message(exc)}") from None
        return [dict(rule) for rule in response.get("CORSRules", [])]

    def write(self, rules: list[Native]) -> None:
        """Replace the bucket's whole CORS configuration with `rules` ([] deletes it; at most MAX_RULES, which
        `iac.cors.targets` checks before it calls)."""
        try:
            if rules:
                self._client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
            else:
                self._client.delete_bucket_cors(Bucket=self.bucket)
        except self._no_credentials:
            raise no_credentials(f"{self.description}: writing the CORS configuration failed", CREDENTIALS) from None
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


PROVIDER: Provider[AwsCorsTarget] = ProviderModule(
    AwsCorsTarget, CREDENTIALS, METHODS, MAX_RULES, Store, native, parse, describe, documents
)
