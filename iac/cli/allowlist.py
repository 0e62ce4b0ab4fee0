"""`iac allowlist`: show and rotate the IP allowlist in the config."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from iac.cli import (
    AutoApproveOption,
    ConfigOption,
    JsonOption,
    LockTimeoutOption,
    OutputOption,
    TerraformOption,
    _apply_flow,
    _command_group,
    _plural,
    _progress,
    _reported,
)
from iac.errors import IacError
from iac.terraform import DEFAULT_LOCK_TIMEOUT

allowlist_app = _command_group(
    "allowlist",
    "Show and rotate the IP allowlist: edits the config in place (comments and layout kept), validates, "
    "and can apply the change with the CDN cache invalidation.",
)

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the change; do not write the config.")]
ApplyOption = Annotated[bool, typer.Option("--apply", help="Then run the `iac apply` flow on the edited config.")]
AllowEmptyOption = Annotated[
    bool, typer.Option("--allow-empty", help="Allow removing every entry (locks everyone out).")
]


@allowlist_app.command("list")
def allowlist_list(config: ConfigOption = Path("iac.yaml"), as_json: JsonOption = False) -> None:
    """The effective allowlist (validated, merged, sorted) and how it maps onto Cloud Armor rules.

    Example: iac allowlist list -c iac.yaml --json
    """
    from iac.allowlist import FIRST_PRIORITY
    from iac.config import load_config

    with _reported():
        allowlist = load_config(config).allowlist
    rules = allowlist.rules()
    if as_json:
        document = {
            "ranges": list(allowlist.ranges),
            "entries": allowlist.entries,
            "rule_count": len(rules),
            "rules": [{"priority": FIRST_PRIORITY + i, "ranges": list(ranges)} for i, ranges in enumerate(rules)],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    entries = f"{allowlist.entries} {'entry' if allowlist.entries == 1 else 'entries'}"
    typer.echo(
        f"{_plural(len(allowlist.ranges), 'range')} from {entries}, {_plural(len(rules), 'allow rule')} "
        "in each Cloud Armor policy (at most 10 ranges per rule)"
    )
    if not rules:
        typer.echo("  the list is empty: every request is denied")
    for i, ranges in enumerate(rules):
        typer.echo(f"  priority {FIRST_PRIORITY + i}: {', '.join(ranges)}")


def _edit_allowlist(
    config: Path,
    edit: Any,
    dry_run: bool,
    allow_empty: bool,
    as_json: bool,
    then_apply: dict[str, Any] | None,
) -> None:
    """Shared tail of add/remove/set: validate, show the diff, write atomically, optionally apply."""
    from iac import allowlist_file

    with _reported():
        doc = allowlist_file.read(config)
        rows, notices = edit(doc)
        change = allowlist_file.finish(doc, rows, notices, allow_empty)
        write = change.changed or change.text != doc.original
        if write and not dry_run:
            allowlist_file.write(doc, change)
    if as_json:
        typer.echo(json.dumps({**change.to_json(), "written": write and not dry_run}, indent=2))
    else:
        for notice in change.notices:
            typer.echo(notice)
        if change.changed:
            typer.echo(
                f"allowlist: {len(change.added)} added, {len(change.removed)} removed; "
                f"rules {change.rules_before} -> {change.rules_after}"
            )
            for cidr in change.added:
                typer.echo(f"  + {cidr}")
            for cidr in change.removed:
                typer.echo(f"  - {cidr}")
        else:
            typer.echo("allowlist unchanged")
        if dry_run:
            typer.echo(f"dry run: {config} was not written")
        elif write:
            typer.echo(f"wrote {config}")
    if then_apply is not None and not dry_run:
        if change.changed:
            _apply_flow(config, **then_apply)
        else:
            _progress("--apply: the allowlist did not change, nothing to apply")


def _apply_options(
    apply: bool, auto_approve: bool, output: Path, terraform: str | None, lock_timeout: str
) -> dict[str, Any] | None:
    if not apply:
        return None
    return {
        "output": output,
        "auto_approve": auto_approve,
        "as_json": False,
        "no_invalidate": False,
        "terraform": terraform,
        "lock_timeout": lock_timeout,
    }


@allowlist_app.command("add")
def allowlist_add(
    cidrs: Annotated[list[str], typer.Argument(help="Addresses or CIDRs to allow.", show_default=False)],
    config: ConfigOption = Path("iac.yaml"),
    note: Annotated[str | None, typer.Option("--note", help="Comment written beside the new entries.")] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    output: OutputOption = Path("build"),
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Add addresses to the allowlist. An address already allowed is reported and not added again.

    Example: iac allowlist add 81.2.69.160/28 --note "Lisbon office" --apply --auto-approve
    """
    from iac import allowlist_file

    with _reported():
        networks = allowlist_file.parse_command_line(cidrs)
        if note is not None and (not note.strip() or any(not ch.isprintable() for ch in note)):
            raise IacError("--note must be one line of printable text")

    _edit_allowlist(
        config,
        lambda doc: allowlist_file.add(doc, networks, note.strip() if note else None),
        dry_run,
        False,
        as_json,
        _apply_options(apply, auto_approve, output, terraform, lock_timeout),
    )


@allowlist_app.command("remove")
def allowlist_remove(
    cidrs: Annotated[list[str], typer.Argument(help="Entries to remove.", show_default=False)],
    config: ConfigOption = Path("iac.yaml"),
    allow_empty: AllowEmptyOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    output: OutputOption = Path("build"),
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Remove entries from the allowlist. Naming an address that is not an entry is an error.

    Example: iac allowlist remove 130.192.120.23/32 --apply --auto-approve
    """
    from iac import allowlist_file

    with _reported():
        networks = allowlist_file.parse_command_line(cidrs)
    _edit_allowlist(
        config,
        lambda doc: (allowlist_file.remove(doc, networks), []),
        dry_run,
        allow_empty,
        as_json,
        _apply_options(apply, auto_approve, output, terraform, lock_timeout),
    )


@allowlist_app.command("set")
def allowlist_set(
    source: Annotated[
        str, typer.Option("--from", help="File with one address or CIDR per line (# comments allowed), or - for stdin.")
    ],
    config: ConfigOption = Path("iac.yaml"),
    allow_empty: AllowEmptyOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    output: OutputOption = Path("build"),
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Replace the allowlist with the addresses of a file, merged and sorted.

    Entries that stay keep their comments.

    Example: iac allowlist set --from vpn-egress.txt --apply --auto-approve
    """
    from iac import allowlist_file

    with _reported():
        if source == "-":
            name, text = "<stdin>", sys.stdin.read()
        else:
            name = source
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise IacError(f"{source}: cannot read the list of addresses: {exc}") from None
        values, labels = allowlist_file.read_list_file(name, text)
        networks = allowlist_file.parse_arguments(values, labels)
    _edit_allowlist(
        config,
        lambda doc: (allowlist_file.replace(doc, networks), []),
        dry_run,
        allow_empty,
        as_json,
        _apply_options(apply, auto_approve, output, terraform, lock_timeout),
    )
