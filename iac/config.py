"""The config file: its schema (the contract other tools build on) and loading with precise errors."""

from __future__ import annotations

import datetime
import ipaddress
import re
import types
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from iac.allowlist import (
    DEFAULT_MAX_RULES,
    Allowlist,
    AllowlistEntryError,
    Network,
    from_networks,
    network_text,
    over_limit_message,
    parse_entry,
    width_warning,
)
from iac.errors import ConfigError
from iac.schema import (
    Before,
    Bounds,
    Check,
    Doc,
    Invalid,
    Model,
    Problem,
    SchemaError,
    Tagged,
    clip,
    field,
    fields_of,
    is_model,
    show,
    tags,
    validate,
)
from iac.yamldoc import Location, YamlDocument, entry_comments, load_yaml

_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ZONE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,40}")
_REGION = re.compile(r"[a-z][a-z0-9-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): invisible, they
# make text display in another order than it is read ("Trojan Source", CVE-2021-42574).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_MAX_TTL_SECONDS = 31_622_400  # one year, Cloud CDN's ceiling


def _project_id(value: str) -> str:
    if not _PROJECT_ID.fullmatch(value):
        raise Invalid(
            "is not a GCP project ID: 6-30 characters, lowercase letters, digits and hyphens, starting with a "
            "letter (the ID, not the display name or number; see `gcloud projects list`)"
        )
    return value


def _resource_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise Invalid(
            "must be 1-22 characters of lowercase letters, digits and hyphens, starting with a letter and not "
            "ending with a hyphen: it prefixes every GCP resource name (e.g. encord-da)"
        )
    return value


def _hostname(value: str) -> str:
    if value.endswith("."):
        raise Invalid(f"must not end with a dot: write {value.rstrip('.')!r}")
    if value != value.lower():
        raise Invalid(f"must be lowercase: write {value.lower()!r}")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise Invalid(
            "is not a fully qualified hostname (lowercase letters, digits and hyphens in dot-separated labels, "
            "e.g. encord-directaccess.acme.com)"
        )
    if labels[-1].isdigit():
        raise Invalid("is an IP address, not a hostname: the managed certificate needs a DNS name")
    return value


def _zone_name(value: str) -> str:
    if "." in value:
        suggestion = value.rstrip(".").replace(".", "-")
        raise Invalid(
            f"looks like a DNS name; Cloud DNS wants the managed zone's NAME (e.g. {suggestion!r}, see "
            "`gcloud dns managed-zones list`)"
        )
    if not _ZONE_NAME.fullmatch(value):
        raise Invalid(
            "is not a Cloud DNS managed zone name: 1-63 lowercase letters, digits and hyphens, starting with a letter"
        )
    return value


def bucket_name_problem(value: str) -> str | None:
    """Why `value` is not a valid Cloud Storage bucket name, or None."""
    parts = value.split(".")
    if not 3 <= len(value) <= (222 if len(parts) > 1 else 63):
        return "must be 3-63 characters long (222 with dots, each dot-separated part at most 63)"
    if not _BUCKET_CHARS.fullmatch(value):
        return (
            "may contain only lowercase letters, digits, '-', '_' and '.', and must start and end with a letter "
            "or digit"
        )
    if any(not part or len(part) > 63 for part in parts):
        return "has an empty or over-long (more than 63 characters) dot-separated part"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "must not be an IP address"
    if value.startswith("goog") or re.search(r"g[o0]{2}g[l1]e", value):
        return "must not start with 'goog' or contain 'google' (or a close misspelling)"
    return None


def _bucket_name(value: str) -> str:
    problem = bucket_name_problem(value)
    if problem:
        raise Invalid(f"is not a valid Cloud Storage bucket name: {problem}")
    return value


def _location(value: str) -> str:
    if not _LOCATION.fullmatch(value):
        raise Invalid("is not a Cloud Storage location (e.g. EU, US, europe-west1, eur4)")
    return value


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise Invalid("is not a region name (lowercase, e.g. eu, us, europe-west1)")
    return value


def _object_prefix(value: str) -> str:
    if _CONTROL.search(value):
        raise Invalid("must not contain control characters such as newlines")
    if not value or len(value.encode()) > 512:
        raise Invalid("must be 1-512 bytes")
    return value


def _extra_file(value: str) -> str:
    """A file of the output directory's root module the user adds on purpose: a plain relative path in it."""
    from iac.files import LEDGER, STAGING, is_terraforms

    if not value:
        raise Invalid("is empty: write a path relative to the output directory, e.g. alerts.tf")
    if _CONTROL.search(value):
        raise Invalid("contains a control character (a NUL, a newline, ...): write a plain file name")
    if value.startswith("/") or re.match(r"[A-Za-z]:", value):
        raise Invalid("is an absolute path: write it relative to the output directory, e.g. alerts.tf")
    if "\\" in value:
        raise Invalid("contains a backslash: separate directories with /, e.g. modules/alerts/main.tf")
    parts = value.split("/")
    if ".." in parts:
        raise Invalid("leads out of the output directory (..): name a file inside it, e.g. alerts.tf")
    if "" in parts or "." in parts:
        plain = "/".join(part for part in parts if part not in ("", "."))
        raise Invalid(f"is not a plain relative path: write {plain!r}" if plain else "names no file")
    if is_terraforms(value) or parts[0] in (LEDGER, STAGING):
        raise Invalid("is a working file of Terraform or iac, not a file of the configuration: remove it")
    return value


def _api_endpoint(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?", value):
        raise Invalid(
            "is not an API endpoint: write a scheme and host only, e.g. https://compute.googleapis.com or "
            "https://compute-acme.p.googleapis.com (Private Service Connect)"
        )
    return value


def _allowlist_entry(value: object, networks: list[Network] | None) -> str:
    """An allowlist entry as written (any YAML value) -> its network in canonical form; else why not.

    The network itself goes to the validation context, `networks` (see `validate_document`): each entry is
    parsed once, here, and the allowlist is built from these objects.
    """
    try:
        network = parse_entry(0, value)
    except AllowlistEntryError as problem:
        raise Invalid(problem.message, problem) from None
    if networks is not None:
        networks.append(network)
    return network_text(network)


ProjectId = Annotated[str, Check(_project_id)]
# Validated before the strict string check: a number YAML made of an unquoted IPv6 address gets its own message.
AllowlistEntry = Annotated[str, Before(_allowlist_entry)]
ResourceName = Annotated[str, Check(_resource_name)]
Hostname = Annotated[str, Check(_hostname)]
ZoneName = Annotated[str, Check(_zone_name)]
BucketName = Annotated[str, Check(_bucket_name)]
StorageLocation = Annotated[str, Check(_location)]
Region = Annotated[str, Check(_region)]
ObjectPrefix = Annotated[str, Check(_object_prefix)]
ApiEndpoint = Annotated[str, Check(_api_endpoint)]
ExtraFile = Annotated[str, Check(_extra_file)]
TtlSeconds = Annotated[int, Bounds(ge=0, le=_MAX_TTL_SECONDS)]

# The config's models are `iac.schema` models (frozen records): unknown keys are errors (a typo must never be
# ignored) and values are not coerced ("3600" is no int).


class BucketConfig(Model):
    """The Cloud Storage bucket that holds the data."""

    name: Annotated[BucketName, Doc("Cloud Storage bucket holding the data (GCS naming rules).")]
    location: Annotated[
        StorageLocation | None,
        Doc(
            "Bucket location: `EU`, `US`, `europe-west1`, ... With `create: false` it has no effect (the existing "
            "bucket's location is read from Google): a warning says so; `origin_region` sets the signing region."
        ),
    ] = None
    create: Annotated[bool, Doc("`false` serves an existing bucket, read by name and never modified.")] = True
    origin_region: Annotated[Region | None, Doc("Region the load balancer signs bucket requests for.")] = None
    cors: Annotated[
        bool,
        Doc(
            "A bucket the module creates gets Encord's CORS rule (the `cors:` settings, or their defaults: "
            "Encord's origins, read access), stated in the rendered `main.tf`: without it the web app cannot read"
            " the files in the browser. `false` sets none. An existing bucket's CORS is not managed by the "
            "Terraform (the render summary says how: a `cors.targets` entry and `iac cors apply`)."
        ),
    ] = True


class CdnConfig(Model):
    """How long Cloud CDN and browsers cache an object."""

    default_ttl: Annotated[TtlSeconds, Doc("Seconds an object stays in the CDN cache (0 to 31622400).")] = 3600
    client_ttl: Annotated[TtlSeconds, Doc("Seconds browsers may cache an object (0 to 31622400).")] = 3600


class GcsBackend(Model):
    """Terraform state in a Cloud Storage bucket."""

    bucket: Annotated[BucketName, Doc("State bucket (private, versioned).")]
    prefix: Annotated[ObjectPrefix | None, Doc("Object prefix of the state in that bucket.")] = None


class BackendConfig(Model):
    """Where Terraform keeps its state, which holds the HMAC secret: a private, versioned bucket."""

    gcs: GcsBackend


class TerraformConfig(Model):
    """Settings of the rendered Terraform configuration."""

    backend: BackendConfig | None = None
    # Files beside the rendering that the user adds to the root module on purpose (their own alerts.tf), relative
    # to the output directory. Anything else there that Terraform would read is refused (iac.extras).
    extra_files: Annotated[
        list[ExtraFile],
        Doc(
            "Files you add to the output directory on purpose, e.g. `[alerts.tf]`: paths relative to it (no "
            "absolute path, no `..`, no `.` or empty part, no backslash, no control character; not Terraform's or"
            ' iac\'s working files). Any other file Terraform would read there is refused; see "Extra files".'
        ),
    ] = field(default_factory=list)


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


class GcpConfig(Model):
    """Google API settings."""

    api_endpoint: Annotated[
        ApiEndpoint | None,
        Doc(
            "Compute API endpoint for cache invalidation, e.g. a Private Service Connect endpoint "
            "`https://compute-acme.p.googleapis.com`. `IAC_GCP_API_ENDPOINT` overrides it. Plain `http://` only "
            "for a local stub on a loopback address (then no credentials are sent)."
        ),
    ] = None


def _generation(value: int) -> int:
    if value < 1:
        raise Invalid(
            "must be a whole number from 1: the generation of the HMAC key deployed (`iac hmac rotate` raises it "
            "by one); write the last generation applied, or 1 if the key was never rotated"
        )
    return value


class HmacKeyConfig(Model):
    """The HMAC key the load balancer signs its bucket requests with."""

    # Each new generation replaces the HMAC key the load balancer signs with, the new key in use before the
    # old one is deleted (modules/gcp-direct-access/service-account.tf).
    generation: Annotated[
        int,
        Check(_generation),
        Doc(
            "Generation of the HMAC key the load balancer signs its bucket requests with: a whole number from 1. "
            "Raising it by one (`iac hmac rotate`) makes the next apply replace the key, the new one in use "
            'before the old one is deleted; see "Rotating the HMAC key".'
        ),
    ] = 1


# Encord's two public deployments: the EU one (the SDK's default) and the US one. A key is registered with one.
ENCORD_DOMAIN = "https://api.encord.com"
ENCORD_US_DOMAIN = "https://api.us.encord.com"
_ENCORD_DOMAIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?")


def encord_domain_problem(value: str) -> str | None:
    """Why `value` cannot be an Encord API domain (`encord.domain`, IAC_ENCORD_DOMAIN), or None."""
    if not _ENCORD_DOMAIN.fullmatch(value):
        return (
            f"is not an http(s) URL of a scheme and host only: write {ENCORD_DOMAIN} (EU) or {ENCORD_US_DOMAIN} (US), "
            "the deployment your key is registered with"
        )
    return None


def _encord_domain(value: str) -> str:
    problem = encord_domain_problem(value)
    if problem:
        raise Invalid(problem)
    return value


def _encord_name(value: str) -> str:
    if not value.strip():
        raise Invalid("is empty: write the title as Encord shows it")
    if _CONTROL.search(value):
        raise Invalid("must not contain control characters such as newlines")
    if len(value) > 1000:
        raise Invalid("is longer than 1,000 characters: is it the title Encord shows?")
    return value


EncordDomain = Annotated[str, Check(_encord_domain)]
EncordName = Annotated[str, Check(_encord_name)]


class EncordConfig(Model):
    """Where `iac manifest register` puts the registration files: the cloud integration (by title) Encord reads
    the bucket through, the storage folder (by name), the API domain, and a dataset to link the items to."""

    integration: Annotated[
        EncordName | None,
        Doc(
            "Title of the cloud integration Encord reads the bucket through (the Direct Access one), as Encord "
            "shows it."
        ),
    ] = None
    folder: Annotated[EncordName | None, Doc("Name of the Encord storage folder the files are registered in.")] = None
    domain: Annotated[
        EncordDomain,
        Doc(
            "Encord's API: `https://api.encord.com` (EU) or `https://api.us.encord.com` (US), the deployment the "
            "key is registered with; an `http(s)://` scheme and host only. `IAC_ENCORD_DOMAIN` overrides it."
        ),
    ] = ENCORD_DOMAIN
    dataset: Annotated[
        EncordName | None,
        Doc("Title of a dataset to link the registered items to; created when missing."),
    ] = None


class Config(Model):
    project: Annotated[ProjectId, Doc("GCP project ID that holds every resource (6-30 characters, lowercase).")]
    name: Annotated[
        ResourceName,
        Doc(
            "Prefix of every GCP resource name, 1-22 characters (`[a-z]([-a-z0-9]*[a-z0-9])?`). Use one per "
            "deployment in a project."
        ),
    ] = "encord-da"
    domain: Annotated[
        Hostname,
        Doc("Hostname the data is served on and the managed certificate is issued for (lowercase, no trailing dot)."),
    ]
    dns_zone: Annotated[
        ZoneName | None,
        Doc(
            "Cloud DNS managed zone **name** (e.g. `acme-com`, see `gcloud dns managed-zones list`) in which to "
            "create the A record. Absent: no DNS record."
        ),
    ] = None
    bucket: BucketConfig
    # Each entry validated and in canonical form (a bare address becomes /32 or /128); merged and sorted
    # into the ranges of the rules in `LoadedConfig.allowlist`.
    allowlist: Annotated[
        list[AllowlistEntry],
        Doc(
            "Public addresses that may read the data: IPv4/IPv6 CIDRs or bare addresses; private, reserved and "
            "catch-all ranges are refused."
        ),
    ]
    allowlist_max_rules: Annotated[
        int,
        Bounds(ge=1),
        Doc(
            "Most Cloud Armor allow rules the list may need (10 ranges each). The default is a policy's 200 rules"
            " less the default rule; each deployment has two policies, so the project's `SECURITY_POLICY_RULES` "
            "quota must cover 2 x (rules + 1)."
        ),
    ] = DEFAULT_MAX_RULES
    allowlist_allow_empty: Annotated[
        bool,
        Doc(
            "`true` accepts an empty `allowlist`: every request is denied (a deliberate lock-down; `iac allowlist"
            " remove --allow-empty` writes it)."
        ),
    ] = False
    cdn: CdnConfig = CdnConfig()
    hmac_key: HmacKeyConfig = HmacKeyConfig()
    terraform: TerraformConfig = TerraformConfig()
    gcp: GcpConfig = GcpConfig()
    cors: CorsConfig | None = None
    encord: EncordConfig | None = None


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config, its normalised allowlist, and the file it came from.

    `warnings`: what is valid but doubtful (a very wide allowlist range), each `file:line: key: text`;
    commands print them on stderr, and `--json` documents carry them under "warnings".
    """

    path: Path
    config: Config
    allowlist: Allowlist
    warnings: tuple[str, ...] = ()
    # Each allowlist entry's network and its comment in the file ("" without one), in the file's order.
    notes: tuple[tuple[Network, str], ...] = ()


def load_config(path: Path) -> LoadedConfig:
    """Read, parse and validate `path`. Raises ConfigError listing every problem, each with file and line."""
    document = load_yaml(path)
    return validate_document(document)


def validate_document(document: YamlDocument) -> LoadedConfig:
    """`document` checked against the schema and every rule across fields: a LoadedConfig, or ConfigError
    listing every problem in line order, each with its file, line and key."""
    data = document.data
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            [f"{document.path}:1: the config must be a mapping of keys (project, domain, bucket, ...), not {got}"]
        )
    problems = _Problems(document)
    # A string with a bidirectional control character gets that one message: what else is wrong with it
    # (not a hostname, not an address, ...) follows from the character, and would show it escaped anyway.
    for location, message in bidi_problems(data):
        problems.flagged.add(location)
        problems.report(location, message)
    # A value YAML reads as something else than it seems (`010` is 8, `on` is true) or that another reader
    # would read differently (`0o10`, `y`, a tag) gets that message, with the form to write.
    for location, misread in document.misread.items():
        if location[:1] == ("allowlist",) and len(location) == 2 and misread.tag is None:
            continue  # the entry's own message says what YAML made of it, and what an entry is
        problems.flagged.add(location)
        problems.report(location, misread.message(expected_kind(location)))
    # Each allowlist entry is parsed once, by the schema, which hands its network over in `networks`.
    networks: list[Network] = []
    config = _schema_checked(data, problems, networks)
    _check_empty_allowlist(data, problems)
    if config is None:
        problems.raise_any()
    assert config is not None
    allowlist = from_networks(networks, config.allowlist)
    _check_across_fields(config, allowlist, problems)
    problems.raise_any()
    notes = tuple(zip(networks, entry_comments(document, "allowlist", len(networks)), strict=True))
    return LoadedConfig(
        path=document.path,
        config=config,
        allowlist=allowlist,
        warnings=_warnings(document, config, networks),
        notes=notes,
    )


def _warnings(document: YamlDocument, config: Config, networks: list[Network]) -> tuple[str, ...]:
    """What is valid but doubtful: a key that is ignored, a very wide allowlist range, each at its line (one
    network per entry, in order)."""
    ignored = []
    if not config.bucket.create and config.bucket.location is not None:
        ignored.append(
            f"{document.where(('bucket', 'location'))}: is ignored: the bucket exists (bucket.create is false) and "
            "its location is read from Google; remove it (bucket.origin_region sets the region requests are signed "
            "for)"
        )
    return tuple(ignored) + tuple(
        f"{document.where(('allowlist', index))}: {warning}"
        for index, network in enumerate(networks)
        if (warning := width_warning(network)) is not None
    )


# The values `iac init` writes as examples: a config that still holds one is not yet the user's own.
STARTER_PLACEHOLDERS: dict[Location, tuple[str, str]] = {
    ("project",): ("my-gcp-project", "your GCP project ID"),
    ("domain",): ("encord-directaccess.acme.com", "the hostname Encord will read from"),
    ("dns_zone",): ("acme-com", "your Cloud DNS managed zone's name, or remove dns_zone"),
    ("bucket", "name"): ("encord-data", "your bucket's name"),
}


def placeholder_warnings(loaded: LoadedConfig) -> list[str]:
    """The starter config's example values still in `loaded` (for `iac validate`), each with what to set."""
    config = loaded.config
    values: dict[Location, str | None] = {
        ("project",): config.project,
        ("domain",): config.domain,
        ("dns_zone",): config.dns_zone,
        ("bucket", "name"): config.bucket.name,
    }
    return [
        f"{loaded.path}: {'.'.join(str(part) for part in key)}: {placeholder!r} is the starter config's example: "
        f"set {what}"
        for key, (placeholder, what) in STARTER_PLACEHOLDERS.items()
        if values[key] == placeholder
    ]


class _Problems:
    """The problems found in one document, each at its line; `flagged` keys already have their message."""

    def __init__(self, document: YamlDocument) -> None:
        self.document = document
        self.found: list[tuple[int, str]] = []
        self.flagged: set[Location] = set()

    def report(self, location: Location, message: str) -> None:
        self.found.append((self.document.line_of(location), f"{self.document.where(location)}: {message}"))

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError([text for _, text in sorted(self.found, key=lambda p: p[0])])


def _schema_checked(data: dict[str, Any], problems: _Problems, networks: list[Network]) -> Config | None:
    """The config as the schema reads it, or None with every schema problem reported."""
    try:
        return validate(Config, data, context=networks)
    except SchemaError as exc:
        for problem in exc.problems:
            if problem.location in problems.flagged and problem.kind != "unknown-key":
                continue
            problems.report(problem.location, _worded(problem, problems.document.source.get(problem.location)))
        return None


def _worded(problem: Problem, text: str | None) -> str:
    """The checker's message; or, where YAML read `text` (the value as written) as something else, what it read."""
    if isinstance(problem.detail, AllowlistEntryError):
        return _entry_problem(problem.detail, text)
    if problem.kind == "type" and problem.expected is str and text is not None and _surprising(text, problem.value):
        return f'{_misread(text, problem.value)}: quote it ("{clip(text)}")'
    if problem.kind == "type" and problem.expected in (int, bool) and not isinstance(problem.value, bool | int):
        return _not_a(problem.expected, problem.value, text)
    if problem.kind == "type" and problem.expected is int and isinstance(problem.value, bool):
        return _not_a(int, problem.value, text)
    return problem.message


def _not_a(expected: type, value: object, text: str | None) -> str:
    """A value of the wrong type for a number or a boolean key, as written, and what to write instead."""
    if value is None:
        written = text or "an empty value"
    else:
        written = text if text is not None else (f'"{clip(value)}"' if isinstance(value, str) else show(value))
    what, write = ("a whole number", "the number") if expected is int else ("a boolean", "true or false")
    if isinstance(value, str):
        return f"{written} is text, not {what}: write {write} without quotes"
    return f"{written} is not {what}: write {write}"


def _check_empty_allowlist(data: dict[str, Any], problems: _Problems) -> None:
    if data.get("allowlist") == [] and data.get("allowlist_allow_empty") is not True:
        problems.report(
            ("allowlist",),
            "is empty: list at least one address or range that may read the data (an empty allowlist "
            "would lock everyone out; if that is intended, also set allowlist_allow_empty: true)",
        )


def _check_across_fields(config: Config, allowlist: Allowlist, problems: _Problems) -> None:
    """The rules that involve more than one field: CORS settings, the bucket's location, the rule limit."""
    if config.cors is not None:
        for location, message in cors_problems(config.cors):
            if location not in problems.flagged:
                problems.report(location, message)
        for index, target in enumerate(config.cors.targets):
            if target.provider == "gcp" and target.bucket == config.bucket.name and config.bucket.create:
                problems.report(
                    ("cors", "targets", index),
                    f"gs://{target.bucket} is created by the Direct Access configuration, which already sets its "
                    "CORS from these settings: remove this target",
                )
    if config.bucket.create and config.bucket.location is None:
        problems.report(("bucket", "location"), "is required when bucket.create is true (e.g. EU, US, europe-west1)")
    if allowlist.ranges:
        too_many = over_limit_message(len(allowlist.ranges), config.allowlist_max_rules)
        if too_many:
            problems.report(("allowlist",), too_many)


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


def bidi_problems(data: Any, location: Location = ()) -> Iterator[tuple[Location, str]]:
    """Every string in `data` (a parsed config) that holds a bidirectional control character, with why.

    Config strings end up in rendered Terraform, in bucket CORS rules and in messages, where such a
    character would make the text display differently from what it is.
    """
    if isinstance(data, str):
        if _BIDI.search(data):
            found = [(i, c) for i, c in enumerate(data) if _BIDI.match(c)]
            listed = ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c)}) at character {i + 1}" for i, c in found[:3])
            if len(found) > 3:
                listed += f" and {len(found) - 3} more"
            what, it = (
                ("invisible bidirectional control characters", "them")
                if len(found) > 1
                else ("an invisible bidirectional control character", "it")
            )
            yield (
                location,
                f"{show(data)} contains {what}, {listed}: it makes text display in a different order than it is "
                f"stored; delete {it}",
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from bidi_problems(value, (*location, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from bidi_problems(value, (*location, index))


def _entry_problem(problem: AllowlistEntryError, text: str | None) -> str:
    """The message for a bad allowlist entry; `text` is the entry as written when YAML read it as no string."""
    if text is None or isinstance(problem.value, str):
        return f"{show(problem.value)} {problem.message}"
    if problem.value is None and not text.strip():
        return "is empty: remove the entry or write an IP address or CIDR"
    if isinstance(problem.value, int | float) and not isinstance(problem.value, bool) and ":" in text:
        # YAML 1.1 reads digits in colon-separated groups as a base-60 number (12:30 is 750).
        return f'{_misread(text, problem.value)}: quote IPv6 addresses ("{clip(text)}")'
    return (
        f"{_misread(text, problem.value)}: an allowlist entry is an IP address or CIDR (examples: 39.42.20.11, "
        "130.192.120.0/24, 2a00:1450:4001::/48)"
    )


def _misread(text: str, value: object) -> str:
    """`text` (a plain scalar as written) and what YAML 1.1 made of it."""
    if isinstance(value, bool):
        what = f"the boolean {str(value).lower()}"
    elif isinstance(value, int | float):
        what = f"the number {value!r}"
    elif value is None:
        what = "null (no value)"
    elif isinstance(value, datetime.date):
        what = f"the date {value.isoformat()}"
    else:
        what = f"a {type(value).__name__}"
    return f"{clip(text)} was read by YAML as {clip(what)}"


def _surprising(text: str, value: object) -> bool:
    """Whether YAML 1.1 read `text` as something its writer would hardly expect (`12:30` as 750, `on` as true)."""
    if isinstance(value, bool):
        return text.lower() not in ("true", "false")
    if isinstance(value, int | float):
        return text != str(value)
    return isinstance(value, datetime.date)


_KINDS = {int: "int", bool: "bool", str: "str"}


def expected_kind(location: Location) -> str | None:
    """ "int", "bool" or "str": what the config's schema takes at `location` (no tag of a cors target in it),
    or None for a list, a mapping or an unknown key."""
    annotations: list[Any] = [Config]
    for part in location:
        found = []
        for member in (m for annotation in annotations for m in _members(annotation)):
            if isinstance(part, int) and get_origin(member) is list:
                found.append(get_args(member)[0])
            elif isinstance(part, str) and is_model(member) and part in fields_of(member):
                found.append(fields_of(member)[part])
        annotations = found
    kinds = set()
    for member in (m for annotation in annotations for m in _members(annotation)):
        if get_origin(member) is Literal:
            member = type(get_args(member)[0])
        if member is not type(None):
            kinds.add(_KINDS.get(member))
    return kinds.pop() if len(kinds) == 1 else None


def _members(annotation: Any) -> list[Any]:
    """The types `annotation` allows, through Annotated, unions and Optional."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


# What other modules import from here.
__all__ = [
    "CORS_RULE_ID",
    "DEFAULT_CORS_ORIGINS",
    "AwsCorsTarget",
    "AzureCorsTarget",
    "Config",
    "CorsConfig",
    "CorsRule",
    "CorsTarget",
    "GcpCorsTarget",
    "HmacKeyConfig",
    "LoadedConfig",
    "OtcCorsTarget",
    "load_config",
    "validate_document",
]
