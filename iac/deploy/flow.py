"""`iac plan` and `iac apply`: render, init, plan to a file, show, apply exactly that plan, invalidate.

A rendering has two root modules (`iac.terraform.layout`): `serving/` and `allowlist/`, each with its own state.
A run plans the roots it is given (`--only`), else both, serving first; an allowlist edit with --apply runs
allowlist/ only, `iac hmac rotate` serving/ only.

The flows live here and return typed reports; the CLI only parses options, calls and prints.

Locks: an apply (`iac apply`, every `--apply`) holds the config file's lock from reading the config to the
end of the apply, and the output directory's lock from rendering to the end (`iac.files.locks.locked`,
`locked_output`). Every command that takes both takes them in that order, config first, so none waits for
another in a circle; a command that takes one (render, an edit without --apply) takes it alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from iac.allowlist.baseline import Baseline, of_rendering, of_state
from iac.allowlist.rules import Assignment, Rule, RuleChange, repack_notice
from iac.config.load import LoadedConfig
from iac.deploy.invalidation import InvalidationReport, invalidate_cache, invalidation_target_from, retry_command
from iac.errors import IacError, Interrupted
from iac.files.atomic import write_atomic
from iac.files.durations import parse_duration
from iac.files.inputs import RENDERED_FILE, read_input
from iac.files.ledger import RENDER, Deployment
from iac.files.locks import locked, locked_output
from iac.files.output import write_tree
from iac.signals import terminating_as_interrupt
from iac.terraform.layout import ALLOWLIST, LOCK_FILE, ROOTS, SERVING, settle_upgrade
from iac.terraform.plan import PlanSummary, combine, summarize
from iac.terraform.render import Rendered, render
from iac.terraform.runner import Progress, Terraform
from iac.terraform.state import rules_from_state
from iac.words import plural

# The saved plan embeds a copy of the state (and so the HMAC secret): it only lives while iac runs.
PLAN_FILE = "iac.tfplan"


@contextlib.contextmanager
def locked_config(path: Path, timeout: float) -> Iterator[LoadedConfig]:
    """The config at `path`, read under its lock, held until the block ends: an apply in the block deploys
    the config as it is while the apply runs, and no edit can land between the read and the apply."""
    from iac.config.load import load_config

    with locked(path, timeout):
        yield load_config(path)


class DigestMismatch(IacError):
    """`iac apply --expect-digest`: the plan made now is not the plan that was approved."""

    def __init__(self, expected: str, planned: str) -> None:
        self.expected = expected
        self.planned = planned
        super().__init__(
            f"the plan differs from the approved one: approved digest {expected}, this plan's digest {planned}; "
            "nothing was applied: plan again (`iac plan --json` prints the digest), review and approve that plan, "
            "then apply with its digest"
        )

    def details(self) -> dict[str, Any]:
        return {"expected_digest": self.expected, "digest": self.planned, "applied": False}


class Renderer(Protocol):
    """What renders a config into files: `iac.terraform.render.render`, or a stand-in a test hands in."""

    def __call__(
        self,
        loaded: LoadedConfig,
        current: Sequence[Rule] | None = None,
        *,
        repack: bool = False,
        provisional: bool = False,
        imports: Sequence[int] = (),
    ) -> Rendered: ...


@dataclass
class Workspace:
    """A rendered output directory for one config, its root modules to run initialised (`terraforms`, in run
    order: serving before allowlist), and the rules it was rendered with."""

    loaded: LoadedConfig
    directory: Path
    terraforms: dict[str, Terraform]
    baseline: Baseline
    assignment: Assignment
    fingerprints: dict[str, str]
    # The declared extra files (`terraform.extra_files`) with their SHA-256, as read under the directory's lock.
    extra_files: list[tuple[str, str]]

    def plan(self) -> PlanReport:
        """Plan every root, in order, each to its own plan file; one report of them all."""
        plans = []
        for root, terraform in self.terraforms.items():
            terraform.plan(PLAN_FILE)
            plans.append((root, summarize(terraform.show_json(PLAN_FILE))))
        return PlanReport(combine(plans), self.baseline, self.assignment)

    def apply(self, report: PlanReport) -> list[str]:
        """Apply each root's plan that changes something, in order (the policies before their rules); a failure
        stops there. Every root applied or found unchanged is noted (`APPLIED`); the roots applied are returned."""
        applied = []
        for root, terraform in self.terraforms.items():
            planned = report.summary.root(root)
            if planned is None or planned.has_changes:
                terraform.apply(PLAN_FILE)
                applied.append(root)
            note_applied(self.directory / root, self.fingerprints[root])
        return applied

    def outputs(self) -> dict[str, Any]:
        """The outputs of the last root run: the allowlist root's when it ran (the invalidation's target)."""
        return list(self.terraforms.values())[-1].outputs()


# Beside each root, what iac notes of the rendering last applied there (or planned without changes) from this
# output directory: `iac apply` leaves a root out whose rendering is the one noted (see `roots_to_run`).
APPLIED = ".iac-applied"


def fingerprint(files: dict[str, bytes], root: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """SHA-256 of the files of `root` in a rendering and of the declared extra files in it (name, SHA-256)."""
    digest = hashlib.sha256()
    for name in sorted(name for name in files if name.startswith(f"{root}/")):
        digest.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    for name, sha in sorted(extra):
        if name.startswith(f"{root}/"):
            digest.update(f"{name}\0{sha}\n".encode())
    return digest.hexdigest()


def fingerprints_of(directory: Path, rendered: Rendered, extra: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each root's `fingerprint`: its rendered files, the declared extra files in it, and its provider lock file
    (a provider upgrade is a change to apply too)."""
    locks = []
    for root in ROOTS:
        content = _read_small(directory / root / LOCK_FILE)
        if content is not None:
            locks.append((f"{root}/{LOCK_FILE}", hashlib.sha256(content).hexdigest()))
    return {root: fingerprint(rendered.files, root, [*extra, *locks]) for root in ROOTS}


def note_applied(root: Path, fingerprint: str) -> None:
    """Note that the rendering `fingerprint` of `root` is deployed (best effort: without the note, the next
    `iac apply` runs the root again, which is always safe)."""
    with contextlib.suppress(OSError):
        write_atomic(root / APPLIED, (fingerprint + "\n").encode("ascii"))


def is_applied(root: Path, fingerprint: str) -> bool:
    """Whether `root`'s note names `fingerprint`; a note that is missing or not one iac wrote names nothing."""
    note = _read_small(root / APPLIED)
    return note is not None and note.strip() == fingerprint.encode("ascii")


def _read_small(path: Path) -> bytes | None:
    """A file iac or Terraform wrote in a root, read within the cap on rendered files, never through a symlink or
    from a FIFO (`read_input`); None when it is missing or not such a file."""
    try:
        return read_input(path, RENDERED_FILE, follow_symlinks=False)
    except (OSError, IacError):
        return None


def roots_to_run(
    directory: Path, only: str | None, fingerprints: dict[str, str], *, skip_applied: bool
) -> tuple[str, ...]:
    """The root modules a run plans: `only`, else both, serving first. With `skip_applied` (an `iac apply`
    that names no root and no approved digest), serving is left out when its rendering is the one last
    applied from this directory: a change to the allowlist alone runs Terraform in allowlist/ only."""
    if only is not None:
        return (only,)
    if skip_applied and is_applied(directory / SERVING, fingerprints[SERVING]):
        return (ALLOWLIST,)
    return ROOTS


@dataclass(frozen=True)
class PlanReport:
    """What a plan will do (`summary`, from Terraform, of every root planned), and the allow rules it deploys
    (`assignment`) with the baseline they are compared with."""

    summary: PlanSummary
    baseline: Baseline
    assignment: Assignment

    @property
    def roots(self) -> list[str]:
        return [root for root, _ in self.summary.roots]

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
    options of the run (`--repack`, `--lockfile readonly`, `--only`; the renderer, which tests replace).

    `only` names the one root module to run (`serving`, `allowlist`); None runs both, serving first."""

    binary: str
    lock_timeout: str
    progress: Progress
    repack: bool = False
    renderer: Renderer | None = None
    lockfile: str | None = None
    only: str | None = None


def render_into(
    loaded: LoadedConfig, directory: Path, run: TerraformRun, baseline: Baseline, *, provisional: bool = False
) -> Rendered:
    """Render `loaded` with the rules of `baseline` (and the rules it adopts) and write it into `directory`,
    whose lock the caller holds, refusing first what `check_before_terraform` refuses (for the roots `run`
    may run); then settle an upgrade from the single-root layout (`iac.terraform.layout`)."""
    renderer = run.renderer or render
    rendered = renderer(loaded, baseline.current, repack=run.repack, provisional=provisional, imports=baseline.adopted)
    roots = ROOTS if run.only is None else (run.only,)
    check_before_terraform(loaded, directory, rendered, run.lockfile, roots)
    write_tree(directory, rendered.files, RENDER, Deployment.of(loaded.config), config=loaded.path)
    for line in settle_upgrade(directory):
        run.progress(line)
    return rendered


@contextlib.contextmanager
def workspace(
    loaded: LoadedConfig, directory: Path, run: TerraformRun, *, skip_applied: bool = False
) -> Iterator[Workspace]:
    """Render `loaded` into `directory` and run `terraform init` in each root module to run; the plan files are
    removed on exit.

    The allow rules keep the assignment of the baseline (`iac.allowlist.baseline`): the earlier rendering in
    `directory`; without one, the rules deployed, read from the allowlist state after init (or, before an
    upgrade, from the serving state, and then adopted with import blocks); without either, a fresh packing.
    `run.renderer` is `iac.terraform.render.render` unless a caller hands in another (tests render built-in
    resources only). `run.lockfile="readonly"` makes init refuse to change a `.terraform.lock.hcl`.
    """
    from iac.terraform import extras

    progress = run.progress
    with (
        terminating_as_interrupt(),  # SIGTERM/SIGHUP raise Interrupted, so the finally below runs
        locked_output(directory, parse_duration(run.lock_timeout)),  # one render, init, plan or apply at a time
    ):
        if loaded.config.terraform.backend is None:
            progress(
                f"warning: no terraform.backend in {loaded.path}: the state is kept in {directory}/serving/"
                "terraform.tfstate and holds the HMAC secret in plain text; keep it private, or set "
                "terraform.backend.gcs"
            )
        for warning in loaded.warnings:
            progress(f"warning: {warning}")
        baseline = of_rendering(directory, loaded.config)
        # Without an earlier rendering, the first one only lets `terraform init` run: it is marked provisional,
        # so that if init or the state read fails, the next run still reads the deployed rules first.
        rendered = render_into(loaded, directory, run, baseline, provisional=baseline.source == "none")
        declared = loaded.config.terraform.extra_files
        extra = extras.digests(directory, declared) if declared else []
        fingerprints = fingerprints_of(directory, rendered, extra)
        roots = roots_to_run(directory, run.only, fingerprints, skip_applied=skip_applied)
        terraforms = {
            root: Terraform(
                binary=run.binary, working_dir=directory / root, lock_timeout=run.lock_timeout, progress=progress
            )
            for root in roots
        }
        try:
            for root, terraform in terraforms.items():
                progress(f"{root}/: terraform init")
                terraform.init(lockfile=run.lockfile)
            if baseline.source == "none":
                # The rendering written above is provisional, never a baseline: only the state can be one now.
                baseline = deployed_baseline(directory, terraforms)
                if baseline.source == "state":
                    progress(f"keeping the {len(baseline.rules)} allow rules deployed (read from the Terraform state)")
                rendered = render_into(loaded, directory, run, baseline)
                fingerprints = fingerprints_of(directory, rendered, extra)
            if rendered.assignment.repacked:
                progress(repack_notice(baseline.rules, rendered.assignment.rules))
            progress(
                f"rendered {directory}/ ({plural(rendered.resources, 'resource')}, "
                f"{plural(rendered.ranges, 'allowlist range')}); Terraform runs in "
                + " then ".join(f"{root}/" for root in roots)
            )
            yield Workspace(loaded, directory, terraforms, baseline, rendered.assignment, fingerprints, extra)
        finally:
            for root in ROOTS:
                (directory / root / PLAN_FILE).unlink(missing_ok=True)


def deployed_baseline(directory: Path, terraforms: dict[str, Terraform]) -> Baseline:
    """The rules deployed: the allowlist state's; when it holds none and the serving root runs, the rules the
    serving state holds inline (a deployment of the single-root layout), which the allowlist root adopts."""
    if ALLOWLIST in terraforms:
        deployed = rules_from_state(terraforms[ALLOWLIST].show_json())
        if deployed:
            return of_state(directory, deployed)
    if SERVING in terraforms:
        deployed = rules_from_state(terraforms[SERVING].show_json())
        if deployed:
            return of_state(directory, deployed, adopt=True)
    return of_state(directory, None)


def check_before_terraform(
    loaded: LoadedConfig, directory: Path, rendered: Rendered, lockfile: str | None, roots: Sequence[str] = ROOTS
) -> None:
    """Refuse, before anything is written or run, an output directory holding files Terraform would read that
    the config neither renders nor declares (iac.terraform.extras), and `--lockfile readonly` without a lock
    file in a root to run (the single-root layout's lock file counts: the upgrade copies it into each root)."""
    from iac.terraform import extras

    config = loaded.config
    extras.check(directory, rendered.files, config.terraform.extra_files, loaded.path, "Terraform was not run")
    single_root_lock = (directory / LOCK_FILE).is_file()
    for root in roots:
        if lockfile == "readonly" and not (single_root_lock or (directory / root / LOCK_FILE).is_file()):
            raise IacError(
                f"{directory / root / LOCK_FILE}: missing, and --lockfile readonly (IAC_LOCKFILE) does not let "
                "terraform init create it; Terraform was not run: write it with "
                f"`{lock_command(loaded.path, directory)}` "
                "(no cloud credentials needed; it writes one in each root module) and commit it beside the rendering"
            )


def lock_command(config: Path, directory: Path) -> str:
    """The command that writes the provider lock file of `directory` (`iac lock`)."""
    return f"iac lock -c {shlex.quote(str(config))} -o {shlex.quote(str(directory))}"


def plan(loaded: LoadedConfig, directory: Path, run: TerraformRun, *, summary: Path | None = None) -> PlanReport:
    """Render, init and plan; with `summary`, also write the plan as Markdown there (`iac.terraform.summary`), checked
    writable before Terraform runs, and written when the plan fails too (saying so, without the details,
    which may not belong in a pull request)."""
    from iac.terraform import summary as markdown

    if summary is not None:
        markdown.check_target(summary)
    try:
        with workspace(loaded, directory, run) as ws:
            report = ws.plan()
            declared = ws.extra_files  # as Terraform read them: the directory stays locked from render to plan
    except IacError as exc:
        if summary is not None:
            markdown.write(summary, markdown.failure(loaded, exc))
        raise
    if summary is not None:
        markdown.write(
            summary,
            markdown.markdown(report.summary, report.baseline, report.assignment, loaded, directory)
            + markdown.extra_files_section(declared),
        )
        run.progress(f"wrote the plan summary to {summary}")
    return report


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
    expect_digest: str | None = None,
) -> ApplyReport:
    """Render, init, plan to a file, let `review` see the plan (it raises to refuse), apply exactly that
    plan (each root module in turn, serving first), then invalidate the CDN cache when the allowlist changed.
    Nothing to change: nothing applied. Without `run.only` and `expect_digest`, serving/ is left out when
    its rendering is the one last applied from `directory` (a change to the allowlist alone).

    With `expect_digest` (the digest of the plan a reviewer approved), a plan whose digest differs is
    refused (DigestMismatch) before review and before anything is applied."""
    target, progress = None, run.progress
    unread: IacError | None = None
    # Without a root named or a plan approved, a root whose rendering was applied from here is left out.
    with workspace(loaded, directory, run, skip_applied=expect_digest is None) as ws:
        report = ws.plan()
        summary = report.summary
        if expect_digest is not None:
            if summary.digest != expect_digest:
                raise DigestMismatch(expect_digest, summary.digest)
            progress(f"the plan's digest is the approved one ({summary.digest})")
        review(report)
        applied = ws.apply(report)  # with nothing to change, each root is only noted as deployed
        if summary.has_changes:
            progress(f"apply complete ({', '.join(f'{root}/' for root in applied)})")
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
