"""`iac cors`: CORS on the buckets Encord's web app reads."""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iac.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    OutputLockTimeoutOption,
    output_dir,
    print_json,
    progress,
)
from iac.cli.group import EXIT_ERROR, IacCommand, command_group
from iac.defaults import DEFAULT_LOCK_TIMEOUT
from iac.errors import IacError
from iac.untrusted import printable
from iac.words import plural

if TYPE_CHECKING:
    from iac.config.cors import CorsConfig
    from iac.config.models import Config
    from iac.cors.targets import TargetResult

app = command_group(
    "CORS on the buckets Encord's web app reads (GCS, S3, Azure Blob, OTC OBS): render each provider's "
    "native document, apply it keeping other apps' rules, check what is live.",
    example="iac cors apply -c iac.yaml --dry-run",
)

# Not the Terraform configuration's -o: no IAC_OUTPUT, and a directory of its own (a CORS rendering in the
# Terraform configuration's directory would be refused, as files of another command).
CorsOutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="DIR",
        help="Directory for the CORS documents (default: cors/ beside the config file).",
        show_default=False,
    ),
]
ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", metavar="NAME", help="Only the targets of this provider (a target's provider: key)."),
]


def _config_with_cors(config: Path) -> "tuple[Config, CorsConfig]":
    from iac.config.load import load_config

    loaded = load_config(config).config
    if loaded.cors is None:
        raise IacError(f"{config}: has no cors: section (add one: see docs/cors.md)")
    return loaded, loaded.cors


@app.command("render", cls=IacCommand)
def cors_render(
    config: ConfigOption = DEFAULT_CONFIG,
    output: CorsOutputOption = None,
    lock_timeout: OutputLockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write each target's native CORS document, ready for the provider's own tools, and say what to run.

    S3: the JSON for `aws s3api put-bucket-cors --cors-configuration file://...` (plus Terraform for
    the bucket's region); GCS: the JSON for `gcloud storage buckets update --cors-file`; Azure: the
    Set Blob Service Properties XML body and an `az` script that can run any number of times; OBS:
    the XML body of SetBucketCors. Each replaces the target's whole CORS configuration (`iac cors
    apply` keeps other apps' rules). DIR defaults to cors/ beside the config file; documents of an
    earlier run that no longer belong are removed.

    Example: iac cors render -c iac.yaml -o cors/
    """
    from iac.cors.targets import documents
    from iac.files.durations import parse_duration
    from iac.files.ledger import CORS_RENDER, Deployment
    from iac.files.output import write_tree

    output = output_dir(output, config, "cors")
    timeout = parse_duration(lock_timeout)
    loaded, cors = _config_with_cors(config)
    rendered = documents(cors)
    files = {d.name: d.content for d in rendered}
    write_tree(output, files, CORS_RENDER, Deployment.of(loaded), config=config, lock_timeout=timeout)
    typer.echo(f"Rendered {output}/ from {config}:")
    for document in rendered:
        typer.echo(f"  {document.name}")
        typer.echo(f"    next: {document.next_step.format(path=output / document.name)}")


def _cors_results(results: "list[TargetResult]", as_json: bool, verb: str) -> None:
    from iac.cors.targets import describe_change

    failed = sum(1 for r in results if r.failed)
    if as_json:
        failures = [r.target for r in results if r.failed]
        error = f"{plural(failed, 'target')} failed: {', '.join(failures)}" if failed else None
        print_json({"targets": [r.to_json() for r in results]}, EXIT_ERROR if failed else 0, error)
    else:
        for result in results:
            # The detail quotes the provider's error text: escaped (the rules below are JSON, escaped already).
            detail = f": {printable(result.detail, lines=True)}" if result.detail else ""
            typer.echo(f"{result.status:<13} {result.target}{detail}")
            if result.status in ("changed", "would-change"):
                for line in describe_change(result):
                    typer.echo(line)
        typer.echo(
            f"{len(results) - failed} of {plural(len(results), 'target')} {verb}"
            + (f", {failed} failed" if failed else "")
        )
    if failed:
        raise typer.Exit(EXIT_ERROR)


@app.command("apply", cls=IacCommand)
def cors_apply(
    config: ConfigOption = DEFAULT_CONFIG,
    provider: ProviderOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes; write nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Set Encord's CORS rule on every target, keeping every rule iac does not own.

    The rule iac owns is replaced, never duplicated; a second run changes nothing. One target
    failing does not stop the others; the exit status is 1 if any failed.

    Example: iac cors apply -c iac.yaml --provider aws --dry-run
    """
    from iac.cors.targets import apply as apply_cors

    _, cors = _config_with_cors(config)
    results = apply_cors(cors, provider, dry_run, progress)
    _cors_results(results, as_json, "done" if not dry_run else "checked (dry run, nothing written)")


@app.command("check", cls=IacCommand)
def cors_check(
    config: ConfigOption = DEFAULT_CONFIG, provider: ProviderOption = None, as_json: JsonOption = False
) -> None:
    """Read each target's live CORS and report whether Encord's origins may use the configured methods.

    Exit status 1 if any target does not allow them (or cannot be read).

    Example: iac cors check -c iac.yaml --json
    """
    from iac.cors.targets import check

    _, cors = _config_with_cors(config)
    results = check(cors, provider, progress)
    _cors_results(results, as_json, "allow Encord's origins")
