"""`iac doctor`: is the deployment serving Encord? The checks live in iac.doctor; this only parses and prints.

`app` holds the one command; iac.cli.group names this module in COMMAND_MODULES.
"""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
from typing import TYPE_CHECKING, Annotated

import typer

from iac.cli.common import DEFAULT_CONFIG, ConfigOption, JsonOption, print_json, progress
from iac.cli.group import EXIT_ERROR, EXIT_OK, HELP_OPTIONS, MARKUP, IacCommand
from iac.untrusted import printable
from iac.words import plural

if TYPE_CHECKING:
    from iac.doctor import DoctorReport

ObjectOption = Annotated[
    str | None,
    typer.Option(
        "--object",
        metavar="NAME",
        help="Object to download, by its name in the bucket (default: the first object the bucket lists).",
        show_default=False,
    ),
]
ConnectToOption = Annotated[
    str | None,
    typer.Option(
        "--connect-to",
        metavar="HOST:PORT:CONNECT_HOST:CONNECT_PORT",
        help=(
            "Like curl's: connect to CONNECT_HOST, port CONNECT_PORT, for HOST and PORT, keeping HOST for TLS and "
            "the Host header, to check the load balancer before DNS points at it (the dns check is skipped)."
        ),
        show_default=False,
    ),
]

_WIDTH = max(len("security_policies"), len("certificate")) + 2

app = typer.Typer(rich_markup_mode=MARKUP, add_completion=False, context_settings=HELP_OPTIONS)


@app.command(name="doctor", cls=IacCommand)
def doctor(
    config: ConfigOption = DEFAULT_CONFIG,
    object_name: ObjectOption = None,
    connect_to: ConnectToOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check that the deployment serves Encord: config, the load balancer's address, DNS, the managed
    certificate, the Cloud Armor policies against the config's allowlist, an HTTPS download, a CORS
    preflight and, with encord.integration and an Encord key, that the key sees that integration.

    Each check is ok, warn, fail or skip, with what to do when it is not ok. Progress goes to stderr,
    the report to stdout. Every request has a timeout of a few seconds and the run ends within 30 s.
    The Compute API is called on gcp.api_endpoint or IAC_GCP_API_ENDPOINT, like `iac invalidate`.
    Exit status 0 when no check failed (warnings and skips included), 1 otherwise.

    Example: iac doctor -c iac.yaml --object images/0001.jpg --connect-to data.acme.com:443:34.120.10.20:443
    """
    from iac.doctor import ConnectTo, run

    target = ConnectTo.parse(connect_to) if connect_to is not None else None
    report = run(config, object_name=object_name, connect_to=target, progress=progress)
    code = EXIT_OK if report.ok else EXIT_ERROR
    if as_json:
        failed = [check.name for check in report.checks if check.status == "fail"]
        error = f"{plural(len(failed), 'check')} failed: {', '.join(failed)}" if failed else None
        print_json(report.to_json(), code, error)
    else:
        _print(report)
    raise typer.Exit(code)


def _print(report: "DoctorReport") -> None:
    for check in report.checks:
        # A check's text quotes servers and Google's APIs: escaped, whatever the check did with it.
        typer.echo(f"{check.status:<5} {check.name:<{_WIDTH}}{printable(check.detail)}")
        if check.fix:
            typer.echo(f"{'':<5} {'':<{_WIDTH}}fix: {printable(check.fix)}")
    counts = report.counts()
    summary = ", ".join(f"{counts[status]} {status}" for status in ("ok", "warn", "fail", "skip"))
    typer.echo(f"{'OK' if report.ok else 'FAILED'}: {summary}")
