"""`iac plan --summary FILE`: the plan as Markdown for a reviewer (a pull request comment, a job summary).

Pure text from the plan's summary, the rules and their baseline; the only effects are the checks and the
atomic write of the file. Text from the config (entry comments) is escaped: it never becomes Markdown or HTML.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from iac.errors import IacError
from iac.words import plural

if TYPE_CHECKING:
    from iac.allowlist.baseline import Baseline
    from iac.allowlist.rules import Assignment
    from iac.config.load import LoadedConfig
    from iac.terraform.plan import PlanSummary

# Every ASCII punctuation character CommonMark lets a backslash escape: escaped, a comment renders as itself.
_PUNCTUATION = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
# GitHub refuses a comment or pull request body over 65,536 characters: the summary stays well under it.
MAX_CHARACTERS = 60_000
# A comment is shown up to this many characters (an allowlist entry's note is meant to be short).
COMMENT_CHARACTERS = 200
# The rows each table keeps, tried in turn until the summary fits (None: all of them).
_ROW_LIMITS: tuple[int | None, ...] = (None, 1000, 500, 200, 100, 50, 20, 10)
_LEFT_OUT = "_{what} left out to keep this summary short: the job's log (`iac plan`) lists them all._"
_T = TypeVar("_T")


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
    from iac.files.atomic import write_atomic

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


def visible(text: str, limit: int = COMMENT_CHARACTERS) -> str:
    """`text` on one line with invisible characters named (`iac.untrusted.visible`), cut to `limit` characters."""
    from iac.untrusted import visible as named

    shown = named(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def code_span(text: str) -> str:
    """`text` as a GitHub-flavoured Markdown code span inside a table cell: nothing in it becomes a
    mention, an issue reference, a link or HTML. The fence is one backtick longer than any run of
    backticks in the text; `|` is escaped (GFM splits cells before it parses code spans)."""
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _code(cidr: str) -> str:
    return f"`{cidr}`"  # a range iac validated: digits, dots, colons and a slash


def markdown(
    plan: PlanSummary,
    baseline: Baseline,
    assignment: Assignment,
    loaded: LoadedConfig,
    directory: Path,
    *,
    limit: int = MAX_CHARACTERS,
) -> str:
    """The summary of a plan of `loaded` rendered in `directory`, for a reviewer, in at most `limit`
    characters: past that, its tables list their first rows and say how many were left out."""
    for rows in _ROW_LIMITS:
        text = _markdown(plan, baseline, assignment, loaded, directory, rows)
        if len(text) <= limit:
            return text
    return text[: limit - 200].rsplit("\n", 1)[0] + "\n\n" + _LEFT_OUT.format(what="The rest of this summary") + "\n"


def _markdown(
    plan: PlanSummary,
    baseline: Baseline,
    assignment: Assignment,
    loaded: LoadedConfig,
    directory: Path,
    rows: int | None,
) -> str:
    from iac.allowlist.baseline import BOTH_POLICIES

    config = loaded.config
    lines = [f"## iac plan: `{config.name}` in project `{config.project}`", ""]
    roots = [root for root, _ in plan.roots]
    if roots:
        lines += [f"Root modules planned: {', '.join(f'`{root}/`' for root in roots)}.", ""]
    if not plan.has_changes:
        lines += [f"**No changes.** The infrastructure matches {code_span(visible(str(directory), 500))}.", ""]
    else:
        counts = plan.counts()
        total = sum(counts.values())
        imported = f", {counts['import']} to import" if counts["import"] else ""
        lines += [
            f"**{plural(total, 'resource change')}:** {counts['create']} to create, "
            f"{counts['update']} to update, {counts['replace']} to replace, {counts['delete']} to delete{imported}.",
            "",
        ]
    lines += _allowlist_section(plan, loaded, rows)
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
            f"{plural(len(changes), 'rule')} {'changes' if len(changes) == 1 else 'change'}, "
            f"{escape(baseline.describe())}:",
            "",
            "| priority | policies | ranges added | ranges removed |",
            "|---:|---|---|---|",
        ]
        for rule in _first(changes, rows):
            added = ", ".join(_code(c) for c in rule.added) or "none"
            removed = ", ".join(_code(c) for c in rule.removed) or "none"
            lines.append(f"| {rule.priority} | edge, backend | {added} | {removed} |")
        lines += _left_out(len(changes), rows, "rule")
        lines.append("")
    if plan.resources:
        lines += ["### Resources", "", "| action | root | address |", "|---|---|---|"]
        lines += [
            f"| {change.action} | {change.root or '.'} | `{change.address}` |"
            for change in _first(list(plan.resources), rows)
        ]
        lines += _left_out(len(plan.resources), rows, "resource")
        lines.append("")
    lines += [f"**CDN cache:** {_invalidation(plan)}", ""]
    if plan.digest:
        lines += [f"**Plan digest:** `{plan.digest}` (`iac apply --expect-digest` applies exactly this plan)", ""]
    return "\n".join(lines)


def _first(items: list[_T], rows: int | None) -> list[_T]:
    return items if rows is None else items[:rows]


def _left_out(total: int, rows: int | None, noun: str, many: str | None = None) -> list[str]:
    if rows is None or total <= rows:
        return []
    return ["", _LEFT_OUT.format(what=f"{total - rows:,} more of {plural(total, noun, many)}")]


def extra_files_section(declared: Sequence[tuple[str, str]]) -> str:
    """The files the config adds to the root modules (`terraform.extra_files`) with their SHA-256, so a reviewer
    sees what Terraform read beside the rendering; nothing when there are none."""
    if not declared:
        return ""
    lines = [
        f"### Extra files: {len(declared)} declared in `terraform.extra_files`",
        "",
        "Terraform read these files of the output directory with the rendering:",
        "",
        "| file | SHA-256 |",
        "|---|---|",
    ]
    lines += [f"| {escape(name)} | `{digest}` |" for name, digest in declared]
    return "\n".join(["", *lines, ""])  # after the summary, which ends with a newline


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


def _allowlist_section(plan: PlanSummary, loaded: LoadedConfig, rows: int | None) -> list[str]:
    added, removed = plan.allowlist_added, plan.allowlist_removed
    if not added and not removed:
        return ["**Allowlist:** unchanged.", ""]
    from iac.allowlist.ranges import range_notes

    notes = range_notes(loaded.allowlist, loaded.notes)
    lines = [
        f"### Allowlist: {len(added)} added, {len(removed)} removed",
        "",
        "| | range | comment in the config |",
        "|---|---|---|",
    ]
    changed = [("added", cidr) for cidr in added] + [("removed", cidr) for cidr in removed]
    for kind, cidr in _first(changed, rows):
        note = code_span(visible(notes.get(cidr, ""))) if kind == "added" else ""
        lines.append(f"| {kind} | {_code(cidr)} | {note} |".replace("|  |", "| |"))
    lines += _left_out(len(changed), rows, "address", "addresses")
    lines.append("")
    return lines


def _invalidation(plan: PlanSummary) -> str:
    if plan.needs_invalidation:
        return "invalidated after apply (`/*`): who may read changes, so nothing cached under the old rules is served."
    if plan.allowlist_changed:
        return "not invalidated: nothing was deployed before, so nothing is cached yet."
    return "not invalidated: the allowlist does not change."
