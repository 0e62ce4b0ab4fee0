"""The config file: its schema (the contract other tools build on) and loading with precise errors."""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from iac.allowlist import DEFAULT_MAX_RULES, Allowlist, AllowlistError, normalise, over_limit_message
from iac.errors import ConfigError
from iac.yamldoc import Location, YamlDocument, dotted, load_yaml

DEFAULT_CONFIG = Path("iac.yaml")

_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ZONE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,40}")
_REGION = re.compile(r"[a-z][a-z0-9-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TTL_SECONDS = 31_622_400  # one year, Cloud CDN's ceiling


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("iac", message)


def _project_id(value: str) -> str:
    if not _PROJECT_ID.fullmatch(value):
        raise _invalid(
            "is not a GCP project ID: 6-30 characters, lowercase letters, digits and hyphens, starting with a "
            "letter (the ID, not the display name or number; see `gcloud projects list`)"
        )
    return value


def _resource_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise _invalid(
            "must be 1-22 characters of lowercase letters, digits and hyphens, starting with a letter and not "
            "ending with a hyphen: it prefixes every GCP resource name (e.g. encord-da)"
        )
    return value


def _hostname(value: str) -> str:
    if value.endswith("."):
        raise _invalid(f"must not end with a dot: write {value.rstrip('.')!r}")
    if value != value.lower():
        raise _invalid(f"must be lowercase: write {value.lower()!r}")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _invalid(
            "is not a fully qualified hostname (lowercase letters, digits and hyphens in dot-separated labels, "
            "e.g. encord-directaccess.acme.com)"
        )
    if labels[-1].isdigit():
        raise _invalid("is an IP address, not a hostname: the managed certificate needs a DNS name")
    return value


def _zone_name(value: str) -> str:
    if "." in value:
        suggestion = value.rstrip(".").replace(".", "-")
        raise _invalid(
            f"looks like a DNS name; Cloud DNS wants the managed zone's NAME (e.g. {suggestion!r}, see "
            "`gcloud dns managed-zones list`)"
        )
    if not _ZONE_NAME.fullmatch(value):
        raise _invalid(
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
        raise _invalid(f"is not a valid Cloud Storage bucket name: {problem}")
    return value


def _location(value: str) -> str:
    if not _LOCATION.fullmatch(value):
        raise _invalid("is not a Cloud Storage location (e.g. EU, US, europe-west1, eur4)")
    return value


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise _invalid("is not a region name (lowercase, e.g. eu, us, europe-west1)")
    return value


def _object_prefix(value: str) -> str:
    if _CONTROL.search(value):
        raise _invalid("must not contain control characters such as newlines")
    if not value or len(value.encode()) > 512:
        raise _invalid("must be 1-512 bytes")
    return value


def _api_endpoint(value: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?", value):
        raise _invalid(
            "is not an API endpoint: write a scheme and host only, e.g. https://compute.googleapis.com or "
            "https://compute-acme.p.googleapis.com (Private Service Connect)"
        )
    return value


ProjectId = Annotated[str, AfterValidator(_project_id)]
ResourceName = Annotated[str, AfterValidator(_resource_name)]
Hostname = Annotated[str, AfterValidator(_hostname)]
ZoneName = Annotated[str, AfterValidator(_zone_name)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
StorageLocation = Annotated[str, AfterValidator(_location)]
Region = Annotated[str, AfterValidator(_region)]
ObjectPrefix = Annotated[str, AfterValidator(_object_prefix)]
ApiEndpoint = Annotated[str, AfterValidator(_api_endpoint)]
TtlSeconds = Annotated[int, Field(ge=0, le=_MAX_TTL_SECONDS)]


class _Strict(BaseModel):
    # Unknown keys are errors (a typo must never be ignored) and values are not coerced ("3600" is no int).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BucketConfig(_Strict):
    name: BucketName
    location: StorageLocation | None = None
    create: bool = True
    origin_region: Region | None = None


class CdnConfig(_Strict):
    default_ttl: TtlSeconds = 3600
    client_ttl: TtlSeconds = 3600


class GcsBackend(_Strict):
    bucket: BucketName
    prefix: ObjectPrefix | None = None


class BackendConfig(_Strict):
    gcs: GcsBackend


class TerraformConfig(_Strict):
    backend: BackendConfig | None = None


class GcpConfig(_Strict):
    api_endpoint: ApiEndpoint | None = None


class Config(_Strict):
    project: ProjectId
    name: ResourceName = "encord-da"
    domain: Hostname
    dns_zone: ZoneName | None = None
    bucket: BucketConfig
    allowlist: list[Any]
    allowlist_max_rules: Annotated[int, Field(ge=1)] = DEFAULT_MAX_RULES
    allowlist_allow_empty: bool = False
    cdn: CdnConfig = CdnConfig()
    terraform: TerraformConfig = TerraformConfig()
    gcp: GcpConfig = GcpConfig()


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config, its normalised allowlist, and the file it came from."""

    path: Path
    config: Config
    allowlist: Allowlist


def load_config(path: Path) -> LoadedConfig:
    """Read, parse and validate `path`. Raises ConfigError listing every problem, each with file and line."""
    document = load_yaml(path)
    return validate_document(document)


def validate_document(document: YamlDocument) -> LoadedConfig:
    data = document.data
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            [f"{document.path}:1: the config must be a mapping of keys (project, domain, bucket, ...), not {got}"]
        )
    problems: list[tuple[int, str]] = []

    def report(location: Location, message: str) -> None:
        problems.append((document.line_of(location), f"{document.where(location)}: {message}"))

    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            location = tuple(error["loc"])
            report(location, _describe(location, error))

    allowlist: Allowlist | None = None
    raw_allowlist = data.get("allowlist")
    if isinstance(raw_allowlist, list):
        try:
            allowlist = normalise(raw_allowlist)
        except AllowlistError as exc:
            for problem in exc.problems:
                report(("allowlist", problem.index), f"{_show(problem.value)} {problem.message}")
        if not raw_allowlist and data.get("allowlist_allow_empty") is not True:
            report(
                ("allowlist",),
                "is empty: list at least one address or range that may read the data (an empty allowlist "
                "would lock everyone out; if that is intended, also set allowlist_allow_empty: true)",
            )

    if config is not None:
        if config.bucket.create and config.bucket.location is None:
            report(("bucket", "location"), "is required when bucket.create is true (e.g. EU, US, europe-west1)")
        if allowlist is not None and raw_allowlist:
            too_many = over_limit_message(len(allowlist.ranges), config.allowlist_max_rules)
            if too_many:
                report(("allowlist",), too_many)

    if problems:
        raise ConfigError([text for _, text in sorted(problems, key=lambda p: p[0])])
    assert config is not None and allowlist is not None
    return LoadedConfig(path=document.path, config=config, allowlist=allowlist)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(location: Location, error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, key = location[:-1], str(location[-1])
        known = _known_keys(parent)
        hint = difflib.get_close_matches(key, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known keys here: {', '.join(known)}"
        return f"unknown key{suggestion}"
    if kind == "missing":
        return "is required"
    value = _show(error.get("input"))
    if kind == "iac":
        return f"{value} {error['msg']}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {value})"


def _known_keys(parent: Location) -> list[str]:
    model: type[BaseModel] = Config
    for part in parent:
        annotation = model.model_fields[str(part)].annotation if isinstance(part, str) else None
        nested = _model_in(annotation)
        if nested is None:
            return []
        model = nested
    return sorted(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


__all__ = ["DEFAULT_CONFIG", "Config", "LoadedConfig", "dotted", "load_config", "validate_document"]
