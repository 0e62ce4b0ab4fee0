"""The checks of single config values (project IDs, names, hostnames, bucket names, locations, paths...) and the
annotated types the models are built of."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from iac.allowlist.ranges import AllowlistEntryError, Network, network_text, parse_entry
from iac.config.schema import Before, Bounds, Check, Invalid

_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ZONE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,40}")
_REGION = re.compile(r"[a-z][a-z0-9-]{1,40}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): invisible, they
# make text display in another order than it is read ("Trojan Source", CVE-2021-42574).
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
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
    if CONTROL.search(value):
        raise Invalid("must not contain control characters such as newlines")
    if not value or len(value.encode()) > 512:
        raise Invalid("must be 1-512 bytes")
    return value


def _extra_file(value: str) -> str:
    """A file of the output directory's root module the user adds on purpose: a plain relative path in it."""
    from iac.files.ledger import LEDGER, STAGING, is_terraforms

    if not value:
        raise Invalid("is empty: write a path relative to the output directory, e.g. serving/alerts.tf")
    if CONTROL.search(value):
        raise Invalid("contains a control character (a NUL, a newline, ...): write a plain file name")
    if value.startswith("/") or re.match(r"[A-Za-z]:", value):
        raise Invalid("is an absolute path: write it relative to the output directory, e.g. serving/alerts.tf")
    if "\\" in value:
        raise Invalid("contains a backslash: separate directories with /, e.g. serving/modules/alerts/main.tf")
    parts = value.split("/")
    if ".." in parts:
        raise Invalid("leads out of the output directory (..): name a file inside it, e.g. serving/alerts.tf")
    if "" in parts or "." in parts:
        plain = "/".join(part for part in parts if part not in ("", "."))
        raise Invalid(f"is not a plain relative path: write {plain!r}" if plain else "names no file")
    if is_terraforms(value) or parts[0] in (LEDGER, STAGING):
        raise Invalid("is a working file of Terraform or iac, not a file of the configuration: remove it")
    if parts[0] not in ("serving", "allowlist"):
        # The single-root layout of earlier versions had its root module at the top: the same file, one level down.
        raise Invalid(
            "is outside both root modules (serving/, allowlist/), where Terraform no longer reads it: move the "
            f"file into serving/ and declare it as 'serving/{value}' (or into allowlist/, for what goes with the "
            "allow rules)"
        )
    if len(parts) < 2:
        raise Invalid(f"names the root module {value}/, not a file in it: write e.g. {value}/alerts.tf")
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
