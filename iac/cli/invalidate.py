"""`iac invalidate`: invalidate the deployment's CDN cache by hand. The request and its wait live in
iac.gcp.invalidate and iac.deploy.flow; this only parses and prints.

`app` holds the one command; iac.cli.group names this module in COMMAND_MODULES.
"""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
from typing import Annotated

import typer

from iac.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    invalidation_error,
    print_invalidation_failure,
    print_json,
    progress,
)
from iac.cli.group import EXIT_INVALIDATION_FAILED, HELP_OPTIONS, MARKUP, IacCommand
from iac.errors import IacError

app = typer.Typer(rich_markup_mode=MARKUP, add_completion=False, context_settings=HELP_OPTIONS)


@app.command(name="invalidate", cls=IacCommand)
def invalidate(
    config: ConfigOption = DEFAULT_CONFIG,
    path: Annotated[
        str, typer.Option("--path", metavar="PATTERN", help="Path pattern to invalidate: /* or /prefix/*.")
    ] = "/*",
    as_json: JsonOption = False,
) -> None:
    """Invalidate the deployment's CDN cache (after an allowlist change, or to retry a failed one).

    Waits until Google reports the invalidation done. Exit status 0 done, 1 invalid input or no
    credentials, 3 the invalidation failed. --json prints {"ok", "invalidation": {"status", ...}}.

    Example: iac invalidate -c iac.yaml --path '/*' --json
    """
    from iac.config.load import load_config
    from iac.deploy.invalidation import invalidate_cache, url_map_name
    from iac.gcp.invalidate import InvalidationTarget, check_path

    loaded = load_config(config)
    target = InvalidationTarget(
        project=loaded.config.project,
        url_map=url_map_name(loaded.config.name),
        host=loaded.config.domain,
        path=check_path(path),
    )
    report = invalidate_cache(loaded, target, progress)
    if report.failed and report.setup:
        raise IacError(str(report.error))  # no credentials: exit 1, a retry cannot succeed
    if report.failed:
        print_invalidation_failure(report, applied=False)
        if as_json:
            error = invalidation_error(report, applied=False)
            print_json({"invalidation": report.to_json()}, EXIT_INVALIDATION_FAILED, error)
        raise typer.Exit(EXIT_INVALIDATION_FAILED)
    if as_json:
        print_json({"invalidation": report.to_json()})
