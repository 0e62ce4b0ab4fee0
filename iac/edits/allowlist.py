"""Edit the allowlist of a config file in place, touching no line outside the list.

The list is located with the YAML parser's marks and rewritten as text, so every comment, the key order
and the formatting of the rest of the file stay byte-for-byte as they were; entries that survive an edit
keep their own lines and comments.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from iac.allowlist.ranges import (
    AllowlistEntryError,
    Assignment,
    Network,
    RuleChange,
    collapse,
    collapse_networks,
    missing_from,
    parse_entry,
    parse_network,
    sort_key,
)
from iac.config.yamldoc import check_writable, compose, read_config_text, write_config_text
from iac.errors import ConfigError, IacError

if TYPE_CHECKING:
    from iac.allowlist.baseline import Baseline
    from iac.config.load import LoadedConfig

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
_MAX_NOTES = 3


def note_text(text: str) -> str:
    """A note from outside (a line of a `set --from` file) as one line of printable text: control and
    invisible bidirectional characters escaped (`iac.untrusted.printable`), as `add --note` allows no other.
    It holds no line break: the file is split at every one YAML knows (U+2028, NEL, ...) before."""
    from iac.untrusted import printable

    return printable(text.strip())


@dataclass(frozen=True)
class Change:
    """The outcome of an allowlist edit: effective ranges before and after, the Cloud Armor rules against the
    baseline (`iac.allowlist.baseline`), the file's new text, and the edited config, already validated (so `--apply`
    needs no second read)."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    text: str
    original: str
    notices: tuple[str, ...]
    loaded: LoadedConfig
    baseline: Baseline
    new_rules: Assignment
    written: bool = False

    @property
    def kind(self) -> str:
        return "allowlist edit"

    @property
    def added(self) -> list[str]:
        return missing_from(self.after, self.before)

    @property
    def removed(self) -> list[str]:
        return missing_from(self.before, self.after)

    @property
    def rules_before(self) -> int:
        return len(self.baseline.rules)

    @property
    def rules_after(self) -> int:
        return len(self.new_rules.rules)

    @property
    def rules_changed(self) -> list[RuleChange]:
        """The rules that change against the baseline: what rendering (or applying) the edit changes."""
        return self.baseline.changes(self.new_rules)

    @property
    def changed(self) -> bool:
        """Whether the config file changes (an edit may change its text and not the effective ranges)."""
        return self.text != self.original

    @property
    def rendering_behind(self) -> bool:
        """The rendering compared with was made from another allowlist than the file's before the edit: the
        rule changes then include what rendering the file as it was would already change."""
        if self.baseline.source != "rendering":
            return False
        rendered = {cidr for rule in self.baseline.rules for cidr in rule.ranges}
        return rendered != set(self.before)

    def to_json(self) -> dict[str, object]:
        return {
            "changed": self.changed,
            "added": self.added,
            "removed": self.removed,
            "ranges": list(self.after),
            "baseline": self.baseline.to_json(),
            "rendering_behind": self.rendering_behind,
            "rules_before": self.rules_before,
            "rules_after": self.rules_after,
            "rules_changed": [change.to_json() for change in self.rules_changed],
            "repacked": self.new_rules.repacked,
            "notices": list(self.notices),
            "warnings": list(self.loaded.warnings),
            "written": self.written,
        }


Operation = Callable[[AllowlistText], tuple[list[Row], list[str]]]


def edit(
    path: Path, operation: Operation, *, allow_empty: bool, dry_run: bool, lock_timeout: float, output: Path
) -> Change:
    """Read, edit, validate and (unless `dry_run`) write the config, all under its lock file.

    `output` is the rendered directory whose rule assignment the change is shown against.
    """
    from iac.files.locks import locked

    if not dry_run:
        check_writable(path)
    with locked(path, lock_timeout):
        doc = read(path)
        rows, notices = operation(doc)
        change = finish(doc, rows, notices, allow_empty, output)
        if dry_run or change.text == doc.original:
            return change
        write(doc, change)
    return dataclasses.replace(change, written=True)


def add(doc: AllowlistText, networks: list[Network], note: str | None) -> tuple[list[Row], list[str]]:
    """Rows with `networks` added; an address already allowed is reported and left out.

    One pass over the list and one sort, however many addresses are given: a sorted list stays sorted
    (each new entry goes before the first entry after it), any other order is the user's and new entries
    go last.
    """
    present = _present(doc.rows)
    in_order = _sorted_networks(present)
    covering = _Covering()
    for index, network in enumerate(present):
        covering.add(network, sort_key(network) if in_order else (index,))
    added: list[Row] = []
    notices = []
    for network in networks:
        cover = covering.first(network)
        if cover is not None:
            how = "already in the allowlist" if cover == network else f"already allowed by {cover}"
            notices.append(f"{network} is {how}: nothing to add")
            continue
        covering.add(network, sort_key(network) if in_order else (len(present) + len(added),))
        added.append(doc.new_row(network, note))
    if not in_order:
        return [*doc.rows, *added], notices
    return _merge_sorted(doc.rows, sorted(added, key=lambda row: sort_key(_network_of(row)))), notices


def _merge_sorted(rows: list[Row], new: list[Row]) -> list[Row]:
    """`rows` with the sorted `new` rows, each just before the first entry of `rows` that sorts after it."""
    merged: list[Row] = []
    pending = 0
    for row in rows:
        if row.network is not None:
            key = sort_key(row.network)
            while pending < len(new) and sort_key(_network_of(new[pending])) < key:
                merged.append(new[pending])
                pending += 1
        merged.append(row)
    return merged + new[pending:]


def _network_of(row: Row) -> Network:
    assert row.network is not None  # rows iac makes always hold a network
    return row.network


class _Covering:
    """Networks of a list and their rank (order in it), to find the first one that covers another: one
    dictionary lookup per prefix length, as covering CIDRs are each other's supernets."""

    def __init__(self) -> None:
        self._ranked: dict[tuple[int, int, int], tuple[tuple[int, ...], Network]] = {}

    def add(self, network: Network, rank: tuple[int, ...]) -> None:
        key = sort_key(network)
        if key not in self._ranked or rank < self._ranked[key][0]:
            self._ranked[key] = (rank, network)

    def first(self, network: Network) -> Network | None:
        """The network of the lowest rank that `network` lies within (itself included), or None."""
        version, first, prefix = sort_key(network)
        bits = network.max_prefixlen
        found = [
            self._ranked[key]
            for length in range(prefix, -1, -1)
            if (key := (version, first >> (bits - length) << (bits - length), length)) in self._ranked
        ]
        return min(found, key=lambda item: item[0])[1] if found else None


def remove(doc: AllowlistText, networks: list[Network]) -> tuple[list[Row], list[str]]:
    """Rows without the entries equal to `networks`; naming an address that is no entry is an error. A
    removed entry that a wider entry still covers stays allowed: the notice names that entry."""
    entries = {row.network for row in doc.rows if row.network is not None}
    covering = _Covering()
    rows_of: dict[Network, Row] = {}
    for index, row in enumerate(doc.rows):
        if row.network is not None:
            covering.add(row.network, (index,))
            rows_of.setdefault(row.network, row)
    problems = []
    for network in networks:
        if network in entries:
            continue
        cover = covering.first(network)
        if cover is not None:
            problems.append(
                f"{doc.path}: allowlist: {network} is not an entry of the allowlist but lies inside "
                f"{cover} ({rows_of[cover].line.strip()!r}): remove {cover} and add back the ranges to keep"
            )
        else:
            problems.append(f"{doc.path}: allowlist: {network} is not in the allowlist: nothing to remove")
    if problems:
        raise ConfigError(problems)
    drop = set(networks)
    kept = [row for row in doc.rows if row.network not in drop]
    remaining = _Covering()
    for index, row in enumerate(kept):
        if row.network is not None:
            remaining.add(row.network, (index,))
            rows_of.setdefault(row.network, row)
    notices = []
    for network in dict.fromkeys(networks):
        cover = remaining.first(network)
        if cover is not None:
            notices.append(
                f"{network} is removed as an entry but stays allowed: it lies inside {cover} "
                f"({rows_of[cover].line.strip()!r}), which stays in the allowlist; remove that entry too to refuse it"
            )
    return kept, notices


def replace(doc: AllowlistText, networks: list[Network], notes: list[str] | None = None) -> list[Row]:
    """Rows for exactly the addresses of `networks` (a `set --from` file; `notes[i]` the note of its line).

    An entry whose network is one of `networks` keeps its row: its line, its comments and its place. Entries
    that are not go. The other networks, merged into the fewest CIDRs, are added as `add` adds (in order in a
    sorted list, else last), each with the notes of the lines it comes from. A network that lies inside
    another of `networks` is not written (the wider one holds it).
    """
    notes = notes if notes is not None else [""] * len(networks)
    wanted: dict[tuple[int, int, int], Network] = {}  # the networks to write, none inside another
    noted: dict[tuple[int, int, int], list[str]] = {}
    cover: tuple[int, int, int] | None = None  # the last network kept: the only one a later one can lie in
    for network, note in sorted(zip(networks, notes, strict=True), key=lambda pair: sort_key(pair[0])):
        key = sort_key(network)
        if cover is not None and _within(key, cover):
            key = cover
        else:
            wanted[key] = network
            cover = key
        if note and note not in noted.setdefault(key, []):
            noted[key].append(note)
    kept: list[Row] = []
    for row in doc.rows:
        if row.network is not None and wanted.pop(sort_key(row.network), None) is not None:
            kept.append(row)
    added = []
    rest = list(wanted.items())  # in sort_key order, disjoint
    index = 0
    for merged in collapse_networks([network for _, network in rest]):
        span = sort_key(merged)
        found: list[str] = []
        while index < len(rest) and _within(rest[index][0], span):
            found += [note for note in noted.get(rest[index][0], []) if note not in found]
            index += 1
        added.append(doc.new_row(merged, _joined(found)))
    if not _sorted_networks(_present(kept)):
        return [*kept, *added]
    return _merge_sorted(kept, added)


def _within(key: tuple[int, int, int], outer: tuple[int, int, int]) -> bool:
    """Whether the network of sort key `key` lies inside (or is) that of `outer`."""
    version, first, prefix = key
    outer_version, outer_first, outer_prefix = outer
    bits = 32 if version == 4 else 128
    return (
        version == outer_version
        and prefix >= outer_prefix
        and first >> (bits - outer_prefix) == outer_first >> (bits - outer_prefix)
    )


def _joined(notes: list[str]) -> str | None:
    if len(notes) > _MAX_NOTES:
        notes = [*notes[:_MAX_NOTES], f"and {len(notes) - _MAX_NOTES} more"]
    return "; ".join(notes) or None


def _sorted_networks(networks: list[Network]) -> bool:
    return all(sort_key(a) <= sort_key(b) for a, b in itertools.pairwise(networks))


def finish(doc: AllowlistText, rows: list[Row], notices: list[str], allow_empty: bool, output: Path) -> Change:
    """Check the edited file with every rule of `iac validate`; a Change to write, or ConfigError.

    The rules are compared with the baseline of `output` (`iac.allowlist.baseline.of_rendering`): the rendering there,
    else none (a fresh packing, as `iac render` would write).
    """
    from iac.allowlist import baseline
    from iac.config.load import validate_document
    from iac.config.yamldoc import parse_yaml

    if not rows and doc.rows and not allow_empty:
        raise IacError(
            f"{doc.path}: allowlist: this would remove every entry and lock everyone out: nothing was changed "
            "(pass --allow-empty if that is what you want)"
        )
    text = doc.render(rows)
    try:
        loaded = validate_document(parse_yaml(text, doc.path))  # ConfigError: the file is left as it is
    except ConfigError as exc:
        raise ConfigError([_original_lines(doc, text, problem) for problem in exc.problems]) from None
    compared = baseline.of_rendering(output, loaded.config)
    return Change(
        before=collapse(_present(doc.rows)),
        after=loaded.allowlist.ranges,
        text=text,
        original=doc.original,
        notices=tuple(notices),
        loaded=loaded,
        baseline=compared,
        new_rules=compared.assign(loaded.allowlist, loaded.config.allowlist_max_rules),
    )


def _original_lines(doc: AllowlistText, edited: str, problem: str) -> str:
    """A problem found in the edited text, with the line it has in the file as it is on disk.

    Lines before the list are where they were; lines after it moved by the change in the list's length;
    a line of the new list itself is reported at the `allowlist:` key.
    """
    prefix = f"{doc.path}:"
    line_text, colon, rest = problem.removeprefix(prefix).partition(":")
    if not problem.startswith(prefix) or not colon or not line_text.isdigit():
        return problem
    line = int(line_text)
    head = len(doc.before.splitlines())
    tail = len(doc.after.splitlines())
    edited_lines, original_lines = len(edited.splitlines()), len(doc.original.splitlines())
    if line > edited_lines - tail:
        line -= edited_lines - original_lines
    elif line > head:
        line = head
    return f"{prefix}{line}:{rest}"


def write(doc: AllowlistText, change: Change) -> None:
    """Replace the config atomically, keeping its permissions; refuse if it changed since it was read."""
    write_config_text(doc.path, doc.original, change.text)


def _present(rows: list[Row]) -> list[Network]:
    return [row.network for row in rows if row.network is not None]
