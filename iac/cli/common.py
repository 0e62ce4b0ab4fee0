"""What the command modules share: the options, the default paths, printers, confirmation and the apply flow."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iac.cli.group import EXIT_INVALIDATION_FAILED, handed_in
from iac.errors import IacError
from iac.untrusted import printable
from iac.words import plural

if TYPE_CHECKING:
    from iac.allowlist.baseline import Baseline
    from iac.allowlist.rules import Assignment
    from iac.config.load import LoadedConfig
    from iac.deploy.flow import ApplyReport, PlanReport, Renderer, TerraformRun
    from iac.deploy.invalidation import InvalidationReport
    from iac.deploy.rotate import RotationReport
    from iac.terraform.extras import Found

# The config file every command reads unless given -c (or IAC_CONFIG), and the one `iac init` writes.
DEFAULT_CONFIG = Path("iac.yaml")

ConfigOption = Annotated[
    Path,
    typer.Option(
        "-c",
        "--config",
        metavar="FILE",
        help="Config file (YAML).",
        envvar="IAC_CONFIG",
        dir_okay=False,
        show_default=True,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="DIR",
        help="Directory for the Terraform configuration (default: build/ beside the config file).",
        envvar="IAC_OUTPUT",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (progress on stderr).")]
TerraformOption = Annotated[
    str | None,
    typer.Option(
        "--terraform",
        metavar="PROGRAM",
        help="terraform binary to run (default: terraform on PATH).",
        envvar="IAC_TERRAFORM",
        show_default=False,
    ),
]
LockTimeoutOption = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        metavar="DURATION",
        help=(
            "How long to wait for a lock (the config file's, the output directory's, Terraform's state lock), "
            "e.g. 300s, 5m."
        ),
        envvar="IAC_LOCK_TIMEOUT",
    ),
]
# For the commands that only write a directory (render, lock, cors render, manifest generate and register):
# no config edit, no Terraform state, so the help names the one lock they wait for.
OutputLockTimeoutOption = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        metavar="DURATION",
        help="How long to wait for the output directory's lock (another iac command writing it), e.g. 300s, 5m.",
        envvar="IAC_LOCK_TIMEOUT",
    ),
]
RepackOption = Annotated[
    bool,
    typer.Option(
        "--repack",
        help="Pack the allowlist into the fewest Cloud Armor rules, moving ranges between rules (announced).",
    ),
]
AutoApproveOption = Annotated[
    bool, typer.Option("--auto-approve", help="Apply without asking (required without a terminal).")
]
NoInvalidateOption = Annotated[
    bool, typer.Option("--no-invalidate", help="Do not invalidate the CDN cache after an allowlist change.")
]
ExpectDigestOption = Annotated[
    str | None,
    typer.Option(
        "--expect-digest",
        metavar="HEX",
        help='Apply only if the new plan\'s digest is HEX (the "digest" of the approved `iac plan --json`); '
        "otherwise exit 1 and apply nothing.",
        envvar="IAC_EXPECT_DIGEST",
        show_default=False,
    ),
]
OnlyOption = Annotated[
    str | None,
    typer.Option(
        "--only",
        metavar="ROOT",
        help="Run Terraform in one root module of DIR: allowlist (the Cloud Armor allow rules, whose state holds no "
        "secret) or serving (everything else). Default: both, serving first.",
        show_default=False,
    ),
]
LockfileOption = Annotated[
    str | None,
    typer.Option(
        "--lockfile",
        help="MODE readonly: `terraform init` must not change DIR/.terraform.lock.hcl, so the provider versions "
        "are the ones committed (for CI).",
        envvar="IAC_LOCKFILE",
        metavar="MODE",
        show_default=False,
    ),
]


def output_dir(output: Path | None, config: Path, default: str) -> Path:
    """The output directory: `-o` (or its environment variable) when given, else `default` beside the
    config file, so that two configs never share a rendering, a .terraform/ or a local state."""
    return output if output is not None else config.parent / default


def progress(message: str) -> None:
    """Progress and warnings go to stderr, so stdout holds only the result (`--json` documents). They quote
    Terraform's output and servers' answers: control characters are escaped."""
    typer.echo(printable(message, lines=True), err=True)


def print_warnings(warnings: Sequence[str]) -> None:
    """What is valid but doubtful in the config (`LoadedConfig.warnings`), on stderr."""
    for warning in warnings:
        progress(f"warning: {warning}")


def print_json(document: dict[str, Any], exit_code: int = 0, error: str | None = None) -> None:
    """The one JSON document of a `--json` command: `"ok": true` when it exits 0; a result that exits non-zero
    (a check that failed, an applied change whose invalidation failed) says `"ok": false`, its `exit_code` and
    the `error` (required then), and keeps the rest of the document. An error's is `IacError.to_json`."""
    head: dict[str, Any] = {"ok": exit_code == 0}
    if exit_code:
        if not error:
            raise ValueError(f"a document of exit status {exit_code} needs its error")
        head.update(exit_code=exit_code, error=error)
    typer.echo(json.dumps({**head, **document}, indent=2))


def check_digest(digest: str | None) -> str | None:
    """`--expect-digest`: a SHA-256 in hex (as `iac plan --json` prints it), in lower case; None when not given."""
    if digest is None:
        return None
    text = digest.strip().lower()
    if len(text) != 64 or not all(c in "0123456789abcdef" for c in text):
        raise IacError(
            f"--expect-digest: {printable(digest)!r} is not a plan digest: give the 64 hexadecimal characters of "
            '"digest" in the `iac plan --json` output of the plan that was approved'
        )
    return text


def invalidation_error(invalidation: InvalidationReport, *, applied: bool) -> str:
    """What a failed invalidation's `--json` document says as its `error`: the failure and the retry."""
    done = "the apply succeeded; " if applied else ""
    return f"CDN cache invalidation failed: {invalidation.error}; {done}retry it with: {invalidation.retry}"


def check_only(root: str | None) -> str | None:
    """`--only`: one of the two root modules, or None for both."""
    from iac.terraform.layout import ROOTS

    if root is not None and root not in ROOTS:
        raise IacError(
            f"--only: {printable(root)!r} is not a root module of the rendering: give allowlist (the allow rules) "
            "or serving (everything else), or leave it out to run both"
        )
    return root


def check_lockfile(mode: str | None) -> str | None:
    if mode not in (None, "readonly"):
        raise IacError(
            f"--lockfile: {mode!r} is not a mode: the only one is `readonly` (terraform init -lockfile=readonly); "
            "leave it out to let init update .terraform.lock.hcl"
        )
    return mode


def rule_lines(baseline: Baseline, assignment: Assignment) -> list[str]:
    """The Cloud Armor rules a change touches, against the baseline it names (see iac.allowlist.baseline)."""
    from iac.allowlist.baseline import BOTH_POLICIES

    if baseline.source == "none":
        return [f"Cloud Armor rules: {len(assignment.rules)} ({baseline.describe()}; {BOTH_POLICIES})"]
    changes = baseline.changes(assignment)
    if not changes:
        return [f"Cloud Armor rules: unchanged, {baseline.describe()}"]
    lines = [
        f"Cloud Armor rules changed: {len(changes)} of {len(assignment.rules)}, {baseline.describe()} "
        f"({BOTH_POLICIES}):"
    ]
    for rule in changes:
        parts = [f"+{cidr}" for cidr in rule.added] + [f"-{cidr}" for cidr in rule.removed]
        lines.append(f"  rule {rule.priority}: {' '.join(parts)}")
    return lines


def _stdin_is_a_terminal() -> bool:
    return sys.stdin.isatty()


@dataclass(frozen=True)
class Services:
    """What the commands call that a caller may hand in instead (`app(obj=Services(...))`): the renderer of the
    Terraform configuration and the check for a terminal. Tests hand in a renderer of built-in resources."""

    renderer: Renderer | None = None
    interactive: Callable[[], bool] = _stdin_is_a_terminal


def services() -> Services:
    """The services handed to this run of the command line, else the real ones."""
    handed = handed_in()
    return handed if isinstance(handed, Services) else Services()


def interactive() -> bool:
    """Whether there is a terminal to ask for confirmation on."""
    return services().interactive()


def check_can_confirm(auto_approve: bool) -> None:
    """Fail before anything is written when an apply could not be confirmed."""
    if not auto_approve and not interactive():
        raise IacError(
            "--apply needs --auto-approve when there is no terminal to confirm the changes on: nothing written; "
            "review the change with --dry-run (and iac plan) and run again with --auto-approve"
        )


def confirm_apply(auto_approve: bool) -> None:
    """Ask before applying planned changes (unless --auto-approve); refusing or no terminal is an IacError."""
    if auto_approve:
        return
    if not interactive():
        raise IacError(
            "changes are planned but there is no terminal to confirm them on: review the plan (iac plan) "
            "and run again with --auto-approve"
        )
    if not typer.confirm("Apply these changes?", default=False, err=True):
        raise IacError("apply cancelled; nothing was changed")


def print_plan(report: PlanReport, directory: Path) -> None:
    summary = report.summary
    planned = " and ".join(f"{directory}/{root}/" for root in report.roots) or f"{directory}/"
    if not summary.has_changes:
        typer.echo(f"No changes: the infrastructure matches {planned}.")
        return
    typer.echo(f"Planned changes ({planned}):")
    width = max(len(change.action) for change in summary.resources) if summary.resources else 0
    for change in summary.resources:
        where = f"{change.root}/ " if change.root else ""
        typer.echo(f"  {change.action.ljust(width)}  {where}{change.address}")
    counts = summary.counts()
    imported = f", {counts['import']} to import" if counts["import"] else ""
    typer.echo(
        f"  {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete{imported}"
        + (f", outputs changed: {', '.join(summary.outputs_changed)}" if summary.outputs_changed else "")
    )
    if summary.allowlist_changed:
        added, removed = summary.allowlist_added, summary.allowlist_removed
        note = "; the CDN cache is invalidated after apply" if summary.needs_invalidation else ""
        typer.echo(f"  allowlist changes: {len(added)} added, {len(removed)} removed{note}")
        for cidr in added:
            typer.echo(f"    + {cidr}")
        for cidr in removed:
            typer.echo(f"    - {cidr}")
    else:
        typer.echo("  allowlist unchanged")
    if summary.security_policies_changed or report.rules_changed:
        for line in rule_lines(report.baseline, report.assignment):
            typer.echo(f"  {line}")
    typer.echo(f"  plan digest: {summary.digest} (apply exactly this plan: iac apply --expect-digest DIGEST)")


def print_invalidation_failure(invalidation: InvalidationReport, *, applied: bool) -> None:
    """The failed invalidation's error and the command that retries it (the caller exits 3)."""
    typer.echo(f"error: CDN cache invalidation failed: {printable(str(invalidation.error), lines=True)}", err=True)
    if applied:
        then = "once that is set up, " if invalidation.setup else ""
        typer.echo(f"error: the apply succeeded; {then}retry the invalidation with: {invalidation.retry}", err=True)
    else:
        typer.echo(f"error: retry the invalidation with: {invalidation.retry}", err=True)


def terraform_run(
    terraform: str | None, lock_timeout: str, repack: bool, lockfile: str | None, only: str | None = None
) -> TerraformRun:
    """How this command runs Terraform: the binary found, progress on stderr, the renderer handed in, the root
    modules to run (`only`: one, else both)."""
    from iac.deploy.flow import TerraformRun
    from iac.terraform.runner import find_terraform

    return TerraformRun(
        binary=find_terraform(terraform),
        lock_timeout=lock_timeout,
        progress=progress,
        repack=repack,
        renderer=services().renderer,
        lockfile=check_lockfile(lockfile),
        only=check_only(only),
    )


def run_apply(
    loaded: LoadedConfig,
    output: Path,
    run: TerraformRun,
    auto_approve: bool,
    as_json: bool,
    no_invalidate: bool,
    expect_digest: str | None = None,
) -> ApplyReport:
    """The `iac apply` flow on a loaded config, printing as it goes; the caller prints the JSON report and
    exits 3 when the invalidation failed (the apply itself succeeded: that is a result, not an error)."""
    from iac.deploy import flow as deploy

    def review(report: PlanReport) -> None:
        if not as_json:
            print_plan(report, output)
        if report.summary.has_changes:
            confirm_apply(auto_approve)

    report = deploy.apply(loaded, output, run, review=review, invalidate=not no_invalidate, expect_digest=expect_digest)
    if report.invalidation.failed:
        print_invalidation_failure(report.invalidation, applied=True)
    return report


@dataclass(frozen=True)
class ApplyOptions:
    """The options of a config edit's `--apply` (`iac allowlist add`, `iac hmac rotate`, ...): the `iac apply`
    flow on the edited config."""

    apply: bool
    auto_approve: bool
    no_invalidate: bool
    output: Path
    terraform: str | None
    lock_timeout: str
    lockfile: str | None
    # The root module the edit changes: allowlist for the allowlist edits, serving for the HMAC key.
    only: str | None = None

    def then_apply(self, as_json: bool, *, dry_run: bool = False) -> Callable[[LoadedConfig], ApplyReport] | None:
        """The apply flow to run after the edit (None without --apply, or for a dry run), with its options checked
        before anything is written."""
        check_lockfile(self.lockfile)
        if not self.apply or dry_run:
            return None
        check_can_confirm(self.auto_approve)
        run = terraform_run(self.terraform, self.lock_timeout, False, self.lockfile, self.only)

        def then_apply(loaded: LoadedConfig) -> ApplyReport:
            return run_apply(loaded, self.output, run, self.auto_approve, as_json, self.no_invalidate)

        return then_apply


def finish_apply(document: dict[str, Any], applied: ApplyReport | None, as_json: bool) -> None:
    """The end of a command that may have applied (`iac apply`, a config edit with --apply): its JSON document,
    and exit 3 when the apply succeeded but the CDN cache invalidation failed (then `ok` is false and the
    document's `error` gives the command that retries it)."""
    invalidation = applied.invalidation if applied is not None else None
    failed = invalidation is not None and invalidation.failed
    if as_json:
        error = invalidation_error(invalidation, applied=True) if invalidation is not None and failed else None
        print_json(document, EXIT_INVALIDATION_FAILED if failed else 0, error)
    if failed:
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


def print_rotation(report: RotationReport, as_json: bool) -> None:
    """The end of a config edit (`iac.deploy.rotate.rotate`): `finish_apply` with the edit and its apply."""
    finish_apply(report.to_json(), report.applied, as_json)


class OutOfDate(IacError):
    """`iac render --check`: the output directory is not what the config renders, or holds other files
    Terraform would read (`extra`, see iac.terraform.extras)."""

    def __init__(
        self, config: Path, output: Path, found: list[str], extra: Found | None = None, *, repack: bool = False
    ) -> None:
        self.extra = extra
        self.found = [*found, *(extra.entries() if extra is not None else ())]
        steps = []
        if found:
            command = f"iac render -c {shlex.quote(str(config))} -o {shlex.quote(str(output))}"
            steps.append(f"run `{command}{' --repack' if repack else ''}` and commit the result")
        if extra is not None and extra.refused:
            steps.append(extra.remedy(config))
        self.summary = (
            f"{output}/ is not what {config} renders ({plural(len(self.found), 'difference')}): {'; '.join(steps)}"
        )
        super().__init__(self.summary)

    def lines(self) -> list[str]:
        return [*self.found, self.summary]

    def details(self) -> dict[str, Any]:
        extra = {"extra_files": self.extra.to_json()} if self.extra is not None else {}
        return {"differences": self.found, **extra}
