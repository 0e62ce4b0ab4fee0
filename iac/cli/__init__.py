"""The `iac` command line: parse options, call the core, print. Heavy imports stay inside commands.

This module defines `app`, the core commands (render, validate, init, plan, apply, invalidate) and `main`;
`iac doctor` and the command groups (`allowlist`, `hmac`, `cors`, `manifest`) are the `app` of the modules beside
it, imported only when used (`COMMAND_MODULES` in iac.cli.group). What the command modules share is in
`iac.cli.common`; how an error becomes an exit code and how help is formatted, in `iac.cli.group`.
On top: may import every package of iac, each inside the command that uses it.
"""

# No `from __future__ import annotations` here: Typer reads each command's annotations when it builds the
# command line, and evaluating them from strings took longer than the rest of building it (issue 17).
import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from iac import __version__
from iac.cli.common import (
    DEFAULT_CONFIG,
    AutoApproveOption,
    ConfigOption,
    ExpectDigestOption,
    JsonOption,
    LockfileOption,
    LockTimeoutOption,
    NoInvalidateOption,
    OnlyOption,
    OutOfDate,
    OutputLockTimeoutOption,
    OutputOption,
    RepackOption,
    TerraformOption,
    check_digest,
    finish_apply,
    output_dir,
    print_json,
    print_plan,
    print_warnings,
    progress,
    rule_lines,
    run_apply,
    terraform_run,
)
from iac.cli.group import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    HELP_OPTIONS,
    MARKUP,
    IacCommand,
    IacRootGroup,
)
from iac.defaults import DEFAULT_LOCK_TIMEOUT
from iac.errors import ConfigError, IacError
from iac.words import plural

app = typer.Typer(
    cls=IacRootGroup,
    rich_markup_mode=MARKUP,
    name="iac",
    help=(
        "Put private cloud data behind Encord's Direct Access integration: render the GCP unsigned-URL "
        "setup (private bucket, Cloud CDN, Cloud Armor allowlist) as Terraform from one YAML file.\n\n"
        "Exit status: 0 success; 1 invalid input, usage error or failure (one message; nothing written, except "
        "that a config edit with --apply (allowlist, hmac rotate) whose apply fails keeps the edited config and "
        "says so: `iac apply` finishes it); "
        "2 `iac plan` found changes; 3 the CDN cache invalidation failed; 129, 130, 143 interrupted by SIGHUP, "
        "SIGINT or SIGTERM (Terraform stopped cleanly, nothing left behind). With --json, stdout holds one "
        'JSON document, failures included ("ok": false).\n\n'
        "A rotation from a pipeline: a pull request edits the allowlist (`iac allowlist set --from FILE`), "
        "renders (`iac render`) and commits both; CI checks `iac render --check` and posts "
        "`iac plan --only allowlist --summary FILE --lockfile readonly` for review (the allow rules' own root "
        "module: its state holds no secret); once merged, main runs "
        "`iac apply --only allowlist --auto-approve --lockfile readonly`."
    ),
    epilog='Example: iac init && iac allowlist add 81.2.69.160/28 --note "Lisbon office" && iac validate && iac render',
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
)


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


@app.command(cls=IacCommand)
def render(
    config: ConfigOption = DEFAULT_CONFIG,
    output: OutputOption = None,
    repack: RepackOption = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 0 when DIR holds exactly what the config renders and declares "
            "(terraform.extra_files), 1 naming each file that differs and each other file Terraform would read "
            "or symlink there (for CI on a committed build/).",
        ),
    ] = False,
    lock_timeout: OutputLockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Render the config as a self-contained Terraform configuration.

    Writes two root modules, DIR/serving/ (bucket, key, load balancer, the policies with their default
    deny rule) and DIR/allowlist/ (the allow rules alone, with their own state), each with main.tf,
    versions.tf, outputs.tf, backend.tf (when configured) and a copy of the module it uses, so
    `terraform -chdir=DIR/serving plan` works without iac. A DIR of the single-root layout is upgraded
    (docs/upgrading.md).
    The same config and the same earlier rendering always give the same bytes; each allowlist range
    keeps the Cloud Armor rule it had in DIR; files iac wrote earlier that no longer belong are
    removed; on any error nothing is written. DIR defaults to build/ beside the config file; it is
    refused when it holds another command's files or another deployment's rendering, or is not empty
    and holds no .iac-files (not iac's). One command writes DIR at a time: another waits up to
    --lock-timeout. DIR may hold only what iac renders and the files terraform.extra_files declares:
    any other *.tf, *.tf.json, *.tfvars or *.tfvars.json below it, or any symlink, is refused, naming
    each (Terraform's own .terraform/, state, plan and lock files aside).

    Example: iac render -c iac.yaml -o build/ && iac render -c iac.yaml --check
    """
    from iac.allowlist import baseline as baselines
    from iac.allowlist.rules import repack_notice
    from iac.config.load import load_config
    from iac.files.durations import parse_duration
    from iac.files.ledger import RENDER, Deployment
    from iac.files.locks import locked_output
    from iac.files.output import differences, write_tree
    from iac.terraform import extras
    from iac.terraform.layout import settle_upgrade
    from iac.terraform.render import bucket_cors_summary
    from iac.terraform.render import render as render_files

    output = output_dir(output, config, "build")
    timeout = parse_duration(lock_timeout)
    loaded = load_config(config)
    print_warnings(loaded.warnings)
    deployment = Deployment.of(loaded.config)
    # The rules read back are those of the rendering replaced, so DIR is locked meanwhile; --check reads only:
    # no lock, nothing created.
    with contextlib.nullcontext() if check else locked_output(output, timeout):
        baseline = baselines.of_rendering(output, loaded.config)
        rendered = render_files(loaded, baseline.current, repack=repack, imports=baseline.adopted)
        declared = loaded.config.terraform.extra_files
        if check:
            found = differences(output, rendered.files, RENDER, deployment)
            extra = extras.survey(output, rendered.files, declared, config)
            if found or extra.refused:
                raise OutOfDate(config, output, found, extra, repack=repack)
            also = f" and the {plural(len(declared), 'extra file')} it declares" if declared else ""
            typer.echo(f"{output}/ holds exactly what {config} renders ({plural(len(rendered.files), 'file')}){also}.")
            return
        # Whatever else Terraform would read there is refused before anything is written; a declared file not
        # there yet is only a warning (it is added after the first rendering), which plan and apply refuse.
        extra = extras.survey(output, rendered.files, declared, config)
        if extra.without_missing().refused:
            raise extras.ExtraFiles(output, config, extra.without_missing(), "nothing was written")
        stale = write_tree(output, rendered.files, RENDER, deployment, config=config)
        moved = settle_upgrade(output)
    for name in extra.missing:
        progress(
            f"warning: {output / name} is in terraform.extra_files but missing: add it, or take it out of the "
            "list (plan, apply and render --check refuse until then)"
        )
    if rendered.assignment.repacked:
        progress(repack_notice(baseline.rules, rendered.assignment.rules))
    merged = rendered.entries - rendered.ranges
    typer.echo(f"Rendered {output}/ from {config}:")
    typer.echo(f"  {rendered.resources} resources in project {loaded.config.project} (prefix {loaded.config.name})")
    bucket = "created" if rendered.create_bucket else "existing, not managed"
    typer.echo(f"  bucket {loaded.config.bucket.name} ({bucket})")
    typer.echo(f"  {bucket_cors_summary(loaded.config)}")
    if not rendered.ranges:
        typer.echo("  allowlist: EMPTY (allowlist_allow_empty): every request is denied")
    else:
        typer.echo(
            f"  allowlist: {plural(rendered.ranges, 'range')}"
            + (f" ({rendered.entries} entries, {merged} merged)" if merged else "")
            + f" in {plural(rendered.rules, 'rule')} of each Cloud Armor policy (edge and backend)"
        )
    if baseline.source != "none":
        for line in rule_lines(baseline, rendered.assignment):
            typer.echo(f"  {line}")
    if rendered.manage_dns:
        typer.echo(f"  DNS: A record {loaded.config.domain} in zone {loaded.config.dns_zone}")
    else:
        typer.echo(f"  DNS: not managed; create the A record for {loaded.config.domain} (output dns_record_to_create)")
    if baseline.upgrade:
        typer.echo(
            f"  upgraded from the single-root layout: serving/ and allowlist/, each a root module with its own state; "
            f"allowlist/imports.tf adopts the {plural(len(rendered.imports), 'rule')} deployed (docs/upgrading.md)"
        )
    for line in moved:
        typer.echo(f"  {line}")
    for name in stale:
        typer.echo(f"  removed stale file {name}")


@app.command(cls=IacCommand)
def validate(config: ConfigOption = DEFAULT_CONFIG, output: OutputOption = None, as_json: JsonOption = False) -> None:
    """Check the config file only: schema, names, allowlist and limits. Writes nothing.

    The Cloud Armor rules shown keep the assignment of the rendering in DIR (-o, default build/ beside
    the config file), as `iac render` would write them.

    Example: iac validate -c iac.yaml
    """
    from iac.allowlist import baseline as baselines
    from iac.config.load import load_config, placeholder_warnings

    try:
        loaded = load_config(config)
    except ConfigError as exc:
        if not as_json:
            raise exc.read_only() from None
        # The problems are the document (on stdout, for pipelines), and exit status 1 its verdict.
        typer.echo(json.dumps({**exc.read_only().to_json(), "valid": False, "config": str(config)}, indent=2))
        raise typer.Exit(EXIT_ERROR) from None
    ranges = loaded.allowlist.ranges
    warnings = [*loaded.warnings, *placeholder_warnings(loaded)]
    print_warnings(warnings)
    baseline = baselines.of_rendering(output_dir(output, config, "build"), loaded.config)
    rules = baseline.assign(loaded.allowlist, loaded.config.allowlist_max_rules).rules
    if as_json:
        print_json(
            {
                "valid": True,
                "config": str(config),
                "allowlist": {
                    "ranges": list(ranges),
                    "rules": [list(rule.ranges) for rule in rules],
                    "priorities": [rule.priority for rule in rules],
                    "baseline": baseline.to_json(),
                },
                "warnings": warnings,
            }
        )
        return
    typer.echo(
        f"{config}: valid ({plural(len(ranges), 'allowlist range')} in {plural(len(rules), 'Cloud Armor rule')}; "
        f"{baseline.describe()})"
    )


@app.command(cls=IacCommand)
def init(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write the starter config.", dir_okay=False)
    ] = DEFAULT_CONFIG,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing regular file (never a FIFO, device or socket).")
    ] = False,
) -> None:
    """Write a commented starter config: the documented example values, and an empty allowlist to fill in.

    Also writes iac.schema.json beside it (`iac schema`), which the config's first line names: editors
    that read that line (VS Code's YAML extension, JetBrains, ...) check the file as you type. An existing
    iac.schema.json of other content is replaced only with --force.

    Example: iac init iac.yaml && $EDITOR iac.yaml && iac validate
    """
    from iac.config.schema_json import SCHEMA_FILE, schema_text
    from iac.files.atomic import write_atomic
    from iac.files.inputs import not_regular
    from iac.terraform.templates import resource_dir

    schema_path = path.parent / SCHEMA_FILE
    schema = schema_text().encode()
    if path.name == SCHEMA_FILE:
        raise IacError(f"{path}: that is the name of the schema iac init writes beside the config: choose another")
    for target in (path, schema_path):
        what = not_regular(target)
        if what is not None:  # a FIFO or a device would be replaced by a regular file, --force or not
            raise IacError(
                f"{target}: is {what}, not a regular file: iac init replaces only a regular file; give another path"
            )
    try:
        if path.exists() and not force:
            raise IacError(f"{path}: already exists; use --force to overwrite it, or give another path")
        earlier = schema_path.read_bytes() if schema_path.is_file() else None
        if earlier not in (None, schema) and not force:
            raise IacError(f"{schema_path}: already exists with other content; use --force to overwrite it")
        write_atomic(schema_path, schema)
        try:
            write_atomic(path, (resource_dir("templates") / "starter.yaml").read_bytes())
        except BaseException:
            # Nothing written on failure: the schema file as it was.
            if earlier is None:
                schema_path.unlink(missing_ok=True)
            else:
                write_atomic(schema_path, earlier)
            raise
    except OSError as exc:
        raise IacError(f"{path}: cannot write the starter config: {exc.strerror}") from None
    typer.echo(
        f"Wrote {path} and {schema_path} (its JSON Schema, for editors): edit project, domain, bucket and "
        f"allowlist, then run `iac validate -c {path}`."
    )


@app.command(cls=IacCommand)
def plan(
    config: ConfigOption = DEFAULT_CONFIG,
    output: OutputOption = None,
    as_json: JsonOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    repack: RepackOption = False,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Also write the plan as Markdown to FILE, for a pull request comment or a job summary "
            "($GITHUB_STEP_SUMMARY): addresses, rules, resources, CDN cache. Written when nothing changes too.",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    lockfile: LockfileOption = None,
    only: OnlyOption = None,
) -> None:
    """Render, init and plan: show what applying the config would change, by resource.

    DIR holds two root modules, each with its own state: serving/ and allowlist/ (the allow rules
    alone). Both are planned, serving first, unless --only names one; the digest covers the roots
    planned, so apply the approved plan with the same --only. Exit status 0 when nothing would change,
    2 when something would (like terraform plan -detailed-exitcode), 1 on error. Terraform's own output
    goes to stderr as it runs. Refused before Terraform runs: DIR holding a file Terraform would read
    that the config neither renders nor declares (terraform.extra_files) or a symlink; --lockfile
    readonly without a .terraform.lock.hcl in each root to run (see iac lock).

    Example: iac plan -c iac.yaml --only allowlist --summary plan.md --lockfile readonly --json > plan.json
    """
    from iac.config.load import load_config
    from iac.deploy import flow as deploy
    from iac.files.durations import parse_duration

    output = output_dir(output, config, "build")
    parse_duration(lock_timeout)
    run = terraform_run(terraform, lock_timeout, repack, lockfile, only)
    report = deploy.plan(load_config(config), output, run, summary=summary)
    if as_json:
        print_json(report.to_json())
    else:
        print_plan(report, output)
    raise typer.Exit(EXIT_CHANGES if report.summary.has_changes else EXIT_OK)


@app.command(cls=IacCommand)
def apply(
    config: ConfigOption = DEFAULT_CONFIG,
    output: OutputOption = None,
    auto_approve: AutoApproveOption = False,
    as_json: JsonOption = False,
    no_invalidate: NoInvalidateOption = False,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    repack: RepackOption = False,
    lockfile: LockfileOption = None,
    expect_digest: ExpectDigestOption = None,
    only: OnlyOption = None,
) -> None:
    """Render, init, plan to a file, confirm, apply exactly that plan, then invalidate the CDN cache
    if the allowlist changed.

    The root modules of DIR run in turn, serving/ then allowlist/, or the one --only names; without
    --only and --expect-digest, serving/ is left out when its rendering is the one last applied from
    DIR (a change to the allowlist alone). Nothing to change: nothing is applied or invalidated.
    Without a terminal, --auto-approve is required. With --expect-digest, a plan other than the
    approved one is refused before anything is applied (plan and apply with the same --only). The
    config file stays locked from reading it to the end of the apply: an allowlist edit waits, and
    the apply deploys the config as it is. Exit status 0 success, 1 error (a digest that differs
    included), 3 applied but the cache invalidation failed (the message gives the command that
    retries it). Refused before Terraform runs as iac plan is (extra files, --lockfile readonly
    without a lock file).

    Example: iac apply -c iac.yaml --auto-approve --lockfile readonly --expect-digest "$DIGEST"
    """
    from iac.deploy import flow as deploy
    from iac.files.durations import parse_duration

    output = output_dir(output, config, "build")
    timeout = parse_duration(lock_timeout)
    digest = check_digest(expect_digest)
    run = terraform_run(terraform, lock_timeout, repack, lockfile, only)
    with deploy.locked_config(config, timeout) as loaded:
        report = run_apply(loaded, output, run, auto_approve, as_json, no_invalidate, digest)
    finish_apply(report.to_json(), report, as_json)


@app.command(cls=IacCommand)
def lock(
    config: ConfigOption = DEFAULT_CONFIG,
    output: OutputOption = None,
    platform: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            metavar="OS_ARCH",
            help="Also write checksums for this platform (repeatable), e.g. linux_arm64, windows_amd64.",
            show_default=False,
        ),
    ] = None,
    fs_mirror: Annotated[
        Path | None,
        typer.Option(
            "--fs-mirror",
            metavar="DIR",
            help="Take the provider packages from this directory (a `terraform providers mirror`) instead of "
            "their registry, as `terraform providers lock -fs-mirror` does.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    terraform: TerraformOption = None,
    lock_timeout: OutputLockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write DIR/.terraform.lock.hcl, the providers' versions and checksums for Linux and macOS, to commit
    before the first CI run (--lockfile readonly).

    Renders the config into DIR as `iac render` does (under DIR's lock), then runs `terraform get` and
    `terraform providers lock -platform=linux_amd64 -platform=darwin_arm64 -platform=darwin_amd64` there, plus
    each --platform. It reads only the providers the configuration requires: no state, no backend, no cloud
    credentials, so it works before anything is deployed. Versions already locked are kept (upgrade with
    `terraform -chdir=DIR init -upgrade`, then run iac lock again). Re-rendering never removes the lock file.

    Example: iac lock -c iac.yaml -o build --platform linux_arm64 && git add build/*/.terraform.lock.hcl
    """
    from iac.config.load import load_config
    from iac.deploy import lock as providers_lock
    from iac.files.durations import parse_duration

    output = output_dir(output, config, "build")
    parse_duration(lock_timeout)
    platforms = providers_lock.lock_platforms(platform or [])
    run = terraform_run(terraform, lock_timeout, False, None)
    loaded = load_config(config)
    print_warnings(loaded.warnings)
    report = providers_lock.lock(loaded, output, run, platforms, fs_mirror)
    if as_json:
        print_json(report.to_json())
        return
    locked = ", ".join(f"{p.source} {p.version} ({plural(p.checksums, 'checksum')})" for p in report.providers)
    written = " and ".join(str(path) for path in report.paths)
    typer.echo(f"Wrote {written}: {locked or 'no provider'}, for {', '.join(report.platforms)}.")
    typer.echo(f"Commit them with the rendering: git add {' '.join(shlex.quote(str(path)) for path in report.paths)}")


def main() -> None:
    """The `iac` script. Errors become messages and exit statuses in `IacGroup.invoke` (a stopping signal's
    `Interrupted` included), and Click exits 130 on Ctrl-C; this does too for one outside Click's reach."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
