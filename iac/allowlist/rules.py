"""The allowlist's ranges put into Cloud Armor allow rules of at most 10: a fresh packing, or an assignment that
keeps each range in the rule it was in (`assign`), and the rules an assignment changes."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from iac.allowlist.ranges import (
    DEFAULT_RULE_PRIORITY,
    FIRST_PRIORITY,
    RANGES_PER_RULE,
    Allowlist,
    Network,
    last_address,
    merged_spans,
    missing_from,
    network_at,
    network_span,
    network_text,
    parse_network,
    sort_key,
    span_cidrs,
    version_bits,
)
from iac.words import plural


@dataclass(frozen=True)
class Rule:
    """One Cloud Armor allow rule: its priority and its ranges (at most 10, sorted)."""

    priority: int
    ranges: tuple[str, ...]


@dataclass(frozen=True)
class RuleChange:
    """How one rule differs between two assignments; a rule that appears or goes has only one side."""

    priority: int
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"priority": self.priority, "added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True)
class Assignment:
    """Which rule holds which range. `repacked` says a full repack replaced an earlier assignment."""

    rules: tuple[Rule, ...]
    repacked: bool = False


# Ranges as `assign` and `pack` take them: text (parsed here), networks, or an `Allowlist` (parsed already).
Ranges = Sequence[str] | Sequence[Network] | Allowlist
# A range's sort key (see `sort_key`) and its text.
_Keyed = tuple[tuple[int, int, int], str]


def pack(ranges: Ranges) -> tuple[Rule, ...]:
    """The optimal packing: ceil(n / 10) rules of sorted ranges at consecutive priorities."""
    return _pack(_sorted(ranges))


def _pack(ordered: Sequence[_Keyed]) -> tuple[Rule, ...]:
    return tuple(
        Rule(FIRST_PRIORITY + i, tuple(text for _, text in ordered[start : start + RANGES_PER_RULE]))
        for i, start in enumerate(range(0, len(ordered), RANGES_PER_RULE))
    )


def _sorted(ranges: Ranges) -> list[_Keyed]:
    """`_keyed`, in `sort_key` order (ranges of the same key, "1.2.3.4" and "1.2.3.4/32", as given)."""
    return sorted(_keyed(ranges), key=lambda item: item[0])


def _keyed(ranges: Ranges) -> list[_Keyed]:
    """Each range with its sort key; text is parsed once here, a network not at all."""
    if isinstance(ranges, Allowlist):
        return [(sort_key(network), text) for network, text in zip(ranges.networks, ranges.ranges, strict=True)]
    return [(sort_key(parse_network(r)), r) if isinstance(r, str) else (sort_key(r), network_text(r)) for r in ranges]


def assign(ranges: Ranges, current: Sequence[Rule] | None, max_rules: int, *, repack: bool = False) -> Assignment:
    """Put `ranges` into rules, changing as few rules of `current` as possible.

    A range that stays keeps its rule, and so does a range of `current` that a wider range now covers
    (it merged with an added neighbour): only the addresses not covered yet are added, as the fewest
    CIDRs. Removed ranges leave their rule (an emptied rule goes); what is left of a narrowed range goes
    back into its rule when there is room; other added ranges go first into rules that changed anyway,
    then into the rule with the most room, and a new rule (the lowest free priority from FIRST_PRIORITY on)
    is opened only when no rule has room. So an address that stays allowlisted stays in its rule, and
    Cloud Armor, which patches one rule at a time, never has to drop it on the way. Without a current
    assignment, with `repack`, or when the result would need more than `max_rules` rules, the ranges are
    packed afresh (`pack`), every merge collapsed.
    """
    keyed = _sorted(ranges)
    if not current:
        return Assignment(_pack(keyed))
    if repack:
        fresh = _pack(keyed)
        return Assignment(fresh, repacked=fresh != tuple(current))
    rules = _Placement(keyed, current).rules()
    if len(rules) > max_rules:
        return Assignment(_pack(keyed), repacked=True)
    return Assignment(rules)


class _Placement:
    """One run of `assign` against a current assignment, each lookup a set, a bisection or a heap."""

    def __init__(self, keyed: list[_Keyed], current: Sequence[Rule]) -> None:
        self.key_of = {text: key for key, text in keyed}
        self.held: dict[int, list[str]] = {}
        self.changed: list[int] = []
        self.changed_set: set[int] = set()
        self._next_changed = 0  # changed[:_next_changed] are full (rules only fill up here)
        placed: set[str] = set()
        covered: list[tuple[int, int, int]] = []  # ranges of `current` kept because a wider range covers them
        dropped: list[tuple[tuple[int, int, int], int]] = []  # removed ranges of `current` and their rule
        wanted_spans = merged_spans(_key_span(key) for key, _ in keyed)
        for rule in sorted(current, key=lambda r: r.priority):
            if rule.priority in self.held or not 0 <= rule.priority < DEFAULT_RULE_PRIORITY:
                continue
            kept = []
            for text in rule.ranges:
                if text in placed:
                    continue
                if text in self.key_of:
                    kept.append(text)
                    continue
                span = _text_span(text)
                if span is not None and _covers(wanted_spans, span):
                    self.key_of[text] = _span_key(span)
                    covered.append(span)
                    kept.append(text)
                elif span is not None:
                    dropped.append((span, rule.priority))
            kept = kept[:RANGES_PER_RULE]
            placed.update(kept)
            self.held[rule.priority] = kept
            if len(kept) != len(rule.ranges):
                self._mark_changed(rule.priority)
        covered_spans = merged_spans(sorted(covered))
        self.dropped = sorted(dropped)
        # Rules no range has been added to yet, roomiest first (their sizes do not change until then).
        self.unchanged = [(len(kept), p) for p, kept in self.held.items() if p not in self.changed_set]
        heapq.heapify(self.unchanged)
        self._next_free = FIRST_PRIORITY
        for key, text in keyed:
            if text in placed:
                continue
            for piece in _uncovered(key, text, covered_spans):
                self._place(piece)

    def _mark_changed(self, priority: int) -> None:
        if priority not in self.changed_set:
            self.changed_set.add(priority)
            self.changed.append(priority)

    def _place(self, piece: _Keyed) -> None:
        key, text = piece
        self.key_of[text] = key
        priority = self._rule_for(_key_span(key))
        self.held.setdefault(priority, []).append(text)
        self._mark_changed(priority)

    def _rule_for(self, span: tuple[int, int, int]) -> int:
        """Where the next added range goes: the rule of a narrowed range holding it, a rule that changes
        anyway, the roomiest, else a new one."""
        home = _holder(self.dropped, span)
        if home is not None and len(self.held[home]) < RANGES_PER_RULE:
            return home
        while self._next_changed < len(self.changed):
            priority = self.changed[self._next_changed]
            if len(self.held[priority]) < RANGES_PER_RULE:
                return priority
            self._next_changed += 1
        while self.unchanged and self.unchanged[0][1] in self.changed_set:
            heapq.heappop(self.unchanged)
        if self.unchanged and self.unchanged[0][0] < RANGES_PER_RULE:
            return self.unchanged[0][1]
        while self._next_free in self.held:
            self._next_free += 1
        return self._next_free

    def rules(self) -> tuple[Rule, ...]:
        key = self.key_of.__getitem__
        return tuple(Rule(p, tuple(sorted(self.held[p], key=key))) for p in sorted(self.held) if self.held[p])


def _key_span(key: tuple[int, int, int]) -> tuple[int, int, int]:
    version, first, prefix = key
    return version, first, last_address(version, first, prefix)


def _span_key(span: tuple[int, int, int]) -> tuple[int, int, int]:
    version, first, last = span
    return version, first, version_bits(version) - (last - first + 1).bit_length() + 1


def _text_span(text: str) -> tuple[int, int, int] | None:
    try:
        return network_span(parse_network(text))
    except ValueError:
        return None


def _covers(spans: list[tuple[int, int, int]], span: tuple[int, int, int]) -> bool:
    """Whether one of `spans` (sorted, disjoint) holds all of `span`."""
    index = bisect.bisect_right(spans, (span[0], span[1], _MAX_BOUND)) - 1
    return index >= 0 and spans[index][0] == span[0] and spans[index][2] >= span[2]


def _holder(dropped: list[tuple[tuple[int, int, int], int]], span: tuple[int, int, int]) -> int | None:
    """The rule of the removed range (sorted by span) that holds all of `span`, if any."""
    index = bisect.bisect_right(dropped, ((span[0], span[1], _MAX_BOUND), DEFAULT_RULE_PRIORITY)) - 1
    if index < 0:
        return None
    (version, _, last), priority = dropped[index]
    return priority if version == span[0] and last >= span[2] else None


def _uncovered(key: tuple[int, int, int], text: str, covered: list[tuple[int, int, int]]) -> list[_Keyed]:
    """The range `text` less the `covered` spans (sorted, disjoint), as the fewest CIDRs."""
    version, first, last = _key_span(key)
    index = bisect.bisect_left(covered, (version, first, -1))
    if index > 0 and covered[index - 1][0] == version and covered[index - 1][2] >= first:
        index -= 1
    holes = []
    while index < len(covered) and covered[index][0] == version and covered[index][1] <= last:
        holes.append(covered[index])
        index += 1
    if not holes:
        return [(key, text)]
    pieces: list[_Keyed] = []
    start = first
    for _, hole_first, hole_last in [*holes, (version, last + 1, last + 1)]:
        if hole_first > start:
            for piece_first, prefix in span_cidrs(version, start, min(hole_first - 1, last)):
                pieces.append(((version, piece_first, prefix), network_text(network_at(version, piece_first, prefix))))
        start = max(start, hole_last + 1)
    return pieces


_MAX_BOUND = 1 << 129


def rule_changes(before: Sequence[Rule], after: Sequence[Rule]) -> list[RuleChange]:
    """The rules that differ between two assignments, by priority."""
    old = {rule.priority: rule.ranges for rule in before}
    new = {rule.priority: rule.ranges for rule in after}
    changes = []
    for priority in sorted(old.keys() | new.keys()):
        was, now = old.get(priority, ()), new.get(priority, ())
        if set(was) != set(now):
            changes.append(RuleChange(priority, tuple(missing_from(now, was)), tuple(missing_from(was, now))))
    return changes


def repack_notice(before: Sequence[Rule], after: Sequence[Rule]) -> str:
    """What every command says when a repack moves ranges between rules (see `assign`)."""
    count = len(rule_changes(before, after))
    return f"repacking the allowlist: {plural(count, 'rule')} change"
