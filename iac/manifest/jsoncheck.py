"""Check a registration file's JSON against Encord's format: every problem, at the place of its value."""

from __future__ import annotations

import re

from iac.manifest import formats
from iac.manifest.jsonpos import (
    JSON_NUMBER,
    JsonArray,
    JsonMember,
    JsonNode,
    JsonObject,
    JsonScalar,
    member_path,
    parse_json,
)
from iac.manifest.problems import Problem, quoted, suggest
from iac.manifest.urls import url_problems

_SINGLE_FILE_KEYS = frozenset(formats.KIND_KEYS.values()) - formats.MULTI_FILE_KEYS
_CREATE_VIDEO_OPTIONAL = frozenset({"images", "videos", "dicom_series"})  # optional there; required for image_groups
_NUMBERED_URL = re.compile(r"objectUrl_([0-9]+)")
# Per kind: the metadata key and the expected type of each field (a type, or a tuple of types).
_METADATA: dict[str, tuple[str, dict[str, object]]] = {
    kind: (key, dict(fields)) for kind, (key, fields) in formats.METADATA.items() if isinstance(fields, dict)
}
_METADATA_KINDS = {key: kind for kind, (key, _) in _METADATA.items()}
# Names people use for a kind key, beyond near-misses difflib finds.
_KIND_ALIASES = {**formats.KIND_KEYS, "image_sequences": "image_groups", "dicom_files": "dicom_series"}
_WHAT_NAMES = {
    "image_groups": "it names the image group (or image sequence)",
    "dicom_series": "it names the DICOM series",
}


def check_json(text: str, path: str, domain: str | None) -> list[Problem]:
    """The problems of the JSON registration file `text` (read from `path`): syntax first, then format."""
    root, problems = parse_json(text, path)
    if root is None:
        return problems
    checker = _JsonChecker(path, domain)
    checker.top_level(root)
    return problems + checker.problems


def _describe(node: JsonNode) -> str:
    if isinstance(node, JsonObject):
        return "an object"
    if isinstance(node, JsonArray):
        return "a list"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    return f"the number {value}"


def _type_name(expected: object) -> str:
    if expected is bool:
        return "true or false"
    if expected is int:
        return "an integer"
    if expected is str:
        return "a string"
    return "a number"


def _has_type(value: object, expected: object) -> bool:
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if isinstance(expected, type | tuple):
        return isinstance(value, expected)
    return False


class _JsonChecker:
    def __init__(self, path: str, domain: str | None) -> None:
        self.path = path
        self.domain = domain
        self.problems: list[Problem] = []

    def add(self, at: JsonNode | JsonMember, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, at.line, at.column, where, message))

    def top_level(self, root: JsonNode) -> None:
        if not isinstance(root, JsonObject):
            self.add(root, "", f'the top level must be an object like {{"images": [...]}}, not {_describe(root)}')
            return
        known = sorted(formats.TOP_LEVEL_KEYS)
        kinds = sorted(formats.KIND_KEYS.values())
        registers = False
        for member in root.members:
            if member.key in formats.FLAG_KEYS:
                if not _has_type(_scalar(member.value), formats.FLAG_KEYS[member.key]):
                    self.add(
                        member.value,
                        member.key,
                        f'"{member.key}" must be true or false (without quotes), not {_describe(member.value)}',
                    )
            elif member.key in formats.MULTI_FILE_KEYS or member.key in _SINGLE_FILE_KEYS:
                registers = True
                self.units(member)
            else:
                registers = True  # probably a misspelt kind: its own problem says so
                self.add(
                    member,
                    member_path("", member.key),
                    f'unknown top-level key "{member.key}"{suggest(member.key, known, _KIND_ALIASES)} '
                    f"(the keys are {', '.join(known)})",
                )
        if not registers:
            self.add(root, "", f"nothing to register: add a list of files under one of {', '.join(kinds)}")

    def units(self, member: JsonMember) -> None:
        kind, value = member.key, member.value
        example = (
            '{"title": "...", "objectUrl_0": "..."}' if kind in formats.MULTI_FILE_KEYS else '{"objectUrl": "..."}'
        )
        if not isinstance(value, JsonArray):
            self.add(value, kind, f'"{kind}" must be a list of objects like [{example}], not {_describe(value)}')
            return
        for index, item in enumerate(value.items):
            where = f"{kind}[{index}]"
            if not isinstance(item, JsonObject):
                self.add(item, where, f"each item of {kind} must be an object like {example}, not {_describe(item)}")
            elif kind in formats.MULTI_FILE_KEYS:
                self.multi_file(kind, item, where)
            else:
                self.single_file(kind, item, where)

    def single_file(self, kind: str, item: JsonObject, where: str) -> None:
        metadata_key = _METADATA[kind][0] if kind in _METADATA else None
        allowed = {"objectUrl", "title", "clientMetadata"} | ({metadata_key} if metadata_key else set())
        if kind in _CREATE_VIDEO_OPTIONAL:
            allowed.add("createVideo")
        has_url = False
        for member in item.members:
            at = member_path(where, member.key)
            if member.key == "objectUrl":
                has_url = True
                self.url(member.value, at)
            elif member.key == "title":
                self.title(member.value, at)
            elif member.key == "clientMetadata":
                self.client_metadata(member.value, at)
            elif member.key == "createVideo" and "createVideo" in allowed:
                self.create_video(member.value, at)
            elif member.key == metadata_key:
                self.metadata(kind, member.value, at)
            else:
                self.unknown_unit_key(kind, member, at, allowed)
        if not has_url:
            self.add(item, where, f'"objectUrl" is missing: each item of {kind} needs the URL of its file')

    def multi_file(self, kind: str, item: JsonObject, where: str) -> None:
        allowed = {"objectUrl_0", "objectUrl_1", "title", "createVideo", "clientMetadata"}
        numbered: dict[int, JsonMember] = {}
        plain: JsonMember | None = None
        has_title = has_create = False
        for member in item.members:
            at = member_path(where, member.key)
            number = _NUMBERED_URL.fullmatch(member.key)
            if number and str(int(number.group(1))) == number.group(1):
                numbered.setdefault(int(number.group(1)), member)
                self.url(member.value, at)
            elif number:
                self.add(
                    member,
                    at,
                    f'"{member.key}": numbers have no leading zeros; write "objectUrl_{int(number.group(1))}"',
                )
            elif member.key == "objectUrl":
                plain = member
                self.url(member.value, at)
            elif member.key == "title":
                has_title = True
                self.title(member.value, at)
            elif member.key == "createVideo":
                has_create = True
                self.create_video(member.value, at)
            elif member.key == "clientMetadata":
                self.client_metadata(member.value, at)
            else:
                self.unknown_unit_key(kind, member, at, allowed)
        if plain is not None:
            fix = "rename it" if numbered else 'rename it to "objectUrl_0"'
            self.add(
                plain,
                member_path(where, "objectUrl"),
                f'items of {kind} list their files as "objectUrl_0", "objectUrl_1", ..., not "objectUrl": {fix}',
            )
        elif not numbered:
            self.add(
                item,
                where,
                f'"objectUrl_0" is missing: each item of {kind} lists its files as objectUrl_0, objectUrl_1, ...',
            )
        if numbered:
            self.gaps(numbered, where)
        if not has_title:
            self.add(item, where, f'"title" is missing: each item of {kind} needs a title ({_WHAT_NAMES[kind]})')
        if kind == "image_groups" and not has_create:
            self.add(
                item,
                where,
                '"createVideo" is missing: it is required for image_groups: false for an image group, true for an '
                "image sequence (the default, true, makes a video and needs write access to the bucket)",
            )

    def gaps(self, numbered: dict[int, JsonMember], where: str) -> None:
        present = sorted(numbered)
        total = present[-1] + 1 - len(present)
        if not total:
            return
        missing: list[int] = []  # the first few
        previous = -1
        for index in present:
            for gap in range(previous + 1, index):
                if len(missing) == 5:
                    break
                missing.append(gap)
            previous = index
        names = ", ".join(f"objectUrl_{i}" for i in missing)
        if total > len(missing):
            names += f" and {total - len(missing)} more"
        verb = "is" if total == 1 else "are"
        after = numbered[min(i for i in present if i > missing[0])]
        self.add(
            after,
            where,
            f"{names} {verb} missing: the files must be numbered objectUrl_0 to objectUrl_{present[-1]} without gaps",
        )

    def unknown_unit_key(self, kind: str, member: JsonMember, at: str, allowed: set[str]) -> None:
        key = member.key
        own = _METADATA[kind][0] if kind in _METADATA else None
        if key in _METADATA_KINDS:
            takes = f'take "{own}"' if own else "take no file metadata"
            message = f'"{key}" is the metadata of {_METADATA_KINDS[key]}; items of {kind} {takes}'
        elif _NUMBERED_URL.fullmatch(key):
            message = (
                f'numbered keys like "{key}" are for image_groups and dicom_series; '
                f'items of {kind} have one "objectUrl"'
            )
        elif key in formats.FLAG_KEYS:
            message = f'"{key}" is a top-level flag, not a key of each item: move it next to "{kind}"'
        elif key == "createVideo":
            message = f'"createVideo" does not apply to {kind}: remove it'
        else:
            known = ", ".join(sorted(allowed))
            message = f'unknown key "{key}" in an item of {kind}{suggest(key, allowed)} (the keys are {known})'
        self.add(member, at, message)

    def url(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if not isinstance(value, str):
            self.add(node, where, f"the object URL must be a string, not {_describe(node)}")
            return
        if not value:
            self.add(node, where, "the object URL is empty")
            return
        for message in url_problems(value, self.domain):
            self.add(node, where, message)

    def title(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if not isinstance(value, str):
            self.add(node, where, f"the title must be a string, not {_describe(node)}")
        elif not value.strip():
            self.add(node, where, "the title is empty: give a name")

    def create_video(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            self.add(
                node,
                where,
                f"createVideo must be the JSON boolean {value.strip().lower()} without quotes, not {_describe(node)}",
            )
        else:
            self.add(node, where, f"createVideo must be true or false, not {_describe(node)}")

    def client_metadata(self, node: JsonNode, where: str) -> None:
        if not isinstance(node, JsonObject):
            self.add(node, where, f'clientMetadata must be an object like {{"key": "value"}}, not {_describe(node)}')

    def metadata(self, kind: str, node: JsonNode, where: str) -> None:
        key, fields = _METADATA[kind]
        listing = ", ".join(fields)
        if not isinstance(node, JsonObject):
            self.add(node, where, f"{key} must be an object with {listing}, not {_describe(node)}")
            return
        seen: set[str] = set()
        for member in node.members:
            at = member_path(where, member.key)
            if member.key not in fields:
                self.add(
                    member,
                    at,
                    f'unknown field "{member.key}" in {key}{suggest(member.key, fields)} ({key} has {listing})',
                )
                continue
            seen.add(member.key)
            expected = fields[member.key]
            if not _has_type(_scalar(member.value), expected):
                hint = ""
                value = _scalar(member.value)
                if isinstance(value, str) and JSON_NUMBER.fullmatch(value.strip()):
                    hint = f": write {value.strip()} without quotes"
                elif isinstance(value, bool) and expected is not bool:
                    hint = ": true and false are not numbers"
                self.add(
                    member.value,
                    at,
                    f"{key}.{member.key} must be {_type_name(expected)}, not {_describe(member.value)}{hint}",
                )
        for field, expected in fields.items():
            if field not in seen:
                self.add(node, where, f'{key} is missing "{field}" ({_type_name(expected)})')


def _scalar(node: JsonNode) -> object:
    """The Python value of a scalar node; a marker object for objects and lists (matching no type)."""
    return node.value if isinstance(node, JsonScalar) else node
