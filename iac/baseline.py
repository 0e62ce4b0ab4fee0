"""The one place that decides which Cloud Armor rule assignment a change is compared with, and says where it
came from: the rendering in the output directory, the rules deployed (the Terraform state), or none.

Every command that shows rules (render, validate, `allowlist list/add/remove/set`, plan, apply and the plan
summary) takes its baseline from here (`of_rendering`; plan and apply fall back on `of_state`), so what an
edit reports as "rules changed" is what `iac apply` applies from the same output directory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from iac.allowlist import DEFAULT_RULE_PRIORITY, Assignment, Ranges, Rule, RuleChange, assign, rule_changes

if TYPE_CHECKING:
    from iac.config import Config
    from iac.terraform import TerraformJson

Source = Literal["rendering", "state", "none"]

# The module's Cloud Armor policies: their allow rules are the deployed rule assignment.
_POLICY_TYPE = "google_compute_security_policy"
# Both policies carry the same rules; every message about rules says so.
BOTH_POLICIES = "the same rules in the edge and the backend policy"


@dataclass(frozen=True)
class Baseline:
    """A rule assignment to keep ranges in (`rules`), and where it came from (`source`, `directory`)."""

    source: Source
    rules: tuple[Rule, ...] = ()
    directory: Path | None = None

    @property
    def current(self) -> tuple[Rule, ...] | None:
        """The rules to keep ranges in, for `assign` and the renderer; None: pack afresh."""
        return None if self.source == "none" else self.rules

    def describe(self) -> str:
        """Where the rules a change is compared with come from, for every message that shows rule changes."""
        if self.source == "rendering":
            return f"compared with the rendering in {self.directory}/"
        if self.source == "state":
            return "compared with the rules deployed (read from the Terraform state)"
        where = f" in {self.directory}/" if self.directory is not None else ""
        return f"no earlier rendering{where}: the rules are packed afresh"

    def changes(self, assignment: Assignment) -> list[RuleChange]:
        """The rules `assignment` changes against this baseline (every rule, when there is none)."""
        return rule_changes(self.rules, assignment.rules)

    def assign(self, ranges: Ranges, max_rules: int, *, repack: bool = False) -> Assignment:
        """`ranges` put into rules, keeping each range that stays in its rule of this baseline."""
        return assign(ranges, self.current, max_rules, repack=repack)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"source": self.source, "rules": len(self.rules)}
        if self.directory is not None:
            document["directory"] = str(self.directory)
        document["description"] = self.describe()
        return document


def of_rendering(directory: Path, config: Config) -> Baseline:
    """The rules of an earlier rendering of the same deployment in `directory`, else no baseline."""
    from iac.render import current_rules

    rules = current_rules(directory, config)
    if rules is None:
        return Baseline("none", directory=directory)
    return Baseline("rendering", rules, directory)


def of_state(directory: Path, state: dict[str, Any]) -> Baseline:
    """The rules deployed, from `terraform show -json` of the state (plan and apply read it after init, when
    `directory` holds no earlier rendering), else no baseline."""
    deployed = rules_from_state(state)
    if not deployed:
        return Baseline("none", directory=directory)
    return Baseline("state", deployed, directory)


def rules_from_state(state: dict[str, Any]) -> tuple[Rule, ...] | None:
    """The allow rules deployed, from `terraform show -json` of the state (Terraform's JSON state format).

    Both policies hold the same rules; the edge policy is read when present. None when nothing is deployed.
    A state of another shape is one `IacError` saying where (never what: the state holds the HMAC secret).
    """
    from iac.terraform import TerraformJson  # plan and apply only: render and the edits run no Terraform

    read = TerraformJson("the state from `terraform show -json`")
    values = read.at(state, "values", dict)
    policies = [
        (resource, where)
        for resource, where in _resources(read, read.at(values, "root_module", dict, "values"), "values.root_module")
        if resource.get("type") == _POLICY_TYPE and resource.get("mode", "managed") == "managed"
    ]
    if not policies:
        return None
    policies.sort(key=lambda r: (r[0].get("index") != "edge", str(r[0].get("address"))))
    policy, where = policies[0]
    rules = []
    for index, raw in enumerate(read.at(read.at(policy, "values", dict, where), "rule", list, f"{where}.values")):
        rule = read.item(raw, dict, f"{where}.values.rule[{index}]")
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
