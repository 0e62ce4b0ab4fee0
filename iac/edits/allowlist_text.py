"""The allowlist of a config file located with the YAML parser's marks and read as rows of text (each entry with
its own lines and comments), and the addresses an edit takes (arguments, `--from-file` lists, notes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from iac.allowlist.ranges import AllowlistEntryError, Network, parse_entry, parse_network
from iac.config.text import read_config_text
from iac.config.yamldoc import compose
from iac.errors import ConfigError, IacError

_EMPTY_MARKER = "allowlist_allow_empty: true  # set by iac allowlist --allow-empty: every request is denied\n"


@dataclass
class Row:
    """One entry of the list as text: the comment lines just above it, and its own line."""

    comments: list[str]
    line: str
    network: Network | None

    def text(self) -> str:
        return "".join(self.comments) + self.line


@dataclass
class AllowlistText:
    """A config file split around its allowlist: `bom` + `before` + the rows + `after` is the whole file.

    `original` is the file exactly as read (BOM and line endings included); `before` and `after` keep their
    own line endings, and every line iac writes ends with `newline`, the file's first line ending.
    """

    path: Path
    original: str
    before: str
    rows: list[Row]
    after: str
    indent: str
    key_indent: str
    allow_empty_set: bool
    bom: str = ""
    newline: str = "\n"

    @property
    def networks(self) -> list[Network]:
        return [row.network for row in self.rows if row.network is not None]

    def render(self, rows: list[Row]) -> str:
        """The whole file with `rows` as its allowlist.

        An empty list is written as `[]`, followed by `allowlist_allow_empty: true` unless the file already
        says so: the config then states on its own that locking everyone out is intended.
        """
        marker = self.key_indent + _EMPTY_MARKER.removesuffix("\n") + self.newline
        if rows:
            # The marker iac wrote when it emptied the list goes again once the list has entries.
            after = self.after.removeprefix(marker)
            return self.bom + self.before + "".join(row.text() for row in rows) + after
        # `before` ends with the `allowlist:` line, which becomes `allowlist: []`.
        *earlier, key_line = self.before.splitlines(keepends=True)
        head, _, comment = key_line.rstrip("\r\n").partition("#")
        text = "".join(earlier) + head.rstrip() + " []" + (f"  #{comment}" if comment else "") + self.newline
        if not self.allow_empty_set:
            text += marker
        return self.bom + text + self.after

    def new_row(self, network: Network, note: str | None = None) -> Row:
        comment = f"  # {note}" if note else ""
        return Row(comments=[], line=f"{self.indent}- {network}{comment}{self.newline}", network=network)


def read(path: Path) -> AllowlistText:
    """Find the allowlist in `path`. A file iac cannot edit safely is an error naming why."""
    text = read_config_text(path)  # ConfigError: missing, not a regular file, over the cap, not UTF-8
    # A byte order mark is parsed without and written back; marks (line, column) are in `body`.
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    root = compose(body, path)  # ConfigError: YAML syntax, an alias bomb, nesting too deep
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([f"{path}:1: the config must be a mapping of keys (project, domain, bucket, ...)"])
    found = [(k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "allowlist"]
    if not found:
        raise ConfigError([f"{path}: allowlist: is required (add `allowlist:` with at least one address)"])
    key, value = found[-1]
    lines = body.splitlines(keepends=True)
    # Lines iac writes end like the file's first line: CRLF files stay CRLF.
    ending = next((line[len(line.rstrip("\r\n")) :] for line in lines if line.endswith(("\n", "\r"))), "")
    newline = ending or "\n"
    if value.start_mark.index < key.end_mark.index:  # the node of an anchor written before: an alias
        raise IacError(
            f"{path}:{key.start_mark.line + 1}: allowlist: is an alias ({_alias_after(body, key.end_mark.index)[0]}) "
            f"of a list written elsewhere (line {value.start_mark.line + 1}): iac edits the list where it is "
            "written; write the list out under allowlist: instead of the alias"
        )
    if not isinstance(value, yaml.SequenceNode):
        raise ConfigError([f"{path}:{key.start_mark.line + 1}: allowlist: must be a list of addresses"])
    _refuse_aliases(path, body, value)
    split = _split_flow if value.flow_style or not value.value else _split_block
    before, rows, after, indent = split(path, body, lines, key, value, newline)
    return AllowlistText(
        path=path,
        original=text,
        before=before,
        rows=rows,
        after=after,
        indent=indent,
        key_indent=lines[key.start_mark.line][: key.start_mark.column],
        allow_empty_set=_says_allow_empty(root.value),
        bom=bom,
        newline=newline,
    )


# (text before the entries, the entries, text after them, indentation of an entry's "-")
_Split = tuple[str, list[Row], str, str]


def _says_allow_empty(root_keys: list[tuple[yaml.Node, yaml.Node]]) -> bool:
    return any(
        isinstance(k, yaml.ScalarNode)
        and k.value == "allowlist_allow_empty"
        and v.tag.endswith(":bool")
        and v.value.lower() == "true"
        for k, v in root_keys
    )


def _refuse_aliases(path: Path, body: str, seq: yaml.SequenceNode) -> None:
    """Refuse an entry that is an alias (`- *name`): its node is that of the anchor, written before the
    entry (outside the list, or an earlier entry), so it has no text of its own in the list to edit."""
    previous_end = seq.start_mark.index
    for item in seq.value:
        if item.start_mark.index < previous_end:
            alias, line = _alias_after(body, previous_end)
            raise IacError(
                f"{path}:{line}: allowlist: an alias ({alias}) as an entry: iac edits entries written out in the "
                "list; write the address out instead of the alias"
            )
        previous_end = item.end_mark.index


_ALIAS = re.compile(r"\*[^\s,\[\]{}]+")


def _alias_after(body: str, index: int) -> tuple[str, int]:
    """The first alias (`*name`) written after `index`, and its line, for messages."""
    found = _ALIAS.search(body, index)
    position = found.start() if found else index
    return (found.group(0) if found else "*..."), body.count("\n", 0, position) + 1


def _split_block(
    path: Path, body: str, lines: list[str], key: yaml.Node, seq: yaml.SequenceNode, newline: str
) -> _Split:
    first_item = seq.value[0].start_mark.line
    dash = lines[first_item].index("-")
    indent = lines[first_item][:dash]
    start = key.start_mark.line + 1
    rows: list[Row] = []
    pending: list[str] = []
    for number in range(start, first_item):
        pending.append(lines[number])
    item_lines = {item.start_mark.line: item for item in seq.value}
    last_item = max(item_lines)
    for number in range(first_item, last_item + 1):
        line = lines[number]
        item = item_lines.get(number)
        if item is None:
            if line.strip() and not line.lstrip().startswith("#"):
                raise _unsupported(path, number, "an entry spread over several lines")
            pending.append(line)
            continue
        if not isinstance(item, yaml.ScalarNode) or item.end_mark.line != number:
            raise _unsupported(path, number, "an entry that is not a single address on its own line")
        if line[:dash] != indent or line[dash : dash + 1] != "-":
            raise _unsupported(path, number, "entries at different indentations")
        rows.append(Row(comments=pending, line=line, network=_network(item.value)))
        pending = []
    if not rows[-1].line.endswith(("\n", "\r")):  # the last line of the file
        rows[-1].line += newline
    return "".join(lines[:start]), rows, "".join(lines[last_item + 1 :]), indent


def _split_flow(
    path: Path, body: str, lines: list[str], key: yaml.Node, seq: yaml.SequenceNode, newline: str
) -> _Split:
    """`allowlist: [a, b]` or `allowlist: []`: rewritten in block style on the first edit, every comment
    kept: one beside an entry stays beside it, one on a line of its own stays above the next entry (or
    below the list), one beside `allowlist:`, `[` or `]` goes beside `allowlist:`."""
    key_line = key.start_mark.line
    end_line, end_col = seq.end_mark.line, seq.end_mark.column
    rest = lines[end_line][end_col:]
    tail = rest.rstrip("\r\n")
    if tail.strip() and not tail.strip().startswith("#"):
        raise _unsupported(path, end_line, "text after the allowlist on the same line")
    key_indent = lines[key_line][: key.start_mark.column]
    indent = key_indent + "  "
    # The text between the entries (and before the first, after the last) holds only `[`, `,`, `]`,
    # blanks and comments. The first piece of each gap is on the line of what precedes it.
    bounds = [key.end_mark.index, *(i for item in seq.value for i in (item.start_mark.index, item.end_mark.index))]
    bounds.append(seq.end_mark.index - 1)  # the `]`
    gaps = [_comments(body[bounds[i] : bounds[i + 1]]) for i in range(0, len(bounds), 2)]
    beside_key = list(gaps[0][0])
    pending = [f"{indent}{comment}{newline}" for comment in gaps[0][1]]
    rows = []
    for number, item in enumerate(seq.value):
        if not isinstance(item, yaml.ScalarNode):
            raise _unsupported(path, item.start_mark.line, "an entry that is not a single address")
        if item.start_mark.line != item.end_mark.line:
            raise _unsupported(path, item.start_mark.line, "an entry spread over several lines")
        beside, own_lines = gaps[number + 1]
        comment = "".join(f"  {text}" for text in beside)
        source = body[item.start_mark.index : item.end_mark.index]
        rows.append(Row(comments=pending, line=f"{indent}- {source}{comment}{newline}", network=_network(item.value)))
        pending = [f"{indent}{text}{newline}" for text in own_lines]
    if tail.strip():
        beside_key.append(tail.strip())
    before = "".join(lines[:key_line]) + f"{key_indent}allowlist:{''.join(f'  {c}' for c in beside_key)}{newline}"
    return before, rows, "".join(pending) + "".join(lines[end_line + 1 :]), indent


def _comments(gap: str) -> tuple[list[str], list[str]]:
    """The comments in `gap` (text between the entries of a flow list): the one on its first line (beside
    what precedes the gap), and those on lines of their own."""
    pieces = gap.splitlines()
    found = [piece[piece.index("#") :].rstrip() if "#" in piece else "" for piece in pieces]
    return [text for text in found[:1] if text], [text for text in found[1:] if text]


def _network(value: str) -> Network | None:
    try:
        return parse_network(value.strip())
    except ValueError:
        return None


def _unsupported(path: Path, line: int, what: str) -> IacError:
    return IacError(
        f"{path}:{line + 1}: allowlist: iac edits lists with one address per line (`  - 39.42.20.11/32`), "
        f"and found {what}: edit this file by hand, or rewrite the list in that form first"
    )


def notes(doc: AllowlistText) -> list[tuple[Network, str]]:
    """Each entry's comment: the one on its line (`- 81.2.69.160/28  # Lisbon office`), else the comment lines
    just above it; "" for an entry without one."""
    from iac.config.yamldoc import entry_comment

    return [(row.network, entry_comment(row.line, row.comments)) for row in doc.rows if row.network is not None]


def parse_command_line(values: list[str]) -> list[Network]:
    """Addresses given as command-line arguments, labelled "argument N" in messages."""
    return parse_arguments(values, [f"argument {i}" for i in range(1, len(values) + 1)])


def parse_arguments(values: list[str], labels: list[str]) -> list[Network]:
    """Addresses given on the command line or in a file; every bad one is reported with its label."""
    problems = []
    networks = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        try:
            networks.append(parse_entry(index, value))
        except AllowlistEntryError as exc:
            problems.append(f"{label}: {value!r} {exc.message}")
    if problems:
        raise ConfigError(problems)
    return networks


@dataclass(frozen=True)
class ListFile:
    """The entries of a `set --from` file: each as written, its label (`name:line`) and the `# note` of its line."""

    values: list[str]
    labels: list[str]
    notes: list[str]


def read_list_file(name: str, text: str) -> ListFile:
    """Entries of a `set --from` file (one per line, `#` comments and blank lines ignored), labelled name:line;
    a comment on an entry's line is its note (`34.90.1.1  # Madrid annotators`).

    A byte order mark at the start (as `read_text(encoding="utf-8")` keeps it) and CRLF endings are fine.
    """
    found = ListFile([], [], [])
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        value, _, comment = line.partition("#")
        if value.strip():
            found.values.append(value.strip())
            found.labels.append(f"{name}:{number}")
            found.notes.append(note_text(comment))
    return found


# Most notes of a `set --from` file's lines written beside one entry (lines merged into one range).
MAX_NOTES = 3


def note_text(text: str) -> str:
    """A note from outside (a line of a `set --from` file) as one line of printable text: control and
    invisible bidirectional characters escaped (`iac.untrusted.printable`), as `add --note` allows no other.
    It holds no line break: the file is split at every one YAML knows (U+2028, NEL, ...) before."""
    from iac.untrusted import printable

    return printable(text.strip())
