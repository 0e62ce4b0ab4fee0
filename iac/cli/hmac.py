"""`iac hmac`: rotate the HMAC key the load balancer signs its requests to the bucket with."""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iac.cli.common import (
    DEFAULT_CONFIG,
    ApplyOptions,
    AutoApproveOption,
    ConfigOption,
    JsonOption,
    LockfileOption,
    LockTimeoutOption,
    NoInvalidateOption,
    OutputOption,
    TerraformOption,
    output_dir,
    print_rotation,
    print_warnings,
    progress,
)
from iac.cli.group import IacCommand, command_group
from iac.defaults import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from iac.edits.hmac_key import Rotation

app = command_group(
    "Rotate the HMAC key the load balancer signs its requests to the bucket with, make-before-break: the new key "
    "is created and in use before the old one is deleted.",
    example="iac hmac rotate -c iac.yaml && iac render  (then a pull request)",
)


@app.callback()
def hmac_group() -> None:
    # A callback keeps `hmac` a group of commands: Typer would make a group of one command that command itself.
    pass


ApplyOption = Annotated[
    bool,
    typer.Option(
        "--apply",
        help="Then run the `iac apply` flow on the config: new key created, backend service switched to it, old "
        "key deleted.",
    ),
]


@app.command("rotate", cls=IacCommand)
def hmac_rotate(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    no_invalidate: NoInvalidateOption = False,
    output: OutputOption = None,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    lockfile: LockfileOption = None,
) -> None:
    """Raise hmac_key.generation in the config by one, so that the next apply replaces the HMAC key, make-before-break.

    The new key is created, the backend service switched to it, then the old key deleted: the old key stays
    valid until the backend service signs with the new one. A config without hmac_key: (generation 1) gets it.

    Rotate when someone who could read the Terraform state (it holds the secret) leaves, when the secret may
    have been exposed, or as your policy says. The config is edited in place under its lock (every other byte
    kept) and checked like `iac validate` before it is written; an invalid config (a generation of 0 or "x"
    included) is refused, with nothing written. The secret itself is never printed or written by iac.

    Exit status 0 done; 1 invalid input or failure (with --apply: the config keeps the new generation and
    `iac apply` finishes it); 3 applied but the CDN cache invalidation failed.

    Example: iac hmac rotate -c iac.yaml && iac render  (then a pull request)
    """
    from iac.deploy import rotate as deploy
    from iac.edits import hmac_key
    from iac.files.durations import parse_duration

    timeout = parse_duration(lock_timeout)
    options = ApplyOptions(
        apply,
        auto_approve,
        no_invalidate,
        output_dir(output, config, "build"),
        terraform,
        lock_timeout,
        lockfile,
        only="serving",  # the key is the serving root's: the allow rules are not planned
    )
    then_apply = options.then_apply(as_json)
    report = deploy.rotate(
        lambda: hmac_key.rotate(config, lock_timeout=timeout),
        config=config,
        lock_timeout=timeout,
        dry_run=False,
        shown=lambda rotation: _show_rotation(rotation, config, as_json, apply),
        then_apply=then_apply,
    )
    print_rotation(report, as_json)


def _show_rotation(rotation: "Rotation", config: Path, as_json: bool, apply: bool) -> None:
    say = progress if as_json else typer.echo
    print_warnings(rotation.loaded.warnings)
    added = " (hmac_key: added)" if rotation.added_key else ""
    say(f"hmac_key.generation in {config}: {rotation.before} -> {rotation.after}{added}")
    say(f"wrote {config}")
    if not apply:
        say(
            f"next: `iac apply -c {shlex.quote(str(config))}` (or the pipeline, once merged) creates the new HMAC key, "
            "switches the backend service to it and then deletes the old one"
        )
