"""The one place that decides which Cloud Armor rule assignment a change is compared with, and says where it
came from: the rendering in the output directory, the rules deployed (the Terraform state), or none.

Every command that shows rules (render, validate, `allowlist list/add/remove/set`, plan, apply and the plan
summary) takes its baseline from here (`of_rendering`; plan and apply fall back on `of_state`), so what an
edit reports as "rules changed" is what `iac apply` applies from the same output directory. The rules of a
rendering are read back here (`of_rendering`), by the one parser of iac's own allowlist/main.tf (and of the
main.tf of the single-root layout earlier versions rendered); rendering only renders.

A rendering of the single-root layout is upgraded: its rules become the allowlist root's, which adopts them
with import blocks (allowlist/imports.tf) until the user deletes that file once they are applied (`adopted`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from iac.allowlist.ranges import is_network_text
from iac.allowlist.rules import Assignment, Ranges, Rule, RuleChange, assign, rule_changes
from iac.errors import IacError
from iac.files.inputs import RENDERED_FILE, read_input
from iac.files.ledger import RENDER, written_by

Source = Literal["rendering", "state", "none"]
# Both policies carry the same rules; every message about rules says so.
BOTH_POLICIES = "the same rules in the edge and the backend policy"


# Where a rendering keeps its rules: the allowlist root's main.tf, or the one main.tf of the single-root layout.
RULES_FILE = "allowlist/main.tf"
SINGLE_ROOT_FILE = "main.tf"
# The import blocks by which the allowlist root adopts the rules a single-root rendering deployed.
IMPORTS_FILE = "allowlist/imports.tf"


class ImportedRuleRemoved(IacError):
    """A change would remove a rule that allowlist/imports.tf still adopts from the single-root layout: the live
    rule would be left behind, in no state, still allowing its ranges."""


@dataclass(frozen=True)
class Baseline:
    """A rule assignment to keep ranges in (`rules`), and where it came from (`source`, `directory`).

    `adopted` are the priorities of the rules the allowlist root imports from a single-root rendering (all of
    them when `upgrade`: the directory still holds that layout)."""

    source: Source
    rules: tuple[Rule, ...] = ()
    directory: Path | None = None
    adopted: tuple[int, ...] = ()
    upgrade: bool = False

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
        """`ranges` put into rules, keeping each range that stays in its rule of this baseline. A change that
        removes a rule the allowlist root still adopts is refused (ImportedRuleRemoved)."""
        assignment = assign(ranges, self.current, max_rules, repack=repack)
        check_adopted(self.adopted, assignment)
        return assignment

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"source": self.source, "rules": len(self.rules)}
        if self.directory is not None:
            document["directory"] = str(self.directory)
        document["description"] = self.describe()
        if self.adopted:
            document["adopted"] = list(self.adopted)
        return document


def check_adopted(adopted: tuple[int, ...] | list[int], assignment: Assignment) -> None:
    """Refuse an assignment without a rule allowlist/imports.tf adopts (`adopted`, priorities)."""
    removed = sorted(set(adopted) - {rule.priority for rule in assignment.rules})
    if removed:
        raise ImportedRuleRemoved(
            f"this change removes allow rule {', '.join(map(str, removed))}, which {IMPORTS_FILE} still adopts from "
            "the single-root layout (the rule would stay live, managed by no state): nothing was written. Apply "
            f"the upgrade first (`iac apply`), delete {IMPORTS_FILE} in a commit (docs/upgrading.md), then make "
            "this change"
        )


class Deployment(Protocol):
    """What identifies a deployment in its rendering (a `Config` is one)."""

    @property
    def project(self) -> str: ...

    @property
    def name(self) -> str: ...


def of_rendering(directory: Path, config: Deployment) -> Baseline:
    """The rules of an earlier rendering of the same deployment in `directory`, else no baseline.

    A directory that still holds the single-root layout (or an upgrade from it that was interrupted: its
    main.tf is removed last) is read from that main.tf, and every rule of it is to be adopted."""
    written = written_by(directory, RENDER) if directory.is_dir() else frozenset()
    if SINGLE_ROOT_FILE in written and (directory / SINGLE_ROOT_FILE).is_file():
        rules = _rules_of(directory, SINGLE_ROOT_FILE, config)
        if rules is None:
            return Baseline("none", directory=directory, upgrade=True)
        return Baseline("rendering", rules, directory, tuple(r.priority for r in rules), upgrade=True)
    rules = _rules_of(directory, RULES_FILE, config) if RULES_FILE in written else None
    if rules is None:
        return Baseline("none", directory=directory)
    adopted = _adopted(directory) if IMPORTS_FILE in written else ()
    return Baseline("rendering", rules, directory, adopted)


def of_state(directory: Path, deployed: tuple[Rule, ...] | None, *, adopt: bool = False) -> Baseline:
    """The rules deployed, as read from the Terraform state (`iac.terraform.state`; plan and apply read it after
    init, when `directory` holds no earlier rendering), else no baseline. With `adopt` (rules read from the
    serving state of a deployment of the single-root layout), the allowlist root imports them."""
    if not deployed:
        return Baseline("none", directory=directory)
    return Baseline("state", deployed, directory, tuple(rule.priority for rule in deployed) if adopt else ())


# --- reading a rendering back: the one parser of iac's own rules ------------------------------------------

# How templates/allowlist/main.tf.j2 (and the single-root main.tf before it) writes the module's identity and
# each allow rule, to read an earlier rendering back.
_MODULE_ATTRIBUTE = r'^  {name}\s*=\s*"([^"\\]*)"\s*$'
_RULE = re.compile(r"\{\s*priority\s*=\s*(\d+)\s*ranges\s*=\s*\[([^\]]*)\]\s*\}")
_QUOTED = re.compile(r'"([^"\\]*)"')
_COMMENT = re.compile(r"#[^\n]*")


# How templates/allowlist/imports.tf.j2 writes each import's id; the priorities are what is read back.
_IMPORT_ID = re.compile(r'^  id = "projects/[^"/]+/global/securityPolicies/[^"/]+/priority/(\d+)"$', re.MULTILINE)
# Written into the rules' main.tf by a provisional rendering (templates/allowlist/main.tf.j2).
PROVISIONAL_MARK = "# PROVISIONAL: packed before the deployed rules were read"


def _read(directory: Path, name: str) -> str | None:
    try:
        # Never through a symlink, never a FIFO or a device: a rendered file is input like the ledger naming it.
        return read_input(directory / name, RENDERED_FILE, follow_symlinks=False).decode("utf-8")
    except (OSError, UnicodeDecodeError, IacError):
        return None


def _adopted(directory: Path) -> tuple[int, ...]:
    """The priorities allowlist/imports.tf imports: none once the user deleted it; a file there that cannot be
    read (a FIFO, a symlink, not UTF-8) is an error, not silence, since dropping its imports would leave the
    rules it adopts to a plan that creates them again."""
    path = directory / IMPORTS_FILE
    if not os.path.lexists(path):
        return ()
    text = _read(directory, IMPORTS_FILE)
    if text is None:
        raise IacError(
            f"{path}: cannot read it as the import blocks iac wrote (not a regular UTF-8 file?): restore it with "
            "`git checkout` (or delete it, once the rules it imports are in the allowlist state), then run again"
        )
    return tuple(sorted({int(p) for p in _IMPORT_ID.findall(_COMMENT.sub("", text))}))


def _rules_of(directory: Path, name: str, config: Deployment) -> tuple[Rule, ...] | None:
    """The rules written in the rendered file `name`, when it is a rendering of this deployment."""
    text = _read(directory, name)
    if text is None:
        return None
    for attribute, expected in (("project_id", config.project), ("name", config.name)):
        match = re.search(_MODULE_ATTRIBUTE.format(name=attribute), text, re.MULTILINE)
        if match is None or match.group(1) != expected:
            return None
    start = text.find("  allowlist = {\n    rules = [")
    if start < 0 or PROVISIONAL_MARK in text:
        return None  # e.g. a rendering of an iac before stable rules (`ranges = [...]`): the state knows better
    rules = []
    # The comments on range lines (config comments, `hcl.comment`) are not rules: read without them.
    text = _COMMENT.sub("", text[start:])
    for match in _RULE.finditer(text):
        ranges = _QUOTED.findall(match.group(2))
        if not ranges or not all(is_network_text(r) for r in ranges):
            return None
        rules.append(Rule(int(match.group(1)), tuple(ranges)))
    return tuple(rules)
