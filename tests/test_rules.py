"""Stable Cloud Armor rule assignment: a range that stays never changes rule, so it is never denied on the way."""

from __future__ import annotations

import ipaddress
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from iac.allowlist.ranges import FIRST_PRIORITY, RANGES_PER_RULE, from_networks
from iac.allowlist.rules import Rule, assign, pack, rule_changes

# Distinct, non-adjacent /32s from a global block: the packer works on ranges already collapsed.
_SPACE = int(ipaddress.ip_address("81.0.0.0"))


def cidr(n: int) -> str:
    return f"{ipaddress.ip_address(_SPACE + 2 * n)}/32"


def where(rules: tuple[Rule, ...]) -> dict[str, int]:
    return {r: rule.priority for rule in rules for r in rule.ranges}


def check_well_formed(rules: tuple[Rule, ...], max_rules: int) -> None:
    assert all(1 <= len(rule.ranges) <= RANGES_PER_RULE for rule in rules)
    assert len({rule.priority for rule in rules}) == len(rules), "priorities are unique"
    assert all(list(rule.ranges) == sorted(rule.ranges, key=lambda r: ipaddress.ip_network(r)) for rule in rules)
    assert len(rules) <= max_rules


@st.composite
def range_sets(draw: st.DrawFn, size: int, space: int) -> set[int]:
    """Sets of 0-`size` numbers spread over the whole size range (plain st.sets() stays small)."""
    count = draw(st.integers(min_value=0, max_value=size))
    seed = draw(st.integers(min_value=0, max_value=2**32))
    return set(random.Random(seed).sample(range(space), count))


operations = st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=5000)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(start=range_sets(2000, 5000), steps=operations)
def test_single_adds_and_removes_keep_every_staying_range_in_its_rule(start: set[int], steps) -> None:
    max_rules = 200
    ranges = {cidr(n) for n in start}
    rules = assign(sorted(ranges), None, max_rules).rules
    check_well_formed(rules, max_rules)
    assert len(rules) == math.ceil(len(ranges) / RANGES_PER_RULE), "a fresh packing is optimal"
    for add, n in steps:
        target = cidr(n)
        if add == (target in ranges):
            continue  # already there / not there: no single change
        new_ranges = ranges | {target} if add else ranges - {target}
        if len(new_ranges) > max_rules * RANGES_PER_RULE:
            continue  # more than the config allows: `iac validate` refuses such a list before any packing
        result = assign(sorted(new_ranges), rules, max_rules)
        assert not result.repacked
        check_well_formed(result.rules, max_rules)
        before, after = where(rules), where(result.rules)
        assert set(after) == new_ranges
        assert all(after[r] == before[r] for r in new_ranges & ranges), "a range that stays keeps its rule"
        assert len(rule_changes(rules, result.rules)) <= 2
        ranges, rules = new_ranges, result.rules


@settings(max_examples=100, deadline=None)
@given(
    start=range_sets(400, 3000),
    new=range_sets(400, 3000),
    max_rules=st.integers(min_value=40, max_value=60),
)
def test_any_change_stays_within_the_rule_limit(start: set[int], new: set[int], max_rules: int) -> None:
    rules = assign(sorted(cidr(n) for n in start), None, max_rules).rules
    result = assign(sorted(cidr(n) for n in new), rules, max_rules)
    check_well_formed(result.rules, max_rules)
    assert set(where(result.rules)) == {cidr(n) for n in new}
    if not result.repacked:
        stay = {cidr(n) for n in start & new}
        assert all(where(result.rules)[r] == where(rules)[r] for r in stay)


def test_a_rotation_reuses_the_rule_it_frees() -> None:
    ranges = [cidr(n) for n in range(500)]
    rules = pack(ranges)
    rotated = [r for r in ranges if r != cidr(250)] + [cidr(9999)]
    result = assign(rotated, rules, 199)
    [change] = rule_changes(rules, result.rules)
    assert change.added == (cidr(9999),) and change.removed == (cidr(250),)
    assert change.priority == FIRST_PRIORITY + 25


def test_a_new_rule_opens_only_when_every_rule_is_full() -> None:
    rules = pack([cidr(n) for n in range(20)])
    result = assign([cidr(n) for n in range(21)], rules, 199)
    assert [rule.priority for rule in result.rules] == [1000, 1001, 1002]
    assert result.rules[2].ranges == (cidr(20),)
    # Room left by a removal is used before a new rule is opened.
    fewer = assign([cidr(n) for n in range(1, 21)], rules, 199)
    assert [rule.priority for rule in fewer.rules] == [1000, 1001]
    assert cidr(20) in fewer.rules[0].ranges


def test_an_emptied_rule_goes_and_its_priority_is_reused() -> None:
    rules = pack([cidr(n) for n in range(30)])
    emptied = assign([cidr(n) for n in range(30) if not 10 <= n < 20], rules, 199)
    assert [rule.priority for rule in emptied.rules] == [1000, 1002]
    refilled = assign(
        [cidr(n) for n in range(30) if not 10 <= n < 20] + [cidr(n) for n in range(100, 111)], emptied.rules, 199
    )
    assert [rule.priority for rule in refilled.rules] == [1000, 1001, 1002, 1003]


def test_repack_is_explicit_or_forced_by_the_limit() -> None:
    scattered = (
        Rule(1000, (cidr(1),)),
        Rule(1001, (cidr(2),)),
        Rule(1005, (cidr(3),)),
    )
    kept = assign([cidr(1), cidr(2), cidr(3)], scattered, 199)
    assert kept.rules == scattered and not kept.repacked
    repacked = assign([cidr(1), cidr(2), cidr(3)], scattered, 199, repack=True)
    assert repacked.repacked and repacked.rules == (Rule(1000, (cidr(1), cidr(2), cidr(3))),)
    # Three rules do not fit a limit of two: the list is packed afresh (one rule) and says so.
    forced = assign([cidr(1), cidr(2), cidr(3), cidr(4)], scattered, 2)
    assert forced.repacked and len(forced.rules) == 1


def test_same_input_same_output() -> None:
    rules = pack([cidr(n) for n in range(95)])
    new = [cidr(n) for n in range(3, 97)]
    assert assign(new, rules, 199) == assign(list(reversed(new)), rules, 199)


# --- merging ranges: an address that stays allowed stays in the rule that allowed it ----------------------

# A small space, so that added addresses merge with their neighbours into wider ranges.
_MERGE_SPACE = int(ipaddress.ip_address("36.0.0.0"))


def address(n: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network((_MERGE_SPACE + n, 32))


def allowed(entries: set[int]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """What the config gives `assign`: the entries collapsed into the fewest ranges."""
    return from_networks([address(n) for n in entries]).networks


def rule_of_each_address(rules: tuple[Rule, ...]) -> dict[int, set[int]]:
    """For each address (as n), the priorities of the rules that allow it."""
    covering: dict[int, set[int]] = {}
    for rule in rules:
        for text in rule.ranges:
            network = ipaddress.ip_network(text)
            for n in range(int(network.network_address), int(network.broadcast_address) + 1):
                covering.setdefault(n - _MERGE_SPACE, set()).add(rule.priority)
    return covering


def test_a_merge_across_a_rule_boundary_moves_no_address_that_stays() -> None:
    """36.0.0.0/31 last in rule 1000, 36.0.0.3/32 first in rule 1001: adding 36.0.0.2 would collapse them into
    36.0.0.0/30 in one rule, and 36.0.0.3 would leave rule 1001 (denied while Cloud Armor patches the rules)."""
    below = [f"35.0.0.{2 * i}/32" for i in range(9)]
    above = [f"36.0.1.{2 * i}/32" for i in range(9)]
    current = pack([*below, "36.0.0.0/31", "36.0.0.3/32", *above])
    assert current[0].ranges[-1] == "36.0.0.0/31" and current[1].ranges[0] == "36.0.0.3/32"
    entries = [*below, "36.0.0.0/31", "36.0.0.2", "36.0.0.3", *above]
    networks = from_networks([ipaddress.ip_network(e) for e in entries]).networks
    assert "36.0.0.0/30" in [str(n) for n in networks]
    result = assign(networks, current, 199)
    assert not result.repacked
    assert "36.0.0.0/31" in result.rules[0].ranges
    assert "36.0.0.3/32" in result.rules[1].ranges
    assert "36.0.0.2/32" in [r for rule in result.rules for r in rule.ranges]
    # Only the address added is new: one rule gains it, no rule loses anything.
    [change] = rule_changes(current, result.rules)
    assert change.added == ("36.0.0.2/32",) and change.removed == ()
    # A repack collapses what was kept apart.
    repacked = assign(networks, result.rules, 199, repack=True)
    assert "36.0.0.0/30" in [r for rule in repacked.rules for r in rule.ranges]


@settings(max_examples=150, deadline=None)
@given(
    start=st.sets(st.integers(min_value=0, max_value=95), max_size=60),
    steps=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=95)), max_size=40),
)
def test_merging_and_splitting_ranges_keep_staying_addresses_in_their_rules(start: set[int], steps) -> None:
    """Entries are neighbouring addresses, so every add can merge ranges (within a rule or across rules) and
    every remove can split one. The rules allow exactly the entries; an added address moves no other one;
    a range of the earlier assignment that is still wholly allowed stays in its rule."""
    max_rules = 200
    entries = set(start)
    rules = assign(allowed(entries), None, max_rules).rules
    for add, n in steps:
        new_entries = entries | {n} if add else entries - {n}
        if new_entries == entries:
            continue
        result = assign(allowed(new_entries), rules, max_rules)
        assert not result.repacked
        check_well_formed(result.rules, max_rules)
        before, after = rule_of_each_address(rules), rule_of_each_address(result.rules)
        assert set(after) == new_entries, "the rules allow exactly the entries"
        if add:
            assert all(after[a] >= before[a] for a in entries), "an address that stays keeps its rule"
        for rule in rules:
            for text in rule.ranges:
                network = ipaddress.ip_network(text)
                first = int(network.network_address) - _MERGE_SPACE
                if all(a in new_entries for a in range(first, first + network.num_addresses)):
                    assert text in next(r.ranges for r in result.rules if r.priority == rule.priority)
        entries, rules = new_entries, result.rules


_OCTET = st.one_of(
    st.sampled_from(["0", "16", "255", "00", "01", "010", "256", "-1", ""]), st.integers(0, 300).map(str)
)
_PREFIX = st.one_of(st.none(), st.integers(0, 40).map(str), st.sampled_from(["08", "00", "032", ""]))


@given(st.lists(_OCTET, min_size=4, max_size=4), _PREFIX)
def test_a_rendered_range_is_read_back_only_when_written_as_iac_writes_it(
    octets: list[str], prefix: str | None
) -> None:
    """A rendering's ranges are checked without building networks (20,000 of them): the same verdict as
    parsing each and writing it again, for every spelling, odd ones included (01, /08, host bits)."""
    from iac.allowlist.ranges import is_network_text, network_text, parse_network

    text = ".".join(octets) + ("" if prefix is None else f"/{prefix}")
    try:
        expected = network_text(parse_network(text)) == text
    except ValueError:
        expected = False
    assert is_network_text(text) is expected
    ipv6 = f"2a00:1450:{octets[0]}::/{prefix}"
    try:
        expected = network_text(parse_network(ipv6)) == ipv6
    except ValueError:
        expected = False
    assert is_network_text(ipv6) is expected
