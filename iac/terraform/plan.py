"""What a saved plan will do, read from `terraform show -json` (Terraform's documented JSON plan format)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from iac.allowlist.ranges import missing_from
from iac.errors import IacError
from iac.terraform.layout import ALLOWLIST
from iac.terraform.runner import TerraformJson

# A change to any of these, or to the allowlist_ranges output, means the CDN cache must be invalidated:
# objects cached under the old rules would otherwise keep being served until they expire.
SECURITY_POLICY_TYPES = frozenset({"google_compute_security_policy", "google_compute_security_policy_rule"})
ALLOWLIST_OUTPUT = "allowlist_ranges"
# "import": a resource an import block adopts, and nothing else changes.
ACTIONS = ("create", "update", "replace", "delete", "forget", "import")
# What stands for a value Terraform marks sensitive in the digested plan: the digest never depends on a secret.
SENSITIVE = "(sensitive)"
DIGEST_FORMAT = "iac-plan-digest/1"
# The digest of a run over more than one root module: of each root's digest, by root, in run order.
ROOTS_DIGEST_FORMAT = "iac-plan-digest-roots/1"


class PlanFormatError(IacError, ValueError):
    """The JSON plan holds something this version of iac does not understand."""


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    action: str
    root: str = ""  # the root module planned (`serving`, `allowlist`), once plans are combined


@dataclass(frozen=True)
class PlanSummary:
    resources: tuple[ResourceChange, ...]
    outputs_changed: tuple[str, ...]
    allowlist_before: tuple[str, ...]
    allowlist_after: tuple[str, ...]
    # SHA-256 of what the plan changes (`digest`): equal for two plans that would deploy the same.
    digest: str = ""
    # The root modules planned, in run order, each with its own summary (`combine`); empty for one plan.
    roots: tuple[tuple[str, PlanSummary], ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.resources or self.outputs_changed)

    @property
    def security_policies_changed(self) -> bool:
        return any(change.type in SECURITY_POLICY_TYPES and change.action != "import" for change in self.resources)

    @property
    def allowlist_added(self) -> list[str]:
        return missing_from(self.allowlist_after, self.allowlist_before)

    @property
    def allowlist_removed(self) -> list[str]:
        return missing_from(self.allowlist_before, self.allowlist_after)

    @property
    def allowlist_changed(self) -> bool:
        """True when the plan changes who may read: the cache must then be invalidated after apply."""
        return self.security_policies_changed or self.allowlist_before != self.allowlist_after

    @property
    def first_deployment(self) -> bool:
        """Nothing was deployed before: there is no cache yet, so nothing to invalidate."""
        return not self.allowlist_before and all(
            c.action in ("create", "import") for c in self.resources if c.type in SECURITY_POLICY_TYPES
        )

    @property
    def needs_invalidation(self) -> bool:
        return self.allowlist_changed and not self.first_deployment

    def counts(self) -> dict[str, int]:
        return {action: sum(1 for c in self.resources if c.action == action) for action in ACTIONS}

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": self.has_changes,
            "digest": self.digest,
            "counts": self.counts(),
            "resources": [
                {"address": c.address, "type": c.type, "action": c.action, **({"root": c.root} if c.root else {})}
                for c in self.resources
            ],
            "outputs_changed": list(self.outputs_changed),
            "allowlist": {
                "changed": self.allowlist_changed,
                "needs_invalidation": self.needs_invalidation,
                "security_policies_changed": self.security_policies_changed,
                "added": self.allowlist_added,
                "removed": self.allowlist_removed,
            },
            **({"roots": {root: plan.to_json() for root, plan in self.roots}} if self.roots else {}),
        }

    def root(self, name: str) -> PlanSummary | None:
        """The plan of root module `name`, when it was planned."""
        return dict(self.roots).get(name)


def combine(roots: list[tuple[str, PlanSummary]]) -> PlanSummary:
    """One summary of the plans of several root modules (`(root, plan)` in run order): their changes, each
    with its root; the allowlist before and after (`_allowlist_of`); one digest.

    The digest of one root is that root's; of several, the SHA-256 of each root's digest by root, so an
    approval covers exactly the roots planned (`iac apply --only` must name the same)."""
    resources = tuple(ResourceChange(c.address, c.type, c.action, root) for root, plan in roots for c in plan.resources)
    before, after = _allowlist_of(roots)
    digest = roots[0][1].digest if len(roots) == 1 else _roots_digest(roots)
    return PlanSummary(
        resources=resources,
        outputs_changed=tuple(sorted({f"{root}.{name}" for root, plan in roots for name in plan.outputs_changed})),
        allowlist_before=before,
        allowlist_after=after,
        digest=digest,
        roots=tuple(roots),
    )


def _roots_digest(roots: list[tuple[str, PlanSummary]]) -> str:
    """SHA-256 (hex) of the roots' digests, by root in run order."""
    document = {"format": ROOTS_DIGEST_FORMAT, "roots": [[root, plan.digest] for root, plan in roots]}
    canonical = json.dumps(document, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _allowlist_of(roots: list[tuple[str, PlanSummary]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The allowlist before and after the plans of `roots`, as the allowlist root's `allowlist_ranges` output
    plans it. Deployed before that root had a state (an upgrade), the ranges are the ones the output of the
    single-root layout still holds in the serving state, which the serving root drops: dropping it removes
    no range. Without the allowlist root planned, the allowlist stays as it is (serving ignores the rules)."""
    deployed = next((plan.allowlist_before for root, plan in roots if root != ALLOWLIST and plan.allowlist_before), ())
    allowlist = dict(roots).get(ALLOWLIST)
    if allowlist is None:
        return deployed, deployed
    return allowlist.allowlist_before or deployed, allowlist.allowlist_after


def action_of(actions: list[str]) -> str | None:
    """One word for Terraform's action list; None for no-op and data-source reads."""
    if not all(isinstance(action, str) for action in actions):
        raise PlanFormatError("planned actions in the Terraform plan that are not words: upgrade iac")
    kinds = set(actions)
    if kinds in ({"no-op"}, {"read"}):
        return None
    if kinds == {"create", "delete"}:
        return "replace"
    if len(kinds) == 1:
        (only,) = kinds
        if only in ACTIONS:
            return only
    raise PlanFormatError(f"unknown planned actions {actions!r} in the Terraform plan: upgrade iac")


def summarize(plan: dict[str, Any]) -> PlanSummary:
    """Summarise a JSON plan: the resources it changes and how, and the allowlist before and after.

    A plan of another shape than Terraform's documented one is one `IacError` saying where.
    """
    read = TerraformJson("the plan from `terraform show -json`")
    changes = []
    digested: list[dict[str, Any]] = []
    for index, raw in enumerate(read.at(plan, "resource_changes", list)):
        where = f"resource_changes[{index}]"
        item = read.item(raw, dict, where)
        change = read.at(item, "change", dict, where, required=True)
        actions = read.at(change, "actions", list, f"{where}.change", required=True)
        address = read.at(item, "address", str, where, required=True)
        if actions != ["no-op"] or change.get("importing") is not None:
            digested.append({"address": address, "actions": actions, **_planned(change)})
            if change.get("importing") is not None:
                digested[-1]["importing"] = change["importing"]
        if item.get("mode", "managed") != "managed":
            continue
        action = action_of(actions)
        if action is None and isinstance(change.get("importing"), dict):
            action = "import"
        if action is not None:
            changes.append(ResourceChange(address, read.at(item, "type", str, where, required=True), action))
    changes.sort(key=lambda c: c.address)

    outputs = read.at(plan, "output_changes", dict)
    changed_outputs = []
    digested_outputs: dict[str, Any] = {}
    for name, raw in outputs.items():
        output = read.item(raw, dict, f"output_changes.{name}")
        actions = read.at(output, "actions", list, f"output_changes.{name}", required=True)
        if action_of(actions):
            changed_outputs.append(name)
        if actions != ["no-op"]:
            digested_outputs[name] = {"actions": actions, **_planned(output)}
    allowlist = outputs.get(ALLOWLIST_OUTPUT, {})
    where = f"output_changes.{ALLOWLIST_OUTPUT}"
    return PlanSummary(
        resources=tuple(changes),
        outputs_changed=tuple(sorted(changed_outputs)),
        allowlist_before=_strings(read, allowlist.get("before"), f"{where}.before"),
        allowlist_after=_strings(read, allowlist.get("after"), f"{where}.after"),
        digest=digest(digested, digested_outputs),
    )


def digest(resource_changes: list[dict[str, Any]], output_changes: dict[str, Any]) -> str:
    """SHA-256 (hex) of a plan's changes: canonical JSON of each changed resource's address, actions and
    planned values, and of each changed output, with sensitive values replaced by a marker. Two plans that
    would deploy the same give the same digest, whatever the values were before (not digested) and
    whatever Terraform's JSON ordering."""
    document = {
        "format": DIGEST_FORMAT,
        "resource_changes": sorted(resource_changes, key=lambda change: str(change["address"])),
        "output_changes": output_changes,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _planned(change: dict[str, Any]) -> dict[str, Any]:
    """A change's planned values for the digest: `after` with what `after_sensitive` marks replaced by
    SENSITIVE, and which values are known only after apply (`after_unknown`)."""
    return {
        "after": _masked(change.get("after"), change.get("after_sensitive")),
        "after_unknown": change.get("after_unknown", False),
    }


def _masked(value: object, sensitive: object) -> object:
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, dict):
        marks = sensitive if isinstance(sensitive, dict) else {}
        return {key: _masked(item, marks.get(key)) for key, item in value.items()}
    if isinstance(value, list):
        marks_list = sensitive if isinstance(sensitive, list) else []
        return [_masked(item, marks_list[i] if i < len(marks_list) else None) for i, item in enumerate(value)]
    return value


def _strings(read: TerraformJson, value: object, where: str) -> tuple[str, ...]:
    """A list of strings (null, as for a value not known before apply, is none)."""
    items = read.item(value or [], list, where)
    return tuple(read.item(item, str, f"{where}[{index}]") for index, item in enumerate(items))
