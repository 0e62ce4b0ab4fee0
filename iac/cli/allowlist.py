"""`iac allowlist`: show and rotate the IP allowlist in the config."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iac.cli.common import (
    DEFAULT_CONFIG,
    AutoApproveOption,
    ConfigOption,
    JsonOption,
    LockTimeoutOption,
    NoInvalidateOption,
    OutputOption,
    TerraformOption,
    check_can_confirm,
    output_dir,
    plural,
    progress,
    run_apply,
)
from iac.cli.group import EXIT_INVALIDATION_FAILED, IacCommand, command_group
from iac.errors import IacError
from iac.terraform import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from iac.allowlist_file import Operation

app = command_group(
    "Show and rotate the IP allowlist: edits the config in place (comments and layout kept), validates, "
    "and can apply the change with the CDN cache invalidation.",
    example='iac allowlist add 81.2.69.160/28 --note "Lisbon office" --dry-run',
)

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the change; do not write the config.")]
ApplyOption = Annotated[
    bool,
    typer.Option("--apply", help="Then run the `iac apply` flow on the config, also when the edit changed nothing."),
]
AllowEmptyOption = Annotated[
    bool, typer.Option("--allow-empty", help="Allow removing every entry (locks everyone out).")
]


@app.command("list", cls=IacCommand)
def allowlist_list(
    config: ConfigOption = DEFAULT_CONFIG, output: OutputOption = None, as_json: JsonOption = False
) -> None:
    """The effective allowlist (validated, merged, sorted) and its Cloud Armor rules as they will be rendered.

    Each range keeps the rule it has in the rendering in the output directory (-o).

    Example: iac allowlist list -c iac.yaml --json
    """
    from iac.allowlist import assign
    from iac.config import load_config
    from iac.render import current_rules

    loaded = load_config(config)
    allowlist = loaded.allowlist
    current = current_rules(output_dir(output, config, "build"), loaded.config)
    rules = assign(allowlist, current, loaded.config.allowlist_max_rules).rules
    if as_json:
        document = {
            "ranges": list(allowlist.ranges),
            "entries": allowlist.entries,
            "rule_count": len(rules),
            "rules": [{"priority": rule.priority, "ranges": list(rule.ranges)} for rule in rules],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    entries = f"{allowlist.entries} {'entry' if allowlist.entries == 1 else 'entries'}"
    typer.echo(
        f"{plural(len(allowlist.ranges), 'range')} from {entries}, {plural(len(rules), 'allow rule')} "
        "in each Cloud Armor policy (at most 10 ranges per rule)"
    )
    if not rules:
        typer.echo("  the list is empty: every request is denied")
    for rule in rules:
        typer.echo(f"  priority {rule.priority}: {', '.join(rule.ranges)}")


@dataclass(frozen=True)
class _ApplyOptions:
    apply: bool
    auto_approve: bool
    no_invalidate: bool
    output: Path
    terraform: str | None
    lock_timeout: str


def _edit_allowlist(
    config: Path,
    operation: Operation,
    dry_run: bool,
    allow_empty: bool,
    as_json: bool,
    options: _ApplyOptions,
) -> None:
    """Shared tail of add/remove/set: lock, validate, show the change, write atomically, optionally apply."""
    from iac import allowlist_file
    from iac.allowlist import repack_notice
    from iac.files import parse_duration

    timeout = parse_duration(options.lock_timeout)
    if options.apply and not dry_run:
        check_can_confirm(options.auto_approve)  # before anything is written
    change = allowlist_file.edit(
        config, operation, allow_empty=allow_empty, dry_run=dry_run, lock_timeout=timeout, output=options.output
    )
    say = progress if as_json else typer.echo
    for notice in change.notices:
        say(notice)
    if change.changed:
        say(
            f"allowlist: {len(change.added)} added, {len(change.removed)} removed; "
            f"rules {change.rules_before} -> {change.rules_after}"
        )
        for cidr in change.added:
            say(f"  + {cidr}")
        for cidr in change.removed:
            say(f"  - {cidr}")
    else:
        say("allowlist unchanged")
    if change.new_rules.repacked:
        say(repack_notice(change.current_rules, change.new_rules.rules))
    for rule in change.rules_changed:
        parts = [f"+{cidr}" for cidr in rule.added] + [f"-{cidr}" for cidr in rule.removed]
        say(f"  rule {rule.priority}: {' '.join(parts)}")
    if dry_run:
        say(f"dry run: {config} was not written")
    elif change.written:
        say(f"wrote {config}")
    if not options.apply or dry_run:
        if as_json:
            typer.echo(json.dumps(change.to_json(), indent=2))
        return
    report = run_apply(
        change.loaded,
        options.output,
        options.auto_approve,
        as_json,
        options.no_invalidate,
        options.terraform,
        options.lock_timeout,
    )
    if as_json:
        typer.echo(json.dumps({"edit": change.to_json(), **report.to_json()}, indent=2))
    if report.invalidation.failed:
        raise typer.Exit(EXIT_INVALIDATION_FAILED)


@app.command("add", cls=IacCommand)
def allowlist_add(
    cidrs: Annotated[list[str], typer.Argument(help="Addresses or CIDRs to allow.", show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG,
    note: Annotated[str | None, typer.Option("--note", help="Comment written beside the new entries.")] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    no_invalidate: NoInvalidateOption = False,
    output: OutputOption = None,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Add addresses to the allowlist. An address already allowed is reported and not added again.

    Example: iac allowlist add 81.2.69.160/28 --note "Lisbon office" --apply --auto-approve
    """
    from iac import allowlist_file

    networks = allowlist_file.parse_command_line(cidrs)
    if note is not None and (not note.strip() or any(not ch.isprintable() for ch in note)):
        raise IacError("--note must be one line of printable text")
    _edit_allowlist(
        config,
        lambda doc: allowlist_file.add(doc, networks, note.strip() if note else None),
        dry_run,
        False,
        as_json,
        _ApplyOptions(apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout),
    )


@app.command("remove", cls=IacCommand)
def allowlist_remove(
    cidrs: Annotated[list[str], typer.Argument(help="Entries to remove.", show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG,
    allow_empty: AllowEmptyOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    no_invalidate: NoInvalidateOption = False,
    output: OutputOption = None,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Remove entries from the allowlist. Naming an address that is not an entry is an error.

    Example: iac allowlist remove 130.192.120.23/32 --apply --auto-approve
    """
    from iac import allowlist_file

    networks = allowlist_file.parse_command_line(cidrs)
    _edit_allowlist(
        config,
        lambda doc: (allowlist_file.remove(doc, networks), []),
        dry_run,
        allow_empty,
        as_json,
        _ApplyOptions(apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout),
    )


@app.command("set", cls=IacCommand)
def allowlist_set(
    source: Annotated[
        str, typer.Option("--from", help="File with one address or CIDR per line (# comments allowed), or - for stdin.")
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    allow_empty: AllowEmptyOption = False,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    no_invalidate: NoInvalidateOption = False,
    output: OutputOption = None,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Replace the allowlist with the addresses of a file, merged and sorted.

    Entries that stay keep their comments.

    Example: iac allowlist set --from vpn-egress.txt --apply --auto-approve
    """
    from iac import allowlist_file

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
        _ApplyOptions(apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout),
    )
