"""Rotate the HMAC key: raise `hmac_key.generation` in the config file by one, touching nothing else.

The generation's number is found with the YAML parser's marks and replaced as text (or `hmac_key:` is added at
the end of a file that has none), so every other byte of the file (comments, key order, line endings, a BOM)
stays as it was. The module replaces the key when the generation changes, the new key in use before the old one
goes (modules/gcp-direct-access/service-account.tf).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from iac.config.load import LoadedConfig, validate_document
from iac.config.text import check_writable, read_config_text, write_config_text
from iac.config.yamldoc import compose, parse_yaml
from iac.errors import IacError

_PLAIN_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Rotation:
    """The edit of `iac hmac rotate`: the generation before and after, whether `hmac_key:` was added (the file had
    none: generation 1 by default), and the edited config, already validated (so `--apply` needs no second read)."""

    path: Path
    before: int
    after: int
    added_key: bool
    text: str
    original: str
    loaded: LoadedConfig
    written: bool = False

    @property
    def kind(self) -> str:
        return "HMAC key generation"

    @property
    def changed(self) -> bool:
        """Whether the config file changes (it does: a rotation always raises the generation)."""
        return self.text != self.original

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "generation": {"before": self.before, "after": self.after},
            "added_key": self.added_key,
            "changed": self.changed,
            "written": self.written,
            "warnings": list(self.loaded.warnings),
        }


def rotate(path: Path, *, lock_timeout: float) -> Rotation:
    """Read, validate, raise the generation, validate again and write the config, all under its lock file.

    A config that is not valid as it is (a generation of 0 or "x" included) is a ConfigError: nothing is written.
    """
    from iac.files.locks import locked

    check_writable(path, dry_run_hint=False)
    with locked(path, lock_timeout):
        original = read_config_text(path)  # ConfigError: missing, not a regular file, over the cap, not UTF-8
        document = parse_yaml(original, path)
        before = validate_document(document).config.hmac_key.generation
        text, added_key = raised(path, original, before)
        edited = parse_yaml(text, path)
        loaded = validate_document(edited)
        _check_only_the_generation_changed(path, document.data, edited.data, before + 1)
        write_config_text(path, original, text)
    return Rotation(path, before, before + 1, added_key, text, original, loaded, written=True)


def raised(path: Path, original: str, generation: int) -> tuple[str, bool]:
    """The text of the config `original` (valid, its generation `generation`) with the generation one higher, and
    whether `hmac_key:` had to be added. A layout iac cannot edit safely is an IacError saying what to write."""
    bom = "\ufeff" if original.startswith("\ufeff") else ""  # parsed without, written back
    body = original[len(bom) :]
    root = compose(body, path)
    assert isinstance(root, yaml.MappingNode)  # validated before
    new = generation + 1
    found = _entry(root, "hmac_key")
    if found is None:
        return bom + _with_key_added(path, body, root, new), True
    key, value = found
    if value.start_mark.index < key.end_mark.index or not isinstance(value, yaml.MappingNode):
        # The node of an anchor written before: an alias (`hmac_key: *keys`).
        raise _by_hand(path, key, "hmac_key: is an alias of a mapping written elsewhere", new)
    entry = _entry(value, "generation")
    if entry is None:  # `hmac_key: {}`: a block mapping cannot be empty
        start, end, replacement = value.start_mark.index, value.end_mark.index, f"{{generation: {new}}}"
    else:
        number_key, number = entry
        source = body[number.start_mark.index : number.end_mark.index]
        if number.start_mark.index < number_key.end_mark.index:  # `generation: *name`
            raise _by_hand(path, number_key, "hmac_key.generation is an alias of a value written elsewhere", new)
        if not _PLAIN_NUMBER.fullmatch(source):
            # An anchor (`&g 3`, which aliases may repeat elsewhere), a tag or a YAML 1.1 spelling (1_0).
            raise _by_hand(path, number_key, f"hmac_key.generation is written as {source!r}, not a plain number", new)
        start, end, replacement = number.start_mark.index, number.end_mark.index, str(new)
    return bom + body[:start] + replacement + body[end:], False


def _entry(mapping: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = [(k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == name]
    return found[-1] if found else None


def _with_key_added(path: Path, body: str, root: yaml.MappingNode, new: int) -> str:
    """`body` with `hmac_key:` added after the last key of the file (after its trailing comments too), at the
    indentation of the other top-level keys, ending its lines as the file's first line ends."""
    if root.flow_style:
        raise IacError(
            f"{path}:1: the config is written as one flow mapping ({{...}}): iac adds hmac_key: to a block mapping "
            f"only; add `hmac_key: {{generation: {new}}}` by hand"
        )
    lines = body.splitlines(keepends=True)
    ending = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "")
    newline = ending or "\n"
    indent = " " * root.value[0][0].start_mark.column
    # The mapping ends where the next token starts: the end of the file, or a document end marker (`...`).
    at = root.end_mark.index
    head = body[:at]
    if head and not head.endswith(("\n", "\r")):
        head += newline
    return f"{head}{indent}hmac_key:{newline}{indent}  generation: {new}{newline}{body[at:]}"


def _by_hand(path: Path, node: yaml.Node, what: str, new: int) -> IacError:
    return IacError(
        f"{path}:{node.start_mark.line + 1}: {what}: iac rewrites `generation: N` written out under hmac_key:; "
        f"write it so (`hmac_key: {{generation: {new - 1}}}`) and run again, or set generation: {new} by hand"
    )


def _check_only_the_generation_changed(path: Path, before: Any, after: Any, new: int) -> None:
    """The edited file must read as the original with only hmac_key.generation changed: whatever the file's layout,
    a rotation never changes another value."""
    expected = dict(before)
    expected["hmac_key"] = {**(before.get("hmac_key") or {}), "generation": new}
    if after != expected:
        raise IacError(
            f"{path}: raising hmac_key.generation in place would change other values of this file: nothing was "
            f"written; set hmac_key.generation: {new} by hand"
        )
