"""The config's models: every key of `iac.yaml`, its type, bounds and checks (the contract other tools build on)."""

from __future__ import annotations

import re
from typing import Annotated

from iac.allowlist.ranges import DEFAULT_MAX_RULES
from iac.config.cors import CorsConfig
from iac.config.schema import Bounds, Check, Doc, Invalid, Model, field
from iac.config.values import (
    CONTROL,
    AllowlistEntry,
    ApiEndpoint,
    BucketName,
    ExtraFile,
    Hostname,
    ObjectPrefix,
    ProjectId,
    Region,
    ResourceName,
    StorageLocation,
    TtlSeconds,
    ZoneName,
)

# The config's models are `iac.config.schema` models (frozen records): unknown keys are errors (a typo must never be
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
            "Encord's origins, read access), stated in the rendered `serving/main.tf`: without it the web app "
            "cannot read the files in the browser. `false` sets none. An existing bucket's CORS is not managed by the "
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
    # Files beside the rendering that the user adds to a root module on purpose (their own serving/alerts.tf),
    # relative to the output directory. Anything else there that Terraform would read is refused
    # (iac.terraform.extras).
    extra_files: Annotated[
        list[ExtraFile],
        Doc(
            "Files you add to the output directory on purpose, e.g. `[serving/alerts.tf]`: paths relative to it, "
            "in `serving/` or `allowlist/` (no absolute path, no `..`, no `.` or empty part, no backslash, no "
            "control character; not Terraform's or iac's working files). Any other file Terraform would read "
            'there is refused; see "Extra files".'
        ),
    ] = field(default_factory=list)


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
    if CONTROL.search(value):
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
