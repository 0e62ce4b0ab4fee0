"""YAML reading that remembers where each value came from, so errors can point at a line, bounded against alias
bombs and deep nesting; the config file's text itself is read and written back by `iac.config.text`."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iac.config.text import read_config_text
from iac.errors import ConfigError

Location = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Most values that aliases (`*name`) may add to a document, counting every value again each time an alias
# repeats it, as reading the document does. Aliases cost nothing to write and multiply: nine lines of nested
# aliases ("billion laughs") stand for 9**9 values and would take tens of gigabytes to read. Values written
# out do not count (a file cannot hold more of them than it has bytes), so this bounds only the
# amplification, and a 20,000-entry allowlist is never affected. A real config has no use for more than a
# handful of aliased values (a bucket name, a list of origins); 100,000 would let aliases repeat even a
# 20,000-entry allowlist five times, yet reading them costs about 0.1 s and 15 MiB
# (benchmarks/bench_yaml.py).
MAX_ALIAS_VALUES = 100_000
# Deepest nesting of lists and mappings, aliases expanded. A config nests 4 levels (cors.targets[0].bucket);
# far deeper input would exhaust the recursion of the YAML composer (a crash) and of the conversion below.
MAX_DEPTH = 100

_ALIASES_HINT = "write the values out instead of using anchors/aliases (&, *)"


@dataclass
class YamlDocument:
    """A parsed YAML file: its data and the line (1-based) of every key and list item."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    # The text as written of every scalar YAML read as something other than a string (a number, boolean,
    # date or null: `2600:1:2:3:4:5:6:7` is a YAML 1.1 base-60 integer), so messages can show what the
    # user wrote rather than what YAML made of it.
    source: dict[Location, str] = field(default_factory=dict)
    # Values that mean something else than they seem (`010` is 8, `on` is true, a tag): see `Misread`. The
    # config's reader reports each as an error; iac accepts no YAML whose meaning depends on the reader.
    misread: dict[Location, Misread] = field(default_factory=dict)
    # The text parsed (its comments are nowhere else).
    text: str = ""

    def line_of(self, location: Location) -> int:
        """The line of `location`, or of its nearest enclosing key when it is absent (a missing field)."""
        for end in range(len(location), 0, -1):
            line = self.lines.get(location[:end])
            if line is not None:
                return line
        return 1

    def where(self, location: Location) -> str:
        """`file:line: dotted.path` for messages."""
        return f"{self.path}:{self.line_of(location)}: {dotted(location)}"


def entry_comment(line: str, above: Sequence[str]) -> str:
    """The comment of a list entry written on its own line: the one on that line (`- 81.2.69.160/28  # Lisbon
    office`), else the comment lines just above it (`above`: the lines between it and the entry before), joined;
    "" without one."""
    _, hash_mark, comment = line.partition(" #")
    if not hash_mark:
        parts = [text.strip().removeprefix("#").strip() for text in above if text.strip().startswith("#")]
        comment = " ".join(part for part in parts if part)
    return comment.strip()


def entry_comments(document: YamlDocument, key: str, count: int) -> list[str]:
    """The comment of each of the first `count` items of the top-level list `key` (`entry_comment`); "" for an
    item that shares its line with another (a flow-style list `[a, b]`)."""
    from collections import Counter

    text_lines = document.text.splitlines()
    numbers = [document.lines.get((key, index)) for index in range(count)]
    per_line = Counter(numbers)
    comments = []
    floor = document.lines.get((key,), 0)
    for number in numbers:
        if number is None or number <= floor or per_line[number] > 1 or number > len(text_lines):
            comments.append("")
            continue
        comments.append(entry_comment(text_lines[number - 1], text_lines[floor : number - 1]))
        floor = number
    return comments


def dotted(location: Location) -> str:
    text = ""
    for part in location:
        if isinstance(part, str) and not part.isprintable():
            # Escaped: a key's newline or bidirectional control character must not rewrite the message.
            part = repr(part)
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse `path`; a missing file, one that is not a regular file or is over the cap, bad
    encoding or bad syntax is a ConfigError with the line."""
    return parse_yaml(read_config_text(path), path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse `text` (the content of `path`, or what it is about to become) with line numbers."""
    root, tagged = _compose(text, path)
    document = YamlDocument(path=path, data=None, text=text)
    if root is None:
        return document
    document.data = _Converter(document, tagged).value(root, ())
    return document


def compose(text: str, path: Path) -> yaml.Node | None:
    """The node tree of `text` (the content of `path`), or None for an empty document.

    Like `yaml.compose(text, Loader=yaml.CSafeLoader)`, but safe on hostile input: a syntax error, aliases
    that expand to more than MAX_ALIAS_VALUES values (or into themselves) and nesting deeper than
    MAX_DEPTH are a ConfigError naming the file and line. The tree shares the node of an anchor (`&name`)
    among its aliases (`*name`); converting it without sharing reads at most MAX_ALIAS_VALUES more values
    than the text spells out.
    """
    return _compose(text, path)[0]


def _compose(text: str, path: Path) -> tuple[yaml.Node | None, dict[tuple[int, int], str]]:
    """compose(), and the tag written on each node that has one, by the node's (line, column)."""
    try:
        tagged = _check_aliases_and_depth(text, path)  # before composing: the composer itself recurses per level
        loader = _Loader(text)
        try:
            root: yaml.Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "1"
        what = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in what:
            # Newer pure-Python PyYAML parsers stop deep nesting themselves, before the check above does.
            raise ConfigError([f"{path}:{line}: {_TOO_DEEP}"]) from None
        raise ConfigError([f"{path}:{line}: YAML syntax error: {what}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML syntax error: {exc}"]) from None
    return root, tagged


class _Node:
    """What a list, mapping or scalar stands for once aliases are expanded: how many values, how deep."""

    __slots__ = ("depth", "done", "size")

    def __init__(self, size: int, depth: int, done: bool) -> None:
        self.size = size  # itself and everything in it
        self.depth = depth  # levels of lists and mappings, itself included (0 for a scalar)
        self.done = done  # False while its list or mapping is still being read


_SCALAR = _Node(size=1, depth=0, done=True)


def _check_aliases_and_depth(text: str, path: Path) -> dict[tuple[int, int], str]:
    """Refuse an alias bomb or excessive nesting from the parser's events, without building anything; the
    tags written in the text (`!!str`, `!foo`), by the (line, column) where their node starts.

    Each alias adds the size of its anchor's node, already known (an anchor precedes its aliases), so this
    takes one step per event however far the aliases would expand.
    """
    loader = _Loader(text)
    tagged: dict[tuple[int, int], str] = {}
    try:
        anchors: dict[str, _Node] = {}
        stack: list[_Node] = []
        expanded = 0  # values added by aliases
        while (event := loader.get_event()) is not None:  # type: ignore[no-untyped-call]
            tag = getattr(event, "tag", None)  # None unless written: the resolver's tags come later
            if tag is not None and event.start_mark is not None:
                tagged[(event.start_mark.line, event.start_mark.column)] = tag
            if isinstance(event, yaml.ScalarEvent):
                node = _SCALAR
                if event.anchor is not None:
                    anchors[event.anchor] = node
            elif isinstance(event, yaml.CollectionStartEvent):
                stack.append(_Node(size=1, depth=1, done=False))
                if event.anchor is not None:
                    anchors[event.anchor] = stack[-1]
                if len(stack) > MAX_DEPTH:
                    raise _too_deep(path, event)
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                node = stack.pop()
                node.done = True
            elif isinstance(event, yaml.AliasEvent):
                found = anchors.get(event.anchor or "")
                if found is None:
                    continue  # undefined: the composer says so
                line = _line(event)
                if not found.done:
                    raise ConfigError(
                        [
                            f"{path}:{line}: YAML alias *{event.anchor} is inside the list or mapping it refers "
                            f"to, so it never ends: {_ALIASES_HINT}"
                        ]
                    )
                expanded += found.size
                if expanded > MAX_ALIAS_VALUES:
                    too_many = f"YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values"
                    raise ConfigError([f"{path}:{line}: {too_many}: {_ALIASES_HINT}"])
                if len(stack) + found.depth > MAX_DEPTH:
                    raise _too_deep(path, event)
                node = found
            else:
                if isinstance(event, yaml.DocumentStartEvent):
                    anchors.clear()  # anchors belong to one document
                continue
            if stack:
                parent = stack[-1]
                parent.size += node.size
                parent.depth = max(parent.depth, node.depth + 1)
    finally:
        loader.dispose()
    return tagged


_TOO_DEEP = (
    f"YAML lists and mappings nested more than {MAX_DEPTH} levels deep: a config needs a few "
    "(e.g. cors.targets[0].bucket)"
)


def _too_deep(path: Path, event: yaml.Event) -> ConfigError:
    return ConfigError([f"{path}:{_line(event)}: {_TOO_DEEP}"])


_Constructor = yaml.constructor.SafeConstructor


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


# The longest number written as text iac reads: no config value needs more than a few digits, and Python
# refuses to convert more than 4,300 decimal digits to and from text (sys.get_int_max_str_digits).
MAX_NUMBER_TEXT = 100

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_CORE = "tag:yaml.org,2002:"
# Plain scalars YAML 1.1 and 1.2 read alike: decimal integers and floats, true/false, null.
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT_TEXT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_TRUE_FALSE = ("true", "false")
# Plain scalars PyYAML reads as text that other readers do not: YAML 1.1's boolean words where PyYAML takes
# them as text (`y`, `n`, and any case: `yEs`), and YAML 1.2's octal integers (`0o10`).
_YAML11_BOOLEANS = {"y": True, "yes": True, "on": True, "n": False, "no": False, "off": False}
_YAML12_OCTAL = re.compile(r"[-+]?0o[0-7]+")


@dataclass(frozen=True)
class Misread:
    """A value written so that YAML reads it as something else than it seems (`010` is 8, `on` is true), or
    that another YAML reader would read differently (`0o10`, `y`, a tag): iac's config takes none of them.

    `text` is the value as written; `reading` what YAML makes of it; `plain` that reading written plainly
    (`8`, `true`) and `quoted` the text as a string (`"010"`), where either is a form to suggest.
    """

    text: str
    reading: str
    plain: str | None = None
    kind: str | None = None  # what `plain` is: "int", "float" or "bool"
    quoted: str | None = None
    tag: str | None = None  # the tag written on the value, if that is what is wrong with it

    def message(self, expected: str | None = None) -> str:
        """The problem, and the form to write for a value that must be `expected` ("int", "bool", "str")."""
        if self.plain is not None and self.quoted is not None:
            if expected == self.kind or (expected == "float" and self.kind == "int"):
                form = self.plain
            elif expected == "str":
                form = self.quoted
            else:
                noun = "boolean" if self.kind == "bool" else "number"
                form = f"{self.plain} for the {noun} or {self.quoted} for the text"
        else:
            form = self.plain or self.quoted or ""
        return f"{self.text} {self.reading}" + (f": write {form}" if form else "")


def _quoted(text: str) -> str:
    return json.dumps(_clip(text), ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _clip(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _plain_misread(text: str, value: Any) -> Misread | None:
    """How the plain scalar `text`, which YAML read as `value`, means something else than it seems; or None."""
    if isinstance(value, str):  # most values: checked first, and cheaply
        if len(text) <= 3 and text.lower() in _YAML11_BOOLEANS:
            word = str(_YAML11_BOOLEANS[text.lower()]).lower()
            return Misread(text, f"is the boolean {word} in YAML 1.1 (text in YAML 1.2)", word, "bool", _quoted(text))
        if "0o" in text and _YAML12_OCTAL.fullmatch(text):
            number = str(int(text.replace("0o", "", 1), 8))
            reading = f"is the octal number {number} in YAML 1.2 (text in YAML 1.1)"
            return Misread(_clip(text), reading, number, "int", _quoted(text))
        return None
    if isinstance(value, bool):
        if text.lower() in _TRUE_FALSE:
            return None
        word = str(value).lower()
        return Misread(text, f"was read by YAML as the boolean {word} (YAML 1.1)", word, "bool", _quoted(text))
    if isinstance(value, int | float):
        if _DECIMAL.fullmatch(text) or (isinstance(value, float) and _FLOAT_TEXT.fullmatch(text)):
            return None
        digits = text.lstrip("+-")
        if ":" in text:
            what = "base-60 number {} (YAML 1.1)"
        elif digits.startswith(("0x", "0X")):
            what = "hexadecimal number {}"
        elif digits.startswith(("0b", "0B")):
            what = "binary number {}"
        elif isinstance(value, int) and digits.startswith("0"):
            what = "octal number {} (YAML 1.1)"
        else:
            what = "number {} (YAML 1.1 drops the underscores)"
        number = repr(value)
        kind = "int" if isinstance(value, int) else "float"
        return Misread(_clip(text), f"was read by YAML as the {what.format(number)}", number, kind, _quoted(text))
    if isinstance(value, datetime.date):
        reading = f"was read by YAML as the date {value.isoformat()} (YAML 1.1)"
        return Misread(_clip(text), reading, quoted=_quoted(text))
    return None


class _Converter:
    """A node tree as Python values, recording in the document each value's line, the text of every scalar
    YAML read as no string, and every value that means something else than it seems (`Misread`).

    Each alias is converted again where it is used (so a value's line is where the alias is); compose() has
    bounded what that adds up to.
    """

    def __init__(self, doc: YamlDocument, tagged: dict[tuple[int, int], str]) -> None:
        self.doc = doc
        self.tagged = tagged
        self.constructor = _Constructor()

    def value(self, node: yaml.Node, location: Location) -> Any:
        tag = self.tagged.get((node.start_mark.line, node.start_mark.column)) if self.tagged else None
        if tag is not None:
            self.doc.misread.setdefault(location, self._tag_misread(node, tag))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, location)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                where = (*location, index)
                self.doc.lines[where] = item.start_mark.line + 1
                items.append(self.value(item, where))
            return items
        if tag is not None or not isinstance(node, yaml.ScalarNode):
            return node.value  # not constructed: a tag may name any Python object
        value, misread = self._scalar(node)
        if misread is not None:
            self.doc.misread.setdefault(location, misread)
        if not isinstance(value, str):
            self.doc.source[location] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, location: Location) -> dict[str, Any]:
        result: dict[str, Any] = {}
        path = self.doc.path
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError([f"{path}:{line}: YAML merge keys (<<) are not supported"])
            key, misread = self._key(key_node, location)
            where = (*location, key)
            if key in result:
                first = self.doc.lines[where]
                raise ConfigError(
                    [
                        f"{path}:{line}: {dotted(where)}: given twice (first on line {first}); YAML would "
                        "silently keep only the last one: remove one"
                    ]
                )
            self.doc.lines[where] = line
            if misread is not None:
                self.doc.misread.setdefault(where, misread)
            result[key] = self.value(value_node, where)
        return result

    def _key(self, node: yaml.Node, location: Location) -> tuple[str, Misread | None]:
        """A mapping key, and how it was misread: a key YAML reads as no string (`on:`) is kept as written."""
        tag = self.tagged.get((node.start_mark.line, node.start_mark.column)) if self.tagged else None
        if isinstance(node, yaml.ScalarNode):
            if tag is not None:
                return node.value, dataclasses.replace(self._tag_misread(node, tag), plain=None)
            key, misread = self._scalar(node)
            if isinstance(key, str) and misread is None:
                return key, None
            if misread is not None:
                return node.value, dataclasses.replace(misread, plain=None)  # a key is text
            where, shown = dotted((*location, _clip(node.value))), _clip(repr(key))
        else:
            where, shown = dotted(location), "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        raise ConfigError([f"{self.doc.path}:{node.start_mark.line + 1}: {where}: keys must be strings, got {shown}"])

    def _scalar(self, node: yaml.ScalarNode) -> tuple[Any, Misread | None]:
        """The value of an untagged scalar, and how it is misread if it is."""
        text = node.value
        plain = not node.style  # None from the Python composer, "" from libyaml's
        if plain and node.tag in (_INT, _FLOAT) and len(text) > MAX_NUMBER_TEXT:
            return text, Misread(
                _clip(text), f"is a number of {len(text):,} characters: too large for any config value"
            )
        try:
            value = self.constructor.construct_object(node, deep=False)
        except yaml.MarkedYAMLError as exc:
            reason = exc.problem or exc.context or "invalid value"
        except (ValueError, TypeError, OverflowError) as exc:
            reason = str(exc)
        else:
            return value, _plain_misread(text, value) if plain else None
        name = str(node.tag).replace(_CORE, "")
        return text, Misread(
            _clip(text), f"looks like a YAML {name} but is not one ({_clip(reason)})", quoted=_quoted(text)
        )

    def _tag_misread(self, node: yaml.Node, tag: str) -> Misread:
        shown = tag.replace(_CORE, "!!")
        why = "which iac does not take (what a tag means depends on the program reading the file)"
        if not isinstance(node, yaml.ScalarNode):
            what = "mapping" if isinstance(node, yaml.MappingNode) else "list"
            return Misread(shown, f"is a YAML tag on a {what}, {why}: remove it", tag=shown)
        text = node.value
        quote = node.style if node.style in ('"', "'") else ""
        written = f"{shown} {quote}{text}{quote}"
        plain = kind = None
        if tag in (_INT, _FLOAT, _BOOL) and len(text) <= MAX_NUMBER_TEXT:
            try:
                value = self.constructor.construct_object(node, deep=False)
            except Exception:  # whatever the tag cannot read: only the quoted text is suggested
                value = None
            if isinstance(value, bool):
                plain, kind = str(value).lower(), "bool"
            elif isinstance(value, int | float):
                plain, kind = repr(value), "int" if isinstance(value, int) else "float"
        return Misread(_clip(written), f"has a YAML tag, {why}", plain, kind, _quoted(text), shown)
