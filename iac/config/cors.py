"""The `cors:` section of the config (its targets on each provider, origins, access) and the Encord CORS rule it
implies, used both by the Terraform rendering and by `iac cors`, which never import each other."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from iac.config.schema import Bounds, Check, Doc, Invalid, Model, Tagged, field, fields_of, show, tags
from iac.config.values import BucketName
from iac.config.yamldoc import Location

_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_AZURE_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CLOUD_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+){1,3}")
_ORIGIN = re.compile(r"https://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+(:\d{1,5})?")
_LOCALHOST_ORIGIN = re.compile(r"http://localhost(:(\d{1,5}|\*))?")


def _s3_bucket(value: str) -> str:
    if not _S3_BUCKET.fullmatch(value) or ".." in value or value.startswith("xn--"):
        raise Invalid("is not a valid bucket name: 3-63 lowercase letters, digits, '.' and '-'")
    return value


def _azure_account(value: str) -> str:
    if not _AZURE_ACCOUNT.fullmatch(value):
        raise Invalid("is not an Azure storage account name: 3-24 lowercase letters and digits")
    return value


def _cloud_region(value: str) -> str:
    if not _CLOUD_REGION.fullmatch(value):
        raise Invalid("is not a region name (e.g. eu-west-2, eu-de)")
    return value


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?(/[^\s]*)?", value):
        raise Invalid("is not an http(s) URL, e.g. https://acmeblobdata.blob.core.windows.net")
    return value


S3Bucket = Annotated[str, Check(_s3_bucket)]
AzureAccount = Annotated[str, Check(_azure_account)]
CloudRegion = Annotated[str, Check(_cloud_region)]
ServiceUrl = Annotated[str, Check(_https_url)]


class GcpCorsTarget(Model):
    """A Cloud Storage bucket whose CORS `iac cors` manages."""

    provider: Literal["gcp"]
    bucket: BucketName


class AwsCorsTarget(Model):
    """An S3 bucket whose CORS `iac cors` manages."""

    provider: Literal["aws"]
    bucket: S3Bucket
    region: CloudRegion


class AzureCorsTarget(Model):
    """An Azure storage account whose Blob CORS `iac cors` manages."""

    provider: Literal["azure"]
    account: AzureAccount
    # Default https://<account>.blob.core.windows.net; AZURE_STORAGE_CONNECTION_STRING takes precedence.
    account_url: ServiceUrl | None = None


class OtcCorsTarget(Model):
    """An OTC OBS bucket whose CORS `iac cors` manages."""

    provider: Literal["otc"]
    bucket: S3Bucket
    region: CloudRegion
    # Default https://obs.<region>.otc.t-systems.com
    endpoint: ServiceUrl | None = None


CorsTarget = Annotated[GcpCorsTarget | AwsCorsTarget | AzureCorsTarget | OtcCorsTarget, Tagged("provider")]


def cors_provider(target: Any) -> str:
    """The `provider:` tag of a cors target type ("aws" for AwsCorsTarget): the one place a provider is named."""
    [tag] = get_args(fields_of(target)["provider"])
    return str(tag)


# Every provider a cors target may name, in the order the config schema lists them.
CORS_PROVIDERS: tuple[str, ...] = tuple(tags(get_args(CorsTarget)[0], "provider"))


# Encord's web app and API origins (EU and US), the default of cors.origins; https://app.in.encord.com is
# available on request.
DEFAULT_CORS_ORIGINS = (
    "https://app.encord.com",
    "https://api.encord.com",
    "https://app.us.encord.com",
    "https://api.us.encord.com",
)
# Identifier of the rule iac owns, where the provider has rule IDs (S3, OBS).
CORS_RULE_ID = "iac-encord-direct-access"
CorsAccess = Literal["read", "read-write"]
# The methods each cors.access grants, and the response headers Encord's web app reads.
_CORS_METHODS: dict[CorsAccess, tuple[str, ...]] = {
    "read": ("GET", "HEAD"),
    "read-write": ("GET", "HEAD", "PUT", "POST"),
}
_CORS_EXPOSED_HEADERS = ("Content-Length", "Content-Range", "Content-Type", "ETag")


@dataclass(frozen=True)
class CorsRule:
    """One CORS rule in provider-neutral terms: the one iac writes (`CorsConfig.rule`), or one read from a bucket."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ("*",)
    exposed_headers: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None


def encord_rule(origins: Sequence[str], access: CorsAccess, max_age: int) -> CorsRule:
    """The rule iac writes: Encord's origins, read (GET, HEAD) or read-write (+ PUT, POST) methods.

    The one derivation of it, below both the Terraform rendering (the created bucket's CORS) and `iac cors`.
    """
    return CorsRule(
        origins=tuple(origins),
        methods=_CORS_METHODS[access],
        allowed_headers=("*",),
        exposed_headers=_CORS_EXPOSED_HEADERS,
        max_age=max_age,
        id=CORS_RULE_ID,
    )


class CorsConfig(Model):
    """CORS for Encord's web app: the rule `iac cors` applies to the targets, and the created bucket's."""

    origins: Annotated[
        list[str],
        Doc("`https://` origins (scheme and host) allowed to read."),
    ] = field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))
    access: Annotated[CorsAccess, Doc("`read` (GET, HEAD) or `read-write` (also PUT, POST).")] = "read"
    max_age: Annotated[
        int,
        Bounds(ge=0, le=86400),
        Doc("Seconds a browser may cache the preflight answer (0 to 86400)."),
    ] = 3600
    allow_localhost: Annotated[bool, Doc("Accept `http://localhost[:port|:*]` origins (development only).")] = False
    targets: Annotated[
        list[CorsTarget],
        Doc(
            "`{provider: gcp, bucket}`, `{provider: aws, bucket, region}`, `{provider: azure, account, "
            "account_url?}`, `{provider: otc, bucket, region, endpoint?}`."
        ),
    ] = field(default_factory=list)

    def rule(self) -> CorsRule:
        """The CORS rule these settings give, for every target and for the bucket the module creates."""
        return encord_rule(self.origins, self.access, self.max_age)


def origin_problem(origin: str, allow_localhost: bool) -> str | None:
    """Why `origin` may not be a CORS origin for Encord, or None."""
    if _LOCALHOST_ORIGIN.fullmatch(origin):
        return None if allow_localhost else "local origins need cors.allow_localhost: true"
    if "*" in origin:
        return "wildcard origins are not allowed: list Encord's origins (e.g. https://app.encord.com)"
    if origin.startswith("http://"):
        return "must be an https:// origin"
    if _ORIGIN.fullmatch(origin):
        return None
    if origin != origin.lower() and _ORIGIN.fullmatch(origin.lower()):
        return f"must be lower case, as browsers send it: write {origin.lower()!r}"
    scheme, _, rest = origin.partition("://")
    host = rest.split("/", 1)[0]
    if scheme == "https" and host and "/" in rest:
        return f"is a URL, not an origin: write {scheme + '://' + host!r} (scheme and host, no path)"
    return "is not an origin: write https://host (scheme and host only, e.g. https://app.encord.com)"


def cors_problems(cors: CorsConfig) -> list[tuple[Location, str]]:
    """Checks that need more than one field, made before any provider is called."""
    problems: list[tuple[Location, str]] = []
    for index, origin in enumerate(cors.origins):
        problem = origin_problem(origin, cors.allow_localhost)
        if problem:
            problems.append((("cors", "origins", index), f"{show(origin)} {problem}"))
    if not cors.origins:
        problems.append((("cors", "origins"), "is empty: list the Encord origins (or leave it out for the default)"))
    first: dict[str, int] = {}
    for index, origin in enumerate(cors.origins):
        if origin in first:
            problems.append(
                (
                    ("cors", "origins", index),
                    f"{show(origin)} is listed twice (first as origins[{first[origin]}]): remove one",
                )
            )
        first.setdefault(origin, index)
    seen: dict[tuple[str, str], int] = {}
    for index, target in enumerate(cors.targets):
        key = (str(target.provider), str(getattr(target, "bucket", None) or getattr(target, "account", "")))
        if key in seen:
            problems.append(
                (("cors", "targets", index), f"{key[0]} {key[1]!r} is listed twice (first as targets[{seen[key]}])")
            )
        seen.setdefault(key, index)
    return problems
