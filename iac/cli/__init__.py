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
from typing import Annotated, Any, NoReturn

import typer
import typer.core

from iac import __version__
from iac.errors import ConfigError, IacError
from iac.terraform import DEFAULT_LOCK_TIMEOUT

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
    Path,
    typer.Option("-o", "--output", help="Directory for the Terraform configuration.", envvar="IAC_OUTPUT"),
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
    str, typer.Option("--lock-timeout", help="How long Terraform waits for the state lock.", envvar="IAC_LOCK_TIMEOUT")
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
    except ConfigError as exc:
        suffix = "s" if len(exc.problems) != 1 else ""
        _fail([*exc.problems, f"{len(exc.problems)} problem{suffix}; nothing was written"])
    except IacError as exc:
        _fail([str(exc)])


@app.command()
def render(config: ConfigOption = Path("iac.yaml"), output: OutputOption = Path("build")) -> None:
    """Render the config as a self-contained Terraform configuration.

    Writes main.tf, versions.tf, outputs.tf, backend.tf (when configured) and a copy of the modules
    they use, so `terraform -chdir=DIR init && terraform -chdir=DIR plan` works without iac.
    The same config always gives the same bytes; files iac wrote earlier that no longer belong are
    removed; on any error nothing is written.

    Example: iac render -c iac.yaml -o build/
    """
    from iac.config import load_config
    from iac.files import write_tree
    from iac.render import render as render_files

    with _reported():
        loaded = load_config(config)
        rendered = render_files(loaded)
        stale = write_tree(output, rendered.files)
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
                "rules": [list(rule) for rule in allowlist.rules()],
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


def _print_plan(summary: Any, directory: Path) -> None:
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
    output: OutputOption = Path("build"),
    as_json: JsonOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Render, init and plan: show what applying the config would change, by resource.

    Exit status 0 when nothing would change, 2 when something would (like terraform plan
    -detailed-exitcode), 1 on error. Terraform's own output goes to stderr as it runs.

    Example: iac plan -c iac.yaml --json > plan.json
    """
    from iac.config import load_config
    from iac.deploy import workspace
    from iac.terraform import find_terraform

    with _reported():
        loaded = load_config(config)
        binary = find_terraform(terraform)
        with workspace(loaded, output, binary, lock_timeout, _progress) as ws:
            summary = ws.plan()
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_plan(summary, output)
    raise typer.Exit(EXIT_CHANGES if summary.has_changes else EXIT_OK)


@app.command()
def apply(
    config: ConfigOption = Path("iac.yaml"),
    output: OutputOption = Path("build"),
    auto_approve: AutoApproveOption = False,
    as_json: JsonOption = False,
    no_invalidate: NoInvalidateOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Render, init, plan to a file, confirm, apply exactly that plan, then invalidate the CDN cache
    if the allowlist changed.

    Nothing to change: nothing is applied or invalidated. Without a terminal, --auto-approve is
    required. Exit status 0 success, 1 error, 3 applied but the cache invalidation failed (the
    message gives the command that retries it).

    Example: iac apply -c iac.yaml --auto-approve
    """
    _apply_flow(config, output, auto_approve, as_json, no_invalidate, terraform, lock_timeout)


def _apply_flow(
    config: Path,
    output: Path,
    auto_approve: bool,
    as_json: bool,
    no_invalidate: bool,
    terraform: str | None,
    lock_timeout: str,
) -> None:
    from iac.config import load_config
    from iac.deploy import invalidation_target_from, workspace
    from iac.terraform import find_terraform

    target = None
    with _reported():
        loaded = load_config(config)
        binary = find_terraform(terraform)
        with workspace(loaded, output, binary, lock_timeout, _progress) as ws:
            summary = ws.plan()
            if not as_json:
                _print_plan(summary, output)
            if summary.has_changes:
                _confirm_apply(auto_approve)
                ws.apply()
                _progress("apply complete")
                if summary.needs_invalidation and not no_invalidate:
                    target = invalidation_target_from(ws.outputs(), "/*")

    if not summary.needs_invalidation:
        invalidation: dict[str, Any] = {"status": "not-needed"}
    elif target is None:
        invalidation = {"status": "skipped"}
        _progress("allowlist changed but --no-invalidate: cached objects are served until they expire")
    else:
        invalidation = _invalidate_or_report(loaded, config, target, after_apply=True)
    if as_json:
        report = {"plan": summary.to_json(), "applied": summary.has_changes, "invalidation": invalidation}
        typer.echo(json.dumps(report, indent=2))
    if invalidation["status"] == "failed":
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


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


def _retry_command(config: Path, path: str) -> str:
    import shlex

    return f"iac invalidate -c {shlex.quote(str(config))} --path {shlex.quote(path)}"


def _invalidate_or_report(loaded: Any, config: Path, target: Any, *, after_apply: bool) -> dict[str, Any]:
    """Invalidate the cache; on failure say why and how to retry instead of raising."""
    from iac.invalidate import InvalidationError, api_endpoint, invalidate_cache

    try:
        operation = invalidate_cache(target, endpoint=api_endpoint(loaded.config.gcp.api_endpoint), progress=_progress)
    except InvalidationError as exc:
        retry = _retry_command(config, target.path)
        typer.echo(f"error: CDN cache invalidation failed: {exc}", err=True)
        done = "the apply succeeded; " if after_apply else ""
        typer.echo(f"error: {done}retry the invalidation with: {retry}", err=True)
        return {"status": "failed", "error": str(exc), "retry": retry}
    _progress(f"CDN cache invalidated: https://{target.host}{target.path} on {target.url_map} ({operation})")
    return {
        "status": "done",
        "operation": operation,
        "url_map": target.url_map,
        "host": target.host,
        "path": target.path,
    }


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
    from iac.deploy import url_map_name
    from iac.invalidate import InvalidationTarget, check_path

    with _reported():
        loaded = load_config(config)
        target = InvalidationTarget(
            project=loaded.config.project,
            url_map=url_map_name(loaded.config.name),
            host=loaded.config.domain,
            path=check_path(path),
        )
    if _invalidate_or_report(loaded, config, target, after_apply=False)["status"] == "failed":
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


def _command_group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
    app.add_typer(group, name=name)
    return group


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# The command groups register themselves on `app` when imported (after everything they use is defined).
for _group in ("allowlist", "cors", "manifest"):
    importlib.import_module(f"iac.cli.{_group}")
