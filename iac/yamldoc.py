"""YAML reading that remembers where each value came from, so errors can point at a line; and the config
file's text, read exactly as written and written back (the in-place edits: allowlist, HMAC key generation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iac.errors import ConfigError, IacError
from iac.files import CONFIG_FILE, InputFileError, read_input, write_atomic

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


def read_config_text(path: Path) -> str:
    """The text of the config file `path`, exactly as written (a BOM and CRLF line endings kept): a
    regular file under the cap on config files (iac.files.CONFIG_FILE), else a ConfigError saying why."""
    try:
        # Bytes decoded here, not by read_text: its universal newlines would turn CRLF into LF.
        return read_input(path, CONFIG_FILE).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (create one with `iac init {path}`, or choose one with -c FILE)"]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except InputFileError as exc:
        raise ConfigError([str(exc)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None


def check_writable(path: Path, dry_run_hint: bool = True) -> None:
    """Refuse a config file its owner made read-only: replacing it would quietly undo that."""
    try:
        mode = path.resolve().stat().st_mode
    except OSError:
        return  # reading it reports a missing or unreadable file
    if not mode & 0o222:
        raise IacError(
            f"{path}: is read-only (mode {mode & 0o777:04o}): iac does not replace a file made read-only; "
            "make it writable (chmod u+w) to edit it" + (", or use --dry-run to see the change" if dry_run_hint else "")
        )


def write_config_text(path: Path, original: str, text: str) -> None:
    """Replace the config file `path`, read as `original`, by `text`: atomically, keeping its permissions, through
    a symlink rather than over it; refused when the file changed since it was read."""
    target = path.resolve()
    try:
        current = target.read_bytes()
        mode = target.stat().st_mode & 0o7777
    except OSError as exc:
        raise IacError(f"{path}: cannot read the config file again before writing: {exc.strerror}") from None
    # Bytes against bytes: `original` is the file decoded as is (BOM, CRLF), so it encodes back to them.
    if current != original.encode("utf-8"):
        raise IacError(f"{path}: changed by something else while iac was editing it: nothing written, run again")
    try:
        # The exact text, BOM and line endings included: str.encode translates no newline.
        write_atomic(target, text.encode("utf-8"), mode)
    except OSError as exc:
        raise IacError(f"{path}: cannot write the config file: {exc.strerror}") from None


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse `text` (the content of `path`, or what it is about to become) with line numbers."""
    root = compose(text, path)
    document = YamlDocument(path=path, data=None, text=text)
    if root is None:
        return document
    document.data = _to_python(_Constructor(), root, (), document)
    return document


def compose(text: str, path: Path) -> yaml.Node | None:
    """The node tree of `text` (the content of `path`), or None for an empty document.

    Like `yaml.compose(text, Loader=yaml.CSafeLoader)`, but safe on hostile input: a syntax error, aliases
    that expand to more than MAX_ALIAS_VALUES values (or into themselves) and nesting deeper than
    MAX_DEPTH are a ConfigError naming the file and line. The tree shares the node of an anchor (`&name`)
    among its aliases (`*name`); converting it without sharing reads at most MAX_ALIAS_VALUES more values
    than the text spells out.
    """
    try:
        _check_aliases_and_depth(text, path)  # before composing: the composer itself recurses per level
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
    return root


class _Node:
    """What a list, mapping or scalar stands for once aliases are expanded: how many values, how deep."""

    __slots__ = ("depth", "done", "size")

    def __init__(self, size: int, depth: int, done: bool) -> None:
        self.size = size  # itself and everything in it
        self.depth = depth  # levels of lists and mappings, itself included (0 for a scalar)
        self.done = done  # False while its list or mapping is still being read


_SCALAR = _Node(size=1, depth=0, done=True)


def _check_aliases_and_depth(text: str, path: Path) -> None:
    """Refuse an alias bomb or excessive nesting from the parser's events, without building anything.

    Each alias adds the size of its anchor's node, already known (an anchor precedes its aliases), so this
    takes one step per event however far the aliases would expand.
    """
    loader = _Loader(text)
    try:
        anchors: dict[str, _Node] = {}
        stack: list[_Node] = []
        expanded = 0  # values added by aliases
        while (event := loader.get_event()) is not None:  # type: ignore[no-untyped-call]
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


_TOO_DEEP = (
    f"YAML lists and mappings nested more than {MAX_DEPTH} levels deep: a config needs a few "
    "(e.g. cors.targets[0].bucket)"
)


def _too_deep(path: Path, event: yaml.Event) -> ConfigError:
    return ConfigError([f"{path}:{_line(event)}: {_TOO_DEEP}"])


_Constructor = yaml.constructor.SafeConstructor


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _to_python(loader: _Constructor, node: yaml.Node, location: Location, doc: YamlDocument) -> Any:
    """The Python value of `node`, recording lines. Each alias is converted again where it is used (so a
    value's line is where the alias is); compose() has bounded what that adds up to."""
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    [f"{doc.path}:{key_node.start_mark.line + 1}: YAML merge keys (<<) are not supported"]
                )
            key = _construct(loader, key_node, location, doc, deep=False)
            where = (*location, str(key))
            if not isinstance(key, str):
                raise ConfigError(
                    [f"{doc.path}:{key_node.start_mark.line + 1}: {dotted(where)}: keys must be strings, got {key!r}"]
                )
            if key in result:
                first = doc.lines[where]
                raise ConfigError(
                    [
                        f"{doc.path}:{key_node.start_mark.line + 1}: {dotted(where)}: given twice "
                        f"(first on line {first}); YAML would silently keep only the last one: remove one"
                    ]
                )
            doc.lines[where] = key_node.start_mark.line + 1
            result[key] = _to_python(loader, value_node, where, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            where = (*location, index)
            doc.lines[where] = item.start_mark.line + 1
            items.append(_to_python(loader, item, where, doc))
        return items
    value = _construct(loader, node, location, doc, deep=True)
    if not isinstance(value, str) and isinstance(node.value, str):
        doc.source[location] = node.value
    return value


def _construct(loader: _Constructor, node: yaml.Node, location: Location, doc: YamlDocument, deep: bool) -> Any:
    """A scalar's value (or a key's); a tag YAML cannot apply (`!!python/name:...`, `!!int abc`) is a
    ConfigError with the line, not a traceback."""
    try:
        return loader.construct_object(node, deep=deep)
    except yaml.MarkedYAMLError as exc:
        reason = exc.problem or exc.context or "invalid value"
    except (ValueError, TypeError, OverflowError) as exc:
        reason = str(exc)
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    text = repr(node.value) if isinstance(node.value, str) else "this value"
    text = text if len(text) <= 80 else text[:77] + "..."
    raise ConfigError(
        [
            f"{doc.path}:{node.start_mark.line + 1}: {dotted(location)}: YAML cannot read {text} as {tag} "
            f"({reason}): remove the tag or correct the value"
        ]
    )
