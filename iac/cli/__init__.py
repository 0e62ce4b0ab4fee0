"""The `iac` command line: parse options, call the core, print. Heavy imports stay inside commands.

The command groups live beside this module: `allowlist`, `cors` and `manifest`.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.core

from iac import __version__
from iac.errors import ConfigError, IacError, Interrupted
from iac.terraform import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from iac.config import LoadedConfig
    from iac.deploy import ApplyReport
    from iac.plan import PlanSummary

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2  # iac plan: like terraform plan -detailed-exitcode
EXIT_INVALIDATION_FAILED = 3

# Click exits 2 on a usage error, but 2 is what `iac plan` returns for "changes planned" (as terraform
# plan -detailed-exitcode does): a pipeline must never read a mistyped option as a plan. Like Terraform,
# iac exits 1 on usage errors.
# Typer 0.29+ vendors Click as typer._click; older releases use Click itself.
_click: Any = getattr(typer.core, "_click", None) or __import__("click")
_click.exceptions.UsageError.exit_code = EXIT_ERROR

app = typer.Typer(
    name="iac",
    help=(
        "Put private cloud data behind Encord's Direct Access integration: render the GCP unsigned-URL "
        "setup (private bucket, Cloud CDN, Cloud Armor allowlist) as Terraform from one YAML file.\n\n"
        "Exit status: 0 success; 1 invalid input, usage error or failure (one message, nothing written); "
        "2 `iac plan` found changes; 3 the CDN cache invalidation failed."
    ),
    epilog="Example: iac init && iac validate && iac render -o build/",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
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
        help="terraform binary to run (default: terraform on PATH).",
        envvar="IAC_TERRAFORM",
        show_default=False,
    ),
]
LockTimeoutOption = Annotated[
    str,
    typer.Option(
        "--lock-timeout",
        help="How long to wait for a lock (the config file's, Terraform's state lock), e.g. 300s, 5m.",
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
ConfigOption = Annotated[
    Path,
    typer.Option(
        "-c",
        "--config",
        help="Config file (YAML).",
        envvar="IAC_CONFIG",
        dir_okay=False,
        show_default=True,
    ),
]


def output_dir(output: Path | None, config: Path, default: str) -> Path:
    """The output directory: `-o` (or its environment variable) when given, else `default` beside the
    config file, so that two configs never share a rendering, a .terraform/ or a local state."""
    return output if output is not None else config.parent / default


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iac {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Encord Direct Access infrastructure from one YAML file."""


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(EXIT_ERROR)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn the project's own errors into one message on stderr and exit status 1."""
    try:
        yield
    except Interrupted:
        raise  # main() exits 128 + the signal number, with its message
    except ConfigError as exc:
        suffix = "s" if len(exc.problems) != 1 else ""
        _fail([*exc.problems, f"{len(exc.problems)} problem{suffix}; nothing was written"])
    except IacError as exc:
        _fail([str(exc)])


@app.command()
def render(config: ConfigOption = Path("iac.yaml"), output: OutputOption = None, repack: RepackOption = False) -> None:
    """Render the config as a self-contained Terraform configuration.

    Writes main.tf, versions.tf, outputs.tf, backend.tf (when configured) and a copy of the modules
    they use, so `terraform -chdir=DIR init && terraform -chdir=DIR plan` works without iac.
    The same config and the same earlier rendering always give the same bytes; each allowlist range
    keeps the Cloud Armor rule it had in DIR; files iac wrote earlier that no longer belong are
    removed; on any error nothing is written. DIR defaults to build/ beside the config file; it is
    refused when it holds another command's files or another deployment's rendering.

    Example: iac render -c iac.yaml -o build/
    """
    from iac.allowlist import rule_changes
    from iac.config import load_config
    from iac.files import RENDER, Deployment, write_tree
    from iac.render import current_rules
    from iac.render import render as render_files

    output = output_dir(output, config, "build")
    with _reported():
        loaded = load_config(config)
        current = current_rules(output, loaded.config)
        rendered = render_files(loaded, current, repack=repack)
        stale = write_tree(output, rendered.files, RENDER, Deployment.of(loaded.config))
    changes = rule_changes(current or (), rendered.assignment.rules) if current is not None else None
    if rendered.assignment.repacked:
        _progress(f"repacking the allowlist: {_plural(len(changes or ()), 'rule')} change")
    merged = rendered.entries - rendered.ranges
    typer.echo(f"Rendered {output}/ from {config}:")
    typer.echo(f"  {rendered.resources} resources in project {loaded.config.project} (prefix {loaded.config.name})")
    bucket = "created" if rendered.create_bucket else "existing, not managed"
    typer.echo(f"  bucket {loaded.config.bucket.name} ({bucket})")
    if not rendered.ranges:
        typer.echo("  allowlist: EMPTY (allowlist_allow_empty): every request is denied")
    else:
        typer.echo(
            f"  allowlist: {_plural(rendered.ranges, 'range')}"
            + (f" ({rendered.entries} entries, {merged} merged)" if merged else "")
            + f" in {_plural(rendered.rules, 'rule')} of each Cloud Armor policy (edge and backend)"
        )
    if changes:
        priorities = ", ".join(str(change.priority) for change in changes[:10])
        more = f" and {len(changes) - 10} more" if len(changes) > 10 else ""
        typer.echo(f"  rules changed since the last rendering: {len(changes)} (priority {priorities}{more})")
    if rendered.manage_dns:
        typer.echo(f"  DNS: A record {loaded.config.domain} in zone {loaded.config.dns_zone}")
    else:
        typer.echo(f"  DNS: not managed; create the A record for {loaded.config.domain} (output dns_record_to_create)")
    for name in stale:
        typer.echo(f"  removed stale file {name}")


@app.command()
def validate(
    config: ConfigOption = Path("iac.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Check the config file only: schema, names, allowlist and limits. Writes nothing.

    Example: iac validate -c iac.yaml
    """
    from iac.allowlist import pack
    from iac.config import load_config

    try:
        loaded = load_config(config)
    except ConfigError as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "config": str(config), "problems": exc.problems}, indent=2))
            raise typer.Exit(EXIT_ERROR) from None
        with _reported():
            raise
        raise  # unreachable: _reported always exits
    allowlist = loaded.allowlist
    if as_json:
        document = {
            "valid": True,
            "config": str(config),
            "allowlist": {
                "ranges": list(allowlist.ranges),
                "rules": [list(rule.ranges) for rule in pack(allowlist.ranges)],
            },
        }
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(
        f"{config}: valid ({len(allowlist.ranges)} allowlist ranges in {allowlist.rule_count} Cloud Armor "
        f"rule{'s' if allowlist.rule_count != 1 else ''})"
    )


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.", dir_okay=False)] = Path("iac.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config with the documented example values.

    Example: iac init iac.yaml && $EDITOR iac.yaml && iac validate
    """
    from iac.files import write_atomic
    from iac.render import resource_dir

    with _reported():
        if path.exists() and not force:
            raise IacError(f"{path}: already exists; use --force to overwrite it, or give another path")
        try:
            write_atomic(path, (resource_dir("templates") / "starter.yaml").read_bytes())
        except OSError as exc:
            raise IacError(f"{path}: cannot write the starter config: {exc.strerror}") from None
    typer.echo(f"Wrote {path}: edit project, domain, bucket and allowlist, then run `iac validate -c {path}`.")


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _print_plan(summary: PlanSummary, directory: Path) -> None:
    if not summary.has_changes:
        typer.echo(f"No changes: the infrastructure matches {directory}/.")
        return
    typer.echo(f"Planned changes ({directory}/):")
    width = max(len(change.action) for change in summary.resources) if summary.resources else 0
    for change in summary.resources:
        typer.echo(f"  {change.action.ljust(width)}  {change.address}")
    counts = summary.counts()
    typer.echo(
        f"  {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete"
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


@app.command()
def plan(
    config: ConfigOption = Path("iac.yaml"),
    output: OutputOption = None,
    as_json: JsonOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    repack: RepackOption = False,
) -> None:
    """Render, init and plan: show what applying the config would change, by resource.

    Exit status 0 when nothing would change, 2 when something would (like terraform plan
    -detailed-exitcode), 1 on error. Terraform's own output goes to stderr as it runs.

    Example: iac plan -c iac.yaml --json > plan.json
    """
    from iac.config import load_config
    from iac.deploy import workspace
    from iac.files import parse_duration
    from iac.terraform import find_terraform

    output = output_dir(output, config, "build")
    with _reported():
        parse_duration(lock_timeout)
        loaded = load_config(config)
        binary = find_terraform(terraform)
        with workspace(loaded, output, binary, lock_timeout, _progress, repack=repack) as ws:
            summary = ws.plan()
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_plan(summary, output)
    raise typer.Exit(EXIT_CHANGES if summary.has_changes else EXIT_OK)


@app.command()
def apply(
    config: ConfigOption = Path("iac.yaml"),
    output: OutputOption = None,
    auto_approve: AutoApproveOption = False,
    as_json: JsonOption = False,
    no_invalidate: NoInvalidateOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    repack: RepackOption = False,
) -> None:
    """Render, init, plan to a file, confirm, apply exactly that plan, then invalidate the CDN cache
    if the allowlist changed.

    Nothing to change: nothing is applied or invalidated. Without a terminal, --auto-approve is
    required. Exit status 0 success, 1 error, 3 applied but the cache invalidation failed (the
    message gives the command that retries it).

    Example: iac apply -c iac.yaml --auto-approve
    """
    from iac.config import load_config
    from iac.files import parse_duration

    output = output_dir(output, config, "build")
    with _reported():
        parse_duration(lock_timeout)
        loaded = load_config(config)
    report = run_apply(loaded, output, auto_approve, as_json, no_invalidate, terraform, lock_timeout, repack)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    if report.invalidation.failed:
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


def run_apply(
    loaded: LoadedConfig,
    output: Path,
    auto_approve: bool,
    as_json: bool,
    no_invalidate: bool,
    terraform: str | None,
    lock_timeout: str,
    repack: bool = False,
) -> ApplyReport:
    """The `iac apply` flow on a loaded config, printing as it goes; the caller prints the JSON report."""
    from iac import deploy
    from iac.terraform import find_terraform

    def review(summary: PlanSummary) -> None:
        if not as_json:
            _print_plan(summary, output)
        if summary.has_changes:
            _confirm_apply(auto_approve)

    with _reported():
        binary = find_terraform(terraform)
        report = deploy.apply(
            loaded,
            output,
            binary=binary,
            lock_timeout=lock_timeout,
            progress=_progress,
            review=review,
            invalidate=not no_invalidate,
            repack=repack,
        )
    if report.invalidation.failed:
        typer.echo(f"error: CDN cache invalidation failed: {report.invalidation.error}", err=True)
        then = "once that is set up, " if report.invalidation.setup else ""
        typer.echo(
            f"error: the apply succeeded; {then}retry the invalidation with: {report.invalidation.retry}", err=True
        )
    return report


def check_can_confirm(auto_approve: bool) -> None:
    """Fail before anything is written when an apply could not be confirmed."""
    if not auto_approve and not _interactive():
        raise IacError(
            "--apply needs --auto-approve when there is no terminal to confirm the changes on: nothing written; "
            "review the change with --dry-run (and iac plan) and run again with --auto-approve"
        )


def _confirm_apply(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not _interactive():
        raise IacError(
            "changes are planned but there is no terminal to confirm them on: review the plan (iac plan) "
            "and run again with --auto-approve"
        )
    if not typer.confirm("Apply these changes?", default=False, err=True):
        raise IacError("apply cancelled; nothing was changed")


@app.command()
def invalidate(
    config: ConfigOption = Path("iac.yaml"),
    path: Annotated[str, typer.Option("--path", help="Path pattern to invalidate: /* or /prefix/*.")] = "/*",
) -> None:
    """Invalidate the deployment's CDN cache (after an allowlist change, or to retry a failed one).

    Waits until Google reports the invalidation done. Exit status 0 done, 1 invalid input,
    3 the invalidation failed.

    Example: iac invalidate -c iac.yaml --path '/*'
    """
    from iac.config import load_config
    from iac.deploy import invalidate_cache, url_map_name
    from iac.invalidate import InvalidationTarget, check_path

    with _reported():
        loaded = load_config(config)
        target = InvalidationTarget(
            project=loaded.config.project,
            url_map=url_map_name(loaded.config.name),
            host=loaded.config.domain,
            path=check_path(path),
        )
    report = invalidate_cache(loaded, target, _progress)
    if report.failed and report.setup:
        _fail([str(report.error)])
    if report.failed:
        typer.echo(f"error: CDN cache invalidation failed: {report.error}", err=True)
        typer.echo(f"error: retry the invalidation with: {report.retry}", err=True)
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


def _command_group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
    app.add_typer(group, name=name)
    return group


def main() -> None:
    from iac.errors import Interrupted

    try:
        app()
    except Interrupted as exc:
        # SIGINT, SIGTERM or SIGHUP: Terraform was stopped and `finally` blocks ran; exit 128 + the signal.
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


# The command groups register themselves on `app` when imported (after everything they use is defined).
for _group in ("allowlist", "cors", "manifest", "doctor"):
    importlib.import_module(f"iac.cli.{_group}")
