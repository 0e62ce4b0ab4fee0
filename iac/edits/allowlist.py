"""Edit the allowlist of a config file in place, touching no line outside the list.

The list is located with the YAML parser's marks and rewritten as text, so every comment, the key order
and the formatting of the rest of the file stay byte-for-byte as they were; entries that survive an edit
keep their own lines and comments.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iac.allowlist.ranges import Network, collapse, collapse_networks, missing_from, sort_key
from iac.allowlist.rules import Assignment, RuleChange
from iac.config.text import check_writable, write_config_text
from iac.edits.allowlist_text import MAX_NOTES, AllowlistText, Row, read
from iac.errors import ConfigError, IacError

if TYPE_CHECKING:
    from iac.allowlist.baseline import Baseline
    from iac.config.load import LoadedConfig


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
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"and {len(notes) - MAX_NOTES} more"]
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
