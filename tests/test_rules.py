"""Stable Cloud Armor rule assignment: a range that stays never changes rule, so it is never denied on the way."""

from __future__ import annotations

import ipaddress
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from iac.allowlist import FIRST_PRIORITY, RANGES_PER_RULE, Rule, assign, pack, rule_changes

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
