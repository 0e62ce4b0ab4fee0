"""`iac plan` and `iac apply`: render, init, plan to a file, show, apply exactly that plan, invalidate.

The flows live here and return typed reports; the CLI only parses options, calls and prints.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from iac.allowlist import Assignment, Rule, RuleChange, repack_notice
from iac.baseline import Baseline, of_rendering, of_state
from iac.config import LoadedConfig
from iac.errors import IacError, Interrupted
from iac.files import RENDER, Deployment, locked_output, parse_duration, write_tree
from iac.names import ResourceNames
from iac.plan import PlanSummary, summarize
from iac.render import Rendered, render
from iac.signals import terminating_as_interrupt
from iac.terraform import Progress, Terraform

if TYPE_CHECKING:
    from iac.allowlist_file import Change, Operation
    from iac.invalidate import InvalidationTarget

# The saved plan embeds a copy of the state (and so the HMAC secret): it only lives while iac runs.
PLAN_FILE = "iac.tfplan"


class Renderer(Protocol):
    """What renders a config into files: `iac.render.render`, or a stand-in a test hands in."""

    def __call__(
        self,
        loaded: LoadedConfig,
        current: Sequence[Rule] | None = None,
        *,
        repack: bool = False,
        provisional: bool = False,
    ) -> Rendered: ...


@dataclass
class Workspace:
    """A rendered, initialised Terraform directory for one config, and the rules it was rendered with."""

    loaded: LoadedConfig
    directory: Path
    terraform: Terraform
    baseline: Baseline
    assignment: Assignment

    def plan(self) -> PlanReport:
        self.terraform.plan(PLAN_FILE)
        summary = summarize(self.terraform.show_json(PLAN_FILE))
        return PlanReport(summary, self.baseline, self.assignment)

    def apply(self) -> None:
        self.terraform.apply(PLAN_FILE)

    def outputs(self) -> dict[str, Any]:
        return self.terraform.outputs()


@dataclass(frozen=True)
class PlanReport:
    """What a plan will do (`summary`, from Terraform), and the allow rules it deploys (`assignment`) with the
    baseline they are compared with."""

    summary: PlanSummary
    baseline: Baseline
    assignment: Assignment

    @property
    def rules_changed(self) -> list[RuleChange]:
        return self.baseline.changes(self.assignment)

    def to_json(self) -> dict[str, Any]:
        document = self.summary.to_json()
        document["rules"] = {
            "baseline": self.baseline.to_json(),
            "count": len(self.assignment.rules),
            "repacked": self.assignment.repacked,
            "changed": [change.to_json() for change in self.rules_changed],
        }
        return document


@dataclass(frozen=True)
class TerraformRun:
    """How plan and apply run: the terraform binary, its state lock timeout, where progress goes, and the
    options of the run (`--repack`, `--lockfile readonly`; the renderer, which tests replace)."""

    binary: str
    lock_timeout: str
    progress: Progress
    repack: bool = False
    renderer: Renderer | None = None
    lockfile: str | None = None


@contextlib.contextmanager
def workspace(loaded: LoadedConfig, directory: Path, run: TerraformRun) -> Iterator[Workspace]:
    """Render `loaded` into `directory` and run `terraform init`; the plan file is removed on exit.

    The allow rules keep the assignment of the baseline (`iac.baseline`): the earlier rendering in
    `directory`; without one, the rules deployed, read from the state after init; without either, a fresh
    packing. `run.renderer` is `iac.render.render` unless a caller hands in another (tests render built-in
    resources only). `run.lockfile="readonly"` makes init refuse to change `.terraform.lock.hcl`.
    """
    renderer, repack, progress = run.renderer or render, run.repack, run.progress
    with (
        terminating_as_interrupt(),  # SIGTERM/SIGHUP raise Interrupted, so the finally below runs
        locked_output(directory, parse_duration(run.lock_timeout)),  # one render, init, plan or apply at a time
    ):
        if loaded.config.terraform.backend is None:
            progress(
                f"warning: no terraform.backend in {loaded.path}: the state is kept in {directory}/terraform.tfstate "
                "and holds the HMAC secret in plain text; keep it private, or set terraform.backend.gcs"
            )
        for warning in loaded.warnings:
            progress(f"warning: {warning}")
        baseline = of_rendering(directory, loaded.config)
        # Without an earlier rendering, the first one only lets `terraform init` run: it is marked provisional,
        # so that if init or the state read fails, the next run still reads the deployed rules first.
        rendered = renderer(loaded, baseline.current, repack=repack, provisional=baseline.source == "none")
        deployment = Deployment.of(loaded.config)
        write_tree(directory, rendered.files, RENDER, deployment, config=loaded.path)
        terraform = Terraform(
            binary=run.binary, working_dir=directory, lock_timeout=run.lock_timeout, progress=progress
        )
        try:
            terraform.init(lockfile=run.lockfile)
            if baseline.source == "none":
                # The rendering written above is provisional, never a baseline: only the state can be one now.
                baseline = of_state(directory, terraform.show_json())
                if baseline.source == "state":
                    progress(f"keeping the {len(baseline.rules)} allow rules deployed (read from the Terraform state)")
                rendered = renderer(loaded, baseline.current, repack=repack)
                write_tree(directory, rendered.files, RENDER, deployment, config=loaded.path)
            if rendered.assignment.repacked:
                progress(repack_notice(baseline.rules, rendered.assignment.rules))
            progress(f"rendered {directory}/ ({rendered.resources} resources, {rendered.ranges} allowlist ranges)")
            yield Workspace(loaded, directory, terraform, baseline, rendered.assignment)
        finally:
            (directory / PLAN_FILE).unlink(missing_ok=True)


def plan(loaded: LoadedConfig, directory: Path, run: TerraformRun, *, summary: Path | None = None) -> PlanReport:
    """Render, init and plan; with `summary`, also write the plan as Markdown there (`iac.summary`), checked
    writable before Terraform runs, and written when the plan fails too (saying so, without the details,
    which may not belong in a pull request)."""
    from iac import summary as markdown

    if summary is not None:
        markdown.check_target(summary)
    try:
        with workspace(loaded, directory, run) as ws:
            report = ws.plan()
    except IacError as exc:
        if summary is not None:
            markdown.write(summary, markdown.failure(loaded, exc))
        raise
    if summary is not None:
        markdown.write(
            summary, markdown.markdown(report.summary, report.baseline, report.assignment, loaded, directory)
        )
        run.progress(f"wrote the plan summary to {summary}")
    return report


@dataclass(frozen=True)
class InvalidationReport:
    """What became of the CDN cache after a change: not-needed, skipped, done or failed.

    `setup` marks a failure that no retry fixes until something is set up (credentials).
    """

    status: str
    target: InvalidationTarget | None = None
    operation: str | None = None
    error: str | None = None
    retry: str | None = None
    setup: bool = False

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"status": self.status}
        if self.status == "done" and self.target is not None:
            document.update(
                operation=self.operation,
                url_map=self.target.url_map,
                host=self.target.host,
                path=self.target.path,
            )
        if self.status == "failed":
            document.update(error=self.error, retry=self.retry)
        return document


@dataclass(frozen=True)
class ApplyReport:
    """The outcome of `iac apply`: the plan, whether it was applied, and the cache invalidation."""

    plan: PlanReport
    applied: bool
    invalidation: InvalidationReport = field(default_factory=lambda: InvalidationReport("not-needed"))

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "applied": self.applied, "invalidation": self.invalidation.to_json()}


def apply(
    loaded: LoadedConfig,
    directory: Path,
    run: TerraformRun,
    *,
    review: Callable[[PlanReport], None],
    invalidate: bool = True,
) -> ApplyReport:
    """Render, init, plan to a file, let `review` see the plan (it raises to refuse), apply exactly that
    plan, then invalidate the CDN cache when the allowlist changed. Nothing to change: nothing applied."""
    target, progress = None, run.progress
    unread: IacError | None = None
    with workspace(loaded, directory, run) as ws:
        report = ws.plan()
        summary = report.summary
        review(report)
        if summary.has_changes:
            ws.apply()
            progress("apply complete")
            if summary.needs_invalidation and invalidate:
                try:
                    target = invalidation_target_from(ws.outputs(), "/*")
                except Interrupted:
                    raise
                except IacError as exc:  # the apply succeeded: what is left is the invalidation
                    unread = exc
    if not summary.needs_invalidation:
        return ApplyReport(report, summary.has_changes)
    if unread is not None:
        error = f"cannot read the applied configuration's outputs: {unread}"
        return ApplyReport(report, True, InvalidationReport("failed", error=error, retry=retry_command(loaded, "/*")))
    if target is None:
        progress("allowlist changed but --no-invalidate: cached objects are served until they expire")
        return ApplyReport(report, True, InvalidationReport("skipped"))
    return ApplyReport(report, True, invalidate_cache(loaded, target, progress))


class NotApplied(IacError):
    """An allowlist edit was written to the config, and what came after it (the apply flow) failed: the file
    and the infrastructure now differ until `iac apply` runs on the same config."""

    def __init__(self, edit: Change, cause: IacError) -> None:
        self.edit = edit
        self.cause = cause
        self.exit_code = cause.exit_code
        config = shlex.quote(str(edit.loaded.path))
        self.remedy = (
            f"{edit.loaded.path} was changed (the allowlist edit is written) but NOT applied: "
            f"`iac apply -c {config}` applies it once the problem above is fixed"
        )
        super().__init__(f"{cause}\n{self.remedy}")

    def lines(self) -> list[str]:
        return [*self.cause.lines(), self.remedy]

    def details(self) -> dict[str, Any]:
        return {**self.cause.details(), "edit": self.edit.to_json(), "applied": False}


@dataclass(frozen=True)
class RotationReport:
    """An allowlist edit, and the apply flow that followed it (None without --apply, or for a dry run)."""

    edit: Change
    applied: ApplyReport | None = None

    def to_json(self) -> dict[str, Any]:
        if self.applied is None:
            return self.edit.to_json()
        return {"edit": self.edit.to_json(), **self.applied.to_json()}


def rotate(
    config: Path,
    operation: Operation,
    *,
    allow_empty: bool,
    dry_run: bool,
    lock_timeout: float,
    output: Path,
    shown: Callable[[Change], None],
    then_apply: Callable[[LoadedConfig], ApplyReport] | None = None,
) -> RotationReport:
    """Edit the allowlist of `config` (`allowlist_file.edit`), let `shown` report the edit, then run the apply
    flow on the edited config (`then_apply`, unless a dry run). A failure after the file was written is a
    NotApplied: it says that the config changed and how to finish; nothing else is left unexplained."""
    from iac import allowlist_file

    change = allowlist_file.edit(
        config, operation, allow_empty=allow_empty, dry_run=dry_run, lock_timeout=lock_timeout, output=output
    )
    shown(change)
    if then_apply is None or dry_run:
        return RotationReport(change)
    try:
        return RotationReport(change, then_apply(change.loaded))
    except IacError as exc:
        if change.written:
            raise NotApplied(change, exc) from None
        raise


def retry_command(loaded: LoadedConfig, path: str) -> str:
    """The command that invalidates the CDN cache again, for a failed or missed invalidation."""
    return f"iac invalidate -c {shlex.quote(str(loaded.path))} --path {shlex.quote(path)}"


def invalidate_cache(loaded: LoadedConfig, target: InvalidationTarget, progress: Progress) -> InvalidationReport:
    """Invalidate the cache; a failure is reported (with the command that retries it), not raised."""
    from iac import gcp
    from iac.invalidate import invalidate_cache as request_invalidation

    retry = retry_command(loaded, target.path)
    try:
        operation = request_invalidation(
            target, endpoint=gcp.api_endpoint(loaded.config.gcp.api_endpoint), progress=progress
        )
    except (gcp.CredentialsMissing, gcp.EndpointRefused) as exc:  # a setup problem: retrying cannot help
        return InvalidationReport("failed", target, error=str(exc), retry=retry, setup=True)
    except Interrupted:
        raise
    except IacError as exc:  # InvalidationError, or an answer too large to read (BodyTooLarge)
        return InvalidationReport("failed", target, error=str(exc), retry=retry)
    progress(f"CDN cache invalidated: https://{target.host}{target.path} on {target.url_map} ({operation})")
    return InvalidationReport("done", target, operation=operation)


def url_map_name(name: str) -> str:
    """The URL map to invalidate, from the config alone: no Terraform state needed."""
    return ResourceNames.of(name).url_map


def invalidation_target_from(outputs: dict[str, Any], path: str) -> InvalidationTarget:
    """The URL map, project and host to invalidate, from the applied configuration's outputs."""
    from iac.invalidate import InvalidationTarget

    try:
        return InvalidationTarget(
            project=str(outputs["project_id"]),
            url_map=str(outputs["url_map_name"]),
            host=str(outputs["domain"]),
            path=path,
        )
    except KeyError as missing:
        raise IacError(f"the applied configuration has no output {missing}: cannot invalidate the CDN cache") from None
