"""The `iac` command line: parse options, call the core, print. Heavy imports stay inside commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from iac import __version__
from iac.errors import ConfigError, IacError

EXIT_OK = 0
EXIT_ERROR = 1

app = typer.Typer(
    name="iac",
    help=(
        "Put private cloud data behind Encord's Direct Access integration: render the GCP unsigned-URL "
        "setup (private bucket, Cloud CDN, Cloud Armor allowlist) as Terraform from one YAML file.\n\n"
        "Exit status: 0 success, 1 invalid input or failure (one message, nothing written), 2 usage error."
    ),
    epilog="Example: iac init && iac validate && iac render -o build/",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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
        _fail([*exc.problems, f"{len(exc.problems)} problem{suffix} in the config; nothing was written"])
    except IacError as exc:
        _fail([str(exc)])


@app.command()
def render(
    config: ConfigOption = Path("iac.yaml"),
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Directory for the Terraform configuration.", envvar="IAC_OUTPUT"),
    ] = Path("build"),
) -> None:
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
    typer.echo(
        f"  allowlist: {rendered.ranges} range{'s' if rendered.ranges != 1 else ''}"
        + (f" ({rendered.entries} entries, {merged} merged)" if merged else "")
        + f" in {rendered.rules} rule{'s' if rendered.rules != 1 else ''} of each Cloud Armor policy (edge and backend)"
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")] = False,
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
