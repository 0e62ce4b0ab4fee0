"""Loading the config: the YAML document checked against the models and the rules across fields, every problem
at its file, line and key (`load_config`, `validate_document`), and the warnings a valid config may carry."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.allowlist.ranges import (
    Allowlist,
    AllowlistEntryError,
    Network,
    from_networks,
    over_limit_message,
    width_warning,
)
from iac.config.cors import cors_problems
from iac.config.messages import entry_problem, expected_kind, misread_as, surprising
from iac.config.models import Config
from iac.config.schema import Problem, SchemaError, clip, show, validate
from iac.config.values import BIDI
from iac.config.yamldoc import Location, YamlDocument, entry_comments, load_yaml
from iac.errors import ConfigError


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
        return entry_problem(problem.detail, text)
    if problem.kind == "type" and problem.expected is str and text is not None and surprising(text, problem.value):
        return f'{misread_as(text, problem.value)}: quote it ("{clip(text)}")'
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


def bidi_problems(data: Any, location: Location = ()) -> Iterator[tuple[Location, str]]:
    """Every string in `data` (a parsed config) that holds a bidirectional control character, with why.

    Config strings end up in rendered Terraform, in bucket CORS rules and in messages, where such a
    character would make the text display differently from what it is.
    """
    if isinstance(data, str):
        if BIDI.search(data):
            found = [(i, c) for i, c in enumerate(data) if BIDI.match(c)]
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
