"""The one place that decides which Cloud Armor rule assignment a change is compared with, and says where it
came from: the rendering in the output directory, the rules deployed (the Terraform state), or none.

Every command that shows rules (render, validate, `allowlist list/add/remove/set`, plan, apply and the plan
summary) takes its baseline from here (`of_rendering`; plan and apply fall back on `of_state`), so what an
edit reports as "rules changed" is what `iac apply` applies from the same output directory. The rules of a
rendering are read back here (`current_rules`), by the one parser of iac's own main.tf; rendering only renders.
"""

from __future__ import annotations

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


class Deployment(Protocol):
    """What identifies a deployment in its rendering (a `Config` is one)."""

    @property
    def project(self) -> str: ...

    @property
    def name(self) -> str: ...


def of_rendering(directory: Path, config: Deployment) -> Baseline:
    """The rules of an earlier rendering of the same deployment in `directory`, else no baseline."""
    rules = current_rules(directory, config)
    if rules is None:
        return Baseline("none", directory=directory)
    return Baseline("rendering", rules, directory)


def of_state(directory: Path, deployed: tuple[Rule, ...] | None) -> Baseline:
    """The rules deployed, as read from the Terraform state (`iac.terraform.state`; plan and apply read it after
    init, when `directory` holds no earlier rendering), else no baseline."""
    if not deployed:
        return Baseline("none", directory=directory)
    return Baseline("state", deployed, directory)


# --- reading a rendering back: the one parser of iac's own main.tf -----------------------------------------

# How templates/main.tf.j2 writes the module's identity and each allow rule, to read an earlier rendering back.
_MODULE_ATTRIBUTE = r'^  {name}\s*=\s*"([^"\\]*)"\s*$'
_RULE = re.compile(r"\{\s*priority\s*=\s*(\d+)\s*ranges\s*=\s*\[([^\]]*)\]\s*\}")
_QUOTED = re.compile(r'"([^"\\]*)"')
_COMMENT = re.compile(r"#[^\n]*")


# Written into main.tf by a provisional rendering (templates/main.tf.j2).
PROVISIONAL_MARK = "# PROVISIONAL: packed before the deployed rules were read"


def current_rules(directory: Path, config: Deployment) -> tuple[Rule, ...] | None:
    """The allow rules of an earlier rendering of the same deployment (project and name) in `directory`.

    None when the directory holds no rendering of iac's, one of another deployment, a provisional one (its
    rules were never checked against the deployed ones), or one that cannot be read back: the caller then
    looks elsewhere (the Terraform state) or packs afresh.
    """
    if not directory.is_dir() or "main.tf" not in written_by(directory, RENDER):
        return None
    try:
        # Never through a symlink, never a FIFO or a device: main.tf is input like the ledger that names it.
        text = read_input(directory / "main.tf", RENDERED_FILE, follow_symlinks=False).decode("utf-8")
    except (OSError, UnicodeDecodeError, IacError):
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
