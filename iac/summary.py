"""`iac plan --summary FILE`: the plan as Markdown for a reviewer (a pull request comment, a job summary).

Pure text from the plan's summary, the rules and their baseline; the only effects are the checks and the
atomic write of the file. Text from the config (entry comments) is escaped: it never becomes Markdown or HTML.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from iac.errors import IacError
from iac.words import plural

if TYPE_CHECKING:
    from iac.allowlist import Assignment
    from iac.baseline import Baseline
    from iac.config import LoadedConfig
    from iac.plan import PlanSummary

# Every ASCII punctuation character CommonMark lets a backslash escape: escaped, a comment renders as itself.
_PUNCTUATION = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def check_target(path: Path) -> None:
    """Fail before Terraform runs when the summary could not be written to `path`."""
    what = f"--summary {path}"
    if path.is_symlink() and not path.exists():
        raise IacError(
            f"{what}: is a symbolic link to {os.readlink(path)}, which does not exist (a dangling link): nothing is "
            "written through it (its directories would be created); point it at a file in an existing directory, "
            "or give another path"
        )
    if path.exists() and not path.is_file():
        raise IacError(f"{what}: is not a regular file: give a file path for the Markdown summary")
    if not path.parent.is_dir():
        raise IacError(f"{what}: the directory {path.parent} does not exist: create it or give another path")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise IacError(f"{what}: cannot be written (permission denied): give a path iac can write")


def write(path: Path, text: str) -> None:
    """Replace `path` with `text`, atomically (through a symlink, as $GITHUB_STEP_SUMMARY may be)."""
    from iac.files import write_atomic

    target = path.resolve()
    if not target.parent.is_dir():  # the link changed since check_target: never create its directories
        raise IacError(f"--summary {path}: the directory {target.parent} does not exist: nothing was written")
    try:
        write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise IacError(f"--summary {path}: cannot write the summary: {exc.strerror}") from None


def escape(text: str) -> str:
    """`text` as literal Markdown: punctuation backslash-escaped, so no link, mention, HTML or table break."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def _code(cidr: str) -> str:
    return f"`{cidr}`"  # a range iac validated: digits, dots, colons and a slash


def markdown(
    plan: PlanSummary,
    baseline: Baseline,
    assignment: Assignment,
    loaded: LoadedConfig,
    directory: Path,
) -> str:
    """The summary of a plan of `loaded` rendered in `directory`, for a reviewer."""
    from iac.baseline import BOTH_POLICIES

    config = loaded.config
    lines = [f"## iac plan: `{config.name}` in project `{config.project}`", ""]
    if not plan.has_changes:
        lines += [f"**No changes.** The infrastructure matches `{escape(str(directory))}/`.", ""]
    else:
        counts = plan.counts()
        total = sum(counts.values())
        lines += [
            f"**{plural(total, 'resource change')}:** {counts['create']} to create, "
            f"{counts['update']} to update, {counts['replace']} to replace, {counts['delete']} to delete.",
            "",
        ]
    lines += _allowlist_section(plan, loaded)
    changes = baseline.changes(assignment)
    if baseline.source == "none":
        lines += [
            "### Cloud Armor rules",
            "",
            f"{len(assignment.rules)} rules; {escape(baseline.describe())} ({BOTH_POLICIES}).",
            "",
        ]
    elif changes:
        lines += [
            "### Cloud Armor rules",
            "",
            f"{plural(len(changes), 'rule')} change, {escape(baseline.describe())}:",
            "",
            "| priority | policies | ranges added | ranges removed |",
            "|---:|---|---|---|",
        ]
        for rule in changes:
            added = ", ".join(_code(c) for c in rule.added) or "none"
            removed = ", ".join(_code(c) for c in rule.removed) or "none"
            lines.append(f"| {rule.priority} | edge, backend | {added} | {removed} |")
        lines.append("")
    if plan.resources:
        lines += ["### Resources", "", "| action | address |", "|---|---|"]
        lines += [f"| {change.action} | `{change.address}` |" for change in plan.resources]
        lines.append("")
    lines += [f"**CDN cache:** {_invalidation(plan)}", ""]
    return "\n".join(lines)


def failure(loaded: LoadedConfig, error: IacError) -> str:
    """The summary of a plan that failed: that it did and how it exited; the details stay in the job's log."""
    config = loaded.config
    return "\n".join(
        [
            f"## iac plan: `{config.name}` in project `{config.project}`",
            "",
            f"**The plan failed** (exit status {error.exit_code}): nothing was planned. The job's log says why.",
            "",
        ]
    )


def _allowlist_section(plan: PlanSummary, loaded: LoadedConfig) -> list[str]:
    added, removed = plan.allowlist_added, plan.allowlist_removed
    if not added and not removed:
        return ["**Allowlist:** unchanged.", ""]
    notes = _notes(loaded)
    lines = [
        f"### Allowlist: {len(added)} added, {len(removed)} removed",
        "",
        "| | range | comment in the config |",
        "|---|---|---|",
    ]
    for cidr in added:
        lines.append(f"| added | {_code(cidr)} | {escape(_note_for(cidr, notes))} |")
    for cidr in removed:
        lines.append(f"| removed | {_code(cidr)} | |")
    lines.append("")
    return lines


def _invalidation(plan: PlanSummary) -> str:
    if plan.needs_invalidation:
        return "invalidated after apply (`/*`): who may read changes, so nothing cached under the old rules is served."
    if plan.allowlist_changed:
        return "not invalidated: nothing was deployed before, so nothing is cached yet."
    return "not invalidated: the allowlist does not change."


def _notes(loaded: LoadedConfig) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """Each allowlist entry's comment, from the config file as it is; none when the file cannot be read so."""
    from iac import allowlist_file

    try:
        doc = allowlist_file.read(loaded.path)
    except IacError:
        return []
    return allowlist_file.notes(doc)


def _note_for(cidr: str, notes: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]) -> str:
    network = ipaddress.ip_network(cidr)
    found = [
        note
        for entry, note in notes
        if note and entry.version == network.version and entry.subnet_of(network)  # type: ignore[arg-type]
    ]
    return "; ".join(dict.fromkeys(found))
