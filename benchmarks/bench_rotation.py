#!/usr/bin/env python3
"""Benchmark allowlist rotation: how many Cloud Armor rules one rotation changes, and how many rules remain.

    python benchmarks/bench_rotation.py [--ranges N] [--rotations N] [--seed N] [--json]

A rotation is one single-address change to the list: an address added, removed, or replaced by another
(a third each, at random). Each is assigned with `iac.allowlist.rules.assign` against the previous assignment,
as `iac render` does against build/, and compared with the chunked packing of the sorted list that the
module used before (a new rendering from scratch). Targets: at most 2 rules and on average at most 1.1
rules changed per rotation and policy, and the rule count after all rotations close to ceil(n / 10).
Exit status 1 if a target is missed. Standard library and iac only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import random
import statistics
import sys

from iac.allowlist.ranges import RANGES_PER_RULE
from iac.allowlist.rules import assign, pack, rule_changes

TARGET_MAX = 2
TARGET_MEAN = 1.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=1000)
    parser.add_argument("--rotations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    base = int(ipaddress.ip_address("81.0.0.0"))
    pool = rng.sample(range(0, 2**20, 2), args.ranges * 3)  # every other address: nothing merges
    cidr = [f"{ipaddress.ip_address(base + n)}/32" for n in pool]
    present = set(cidr[: args.ranges])
    spare = cidr[args.ranges :]
    max_rules = math.ceil(args.ranges * 1.5 / RANGES_PER_RULE)

    rules = assign(sorted(present), None, max_rules).rules
    stable: list[int] = []
    chunked: list[int] = []
    repacks = 0
    for _ in range(args.rotations):
        kind = rng.choice(("add", "remove", "replace"))
        new = set(present)
        if kind in ("remove", "replace"):
            new.discard(rng.choice(sorted(present)))
        if kind in ("add", "replace"):
            new.add(spare.pop())
        result = assign(sorted(new), rules, max_rules)
        repacks += result.repacked
        stable.append(len(rule_changes(rules, result.rules)))
        chunked.append(len(rule_changes(pack(sorted(present)), pack(sorted(new)))))
        present, rules = new, result.rules

    report = {
        "ranges": args.ranges,
        "rotations": args.rotations,
        "stable": {"max": max(stable), "mean": round(statistics.fmean(stable), 3)},
        "chunked_before": {"max": max(chunked), "mean": round(statistics.fmean(chunked), 3)},
        "repacks": repacks,
        "rules_after": len(rules),
        "optimal_rules_after": math.ceil(len(present) / RANGES_PER_RULE),
    }
    ok = report["stable"]["max"] <= TARGET_MAX and report["stable"]["mean"] <= TARGET_MEAN and not repacks
    if args.json:
        print(json.dumps({**report, "ok": ok}, indent=2))
    else:
        print(f"{args.rotations} single-address rotations of a {args.ranges}-range allowlist (per policy):")
        print(f"  rules changed, stable assignment: max {report['stable']['max']}, mean {report['stable']['mean']}")
        print(
            f"  rules changed, chunked sorted list (before): max {report['chunked_before']['max']}, "
            f"mean {report['chunked_before']['mean']}"
        )
        optimal = report["optimal_rules_after"]
        print(f"  rules after: {report['rules_after']} (ceil(n / 10) = {optimal}); repacks: {repacks}")
        print(f"targets (max <= {TARGET_MAX}, mean <= {TARGET_MEAN}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
