"""The rules deployed, read from the Terraform state (`terraform show -json`): the baseline of plan and apply
when the output directory holds no earlier rendering (`iac.allowlist.baseline.of_state`).

The allowlist root's state holds them as `google_compute_security_policy_rule` resources; the serving root's
(and the single-root layout's) state holds them inline, in each `google_compute_security_policy` as refreshed."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from iac.allowlist.ranges import DEFAULT_RULE_PRIORITY
from iac.allowlist.rules import Rule
from iac.terraform.runner import TerraformJson

# The module's Cloud Armor policies: their allow rules are the deployed rule assignment.
_POLICY_TYPE = "google_compute_security_policy"
# The allowlist module's rules, keyed "<policy>-<priority>" (edge or backend).
_RULE_TYPE = "google_compute_security_policy_rule"


def rules_from_state(state: dict[str, Any]) -> tuple[Rule, ...] | None:
    """The allow rules deployed, from `terraform show -json` of the state (Terraform's JSON state format).

    Both policies hold the same rules; the edge policy is read when present. None when nothing is deployed.
    A state of another shape is one `IacError` saying where (never what: the state holds the HMAC secret).
    """
    read = TerraformJson("the state from `terraform show -json`")
    values = read.at(state, "values", dict)
    managed = [
        (resource, where)
        for resource, where in _resources(read, read.at(values, "root_module", dict, "values"), "values.root_module")
        if resource.get("mode", "managed") == "managed"
    ]
    standalone = [(r, where) for r, where in managed if r.get("type") == _RULE_TYPE]
    if standalone:
        # One policy's rules: the edge policy's (keys "edge-<priority>"), else the other's.
        edge = [(r, w) for r, w in standalone if str(r.get("index", "")).startswith("edge-")]
        chosen = edge or [(r, w) for r, w in standalone if str(r.get("index", "")).startswith("backend-")]
        return _rules([read.at(r, "values", dict, w) for r, w in chosen])
    policies = [(r, where) for r, where in managed if r.get("type") == _POLICY_TYPE]
    if not policies:
        return None
    policies.sort(key=lambda r: (r[0].get("index") != "edge", str(r[0].get("address"))))
    policy, where = policies[0]
    inline = read.at(read.at(policy, "values", dict, where), "rule", list, f"{where}.values")
    return _rules([read.item(raw, dict, f"{where}.values.rule[{i}]") for i, raw in enumerate(inline)])


def _rules(found: list[dict[str, Any]]) -> tuple[Rule, ...] | None:
    """The allow rules among `found` (rules' values), by priority; None for a rule iac cannot read."""
    rules = []
    for rule in found:
        priority = rule.get("priority")
        if rule.get("action") != "allow" or not isinstance(priority, int) or priority >= DEFAULT_RULE_PRIORITY:
            continue
        ranges = [
            cidr
            for match in _dicts(rule.get("match"))
            for config in _dicts(match.get("config"))
            for cidr in _list(config.get("src_ip_ranges"))
        ]
        normalised = _normalised(ranges)
        if normalised is None:
            return None
        rules.append(Rule(priority, normalised))
    return tuple(sorted(rules, key=lambda r: r.priority))


def _resources(read: TerraformJson, module: dict[str, Any], where: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every resource of `module` and its child modules, with where it is in the state."""
    for index, resource in enumerate(read.at(module, "resources", list, where)):
        yield read.item(resource, dict, f"{where}.resources[{index}]"), f"{where}.resources[{index}]"
    for index, child in enumerate(read.at(module, "child_modules", list, where)):
        yield from _resources(
            read, read.item(child, dict, f"{where}.child_modules[{index}]"), f"{where}.child_modules[{index}]"
        )


def _list(value: object) -> list[Any]:
    """A list in a rule (a rule edited by hand into something else has none)."""
    return value if isinstance(value, list) else []


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _normalised(ranges: list[Any]) -> tuple[str, ...] | None:
    try:
        return tuple(str(ipaddress.ip_network(str(cidr), strict=False)) for cidr in ranges)
    except ValueError:
        return None  # a rule edited by hand into something else: pack afresh rather than guess
