"""`iac allowlist`: show and rotate the IP allowlist in the config."""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
import dataclasses
import shlex
import sys
from collections.abc import Callable
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
    print_json,
    print_rotation,
    print_warnings,
    progress,
    rule_lines,
)
from iac.cli.group import IacCommand, command_group
from iac.defaults import DEFAULT_LIMIT, DEFAULT_LOCK_TIMEOUT, DEFAULT_SINCE, MAX_LIMIT
from iac.errors import IacError
from iac.untrusted import printable
from iac.words import plural

if TYPE_CHECKING:
    from iac.edits.allowlist import Change, Operation
    from iac.gcp.denied import DeniedReport

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
    from iac.allowlist import baseline as baselines
    from iac.config.load import load_config

    loaded = load_config(config)
    allowlist = loaded.allowlist
    baseline = baselines.of_rendering(output_dir(output, config, "build"), loaded.config)
    rules = baseline.assign(allowlist, loaded.config.allowlist_max_rules).rules
    if as_json:
        print_json(
            {
                "ranges": list(allowlist.ranges),
                "entries": allowlist.entries,
                "rule_count": len(rules),
                "rules": [{"priority": rule.priority, "ranges": list(rule.ranges)} for rule in rules],
                "baseline": baseline.to_json(),
            }
        )
        return
    entries = plural(allowlist.entries, "entry", "entries")
    typer.echo(
        f"{plural(len(allowlist.ranges), 'range')} from {entries}, {plural(len(rules), 'allow rule')} "
        f"in each Cloud Armor policy (at most 10 ranges per rule; {baseline.describe()})"
    )
    if not rules:
        typer.echo("  the list is empty: every request is denied")
    for rule in rules:
        typer.echo(f"  priority {rule.priority}: {', '.join(rule.ranges)}")


def _show_edit(change: "Change", config: Path, dry_run: bool, as_json: bool) -> None:
    """The edit, as it happened: the file's ranges, then the rules against the named baseline."""
    from iac.allowlist.rules import repack_notice

    say = progress if as_json else typer.echo
    print_warnings(change.loaded.warnings)
    for notice in change.notices:
        say(notice)
    if change.added or change.removed:
        say(f"allowlist in {config}: {len(change.added)} added, {len(change.removed)} removed")
        for cidr in change.added:
            say(f"  + {cidr}")
        for cidr in change.removed:
            say(f"  - {cidr}")
    elif change.changed:
        say(f"allowlist in {config}: the same ranges, entries rewritten")
    else:
        say(f"allowlist in {config}: unchanged")
    if change.rendering_behind:
        say(
            f"note: {change.baseline.directory}/ was rendered from another allowlist than {config} holds: "
            f"the rule changes below include those (`iac render -c {shlex.quote(str(config))}` brings it in line)"
        )
    if change.new_rules.repacked:
        say(repack_notice(change.baseline.rules, change.new_rules.rules))
    for line in rule_lines(change.baseline, change.new_rules):
        say(line)
    if dry_run:
        say(f"dry run: {config} was not written")
    elif change.written:
        say(f"wrote {config}")


def _edit_allowlist(
    config: Path,
    operation: "Operation",
    dry_run: bool,
    allow_empty: bool,
    as_json: bool,
    options: ApplyOptions,
) -> None:
    """Shared tail of add/remove/set: the rotation flow (`iac.deploy.rotate.rotate`), printed."""
    from iac.deploy import rotate as deploy
    from iac.edits import allowlist as allowlist_file
    from iac.files.durations import parse_duration

    timeout = parse_duration(options.lock_timeout)
    # An allowlist edit changes the allowlist root alone: --apply runs Terraform in allowlist/ only.
    then_apply = dataclasses.replace(options, only="allowlist").then_apply(as_json, dry_run=dry_run)
    report = deploy.rotate(
        lambda: allowlist_file.edit(
            config, operation, allow_empty=allow_empty, dry_run=dry_run, lock_timeout=timeout, output=options.output
        ),
        config=config,
        lock_timeout=timeout,
        dry_run=dry_run,
        shown=lambda change: _show_edit(change, config, dry_run, as_json),
        then_apply=then_apply,
    )
    print_rotation(report, as_json)


@app.command("add", cls=IacCommand)
def allowlist_add(
    cidrs: Annotated[
        list[str], typer.Argument(metavar="CIDR", help="Addresses or CIDRs to allow.", show_default=False)
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    note: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="Comment written beside the new entries.")
    ] = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
    apply: ApplyOption = False,
    auto_approve: AutoApproveOption = False,
    no_invalidate: NoInvalidateOption = False,
    output: OutputOption = None,
    terraform: TerraformOption = None,
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
    lockfile: LockfileOption = None,
) -> None:
    """Add addresses to the allowlist. An address already allowed is reported and not added again.

    Example: iac allowlist add 81.2.69.160/28 --note "Lisbon office" && iac render  (then a pull request)
    """
    from iac.edits import allowlist as allowlist_file
    from iac.edits import allowlist_text

    networks = allowlist_text.parse_command_line(cidrs)
    if note is not None and (not note.strip() or any(not ch.isprintable() for ch in note)):
        raise IacError("--note must be one line of printable text")
    _edit_allowlist(
        config,
        lambda doc: allowlist_file.add(doc, networks, note.strip() if note else None),
        dry_run,
        False,
        as_json,
        ApplyOptions(
            apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout, lockfile
        ),
    )


@app.command("remove", cls=IacCommand)
def allowlist_remove(
    cidrs: Annotated[list[str], typer.Argument(metavar="CIDR", help="Entries to remove.", show_default=False)],
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
    lockfile: LockfileOption = None,
) -> None:
    """Remove entries from the allowlist. Naming an address that is not an entry is an error.

    Example: iac allowlist remove 130.192.120.23/32 && iac render  (then a pull request)
    """
    from iac.edits import allowlist as allowlist_file
    from iac.edits import allowlist_text

    networks = allowlist_text.parse_command_line(cidrs)
    _edit_allowlist(
        config,
        lambda doc: allowlist_file.remove(doc, networks),
        dry_run,
        allow_empty,
        as_json,
        ApplyOptions(
            apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout, lockfile
        ),
    )


@app.command("set", cls=IacCommand)
def allowlist_set(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="FILE",
            help="File with one address or CIDR per line (# comments allowed), or - for stdin.",
        ),
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
    lockfile: LockfileOption = None,
) -> None:
    """Replace the allowlist with the addresses of a file.

    Entries that stay keep their line and comments, byte for byte; entries not in the file go; new ones are
    added (merged, in order when the list is sorted), each with the # note of its line in the file.

    Example: iac allowlist set --from vpn-egress.txt && iac render  (then a pull request)
    """
    from iac.edits import allowlist as allowlist_file
    from iac.edits import allowlist_text
    from iac.files.inputs import ADDRESS_LIST, read_input, read_stream

    name = "<stdin>" if source == "-" else source
    try:
        # A regular file or stdin, under the cap (a device or a FIFO is refused, not read).
        data = (
            read_stream(sys.stdin.buffer, name, ADDRESS_LIST)
            if source == "-"
            else read_input(Path(source), ADDRESS_LIST)
        )
        text = data.decode("utf-8")
    except IsADirectoryError:
        raise IacError(
            f"{name}: is a directory: --from takes a file with one address per line, or - for stdin"
        ) from None
    except OSError as exc:
        raise IacError(f"{name}: cannot read the list of addresses: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise IacError(f"{name}: the list of addresses is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    listed = allowlist_text.read_list_file(name, text)
    networks = allowlist_text.parse_arguments(listed.values, listed.labels)
    _edit_allowlist(
        config,
        lambda doc: (allowlist_file.replace(doc, networks, listed.notes), []),
        dry_run,
        allow_empty,
        as_json,
        ApplyOptions(
            apply, auto_approve, no_invalidate, output_dir(output, config, "build"), terraform, lock_timeout, lockfile
        ),
    )


@app.command("denied", cls=IacCommand)
def allowlist_denied(
    config: ConfigOption = DEFAULT_CONFIG,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="How far back to look, e.g. 90m, 24h, 7d (more than 0, at most 30d: Cloud Logging's retention).",
        ),
    ] = DEFAULT_SINCE,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            metavar="N",
            max=MAX_LIMIT,
            help=f"Read at most N log entries, the newest first (it says when it stopped there); at most "
            f"{MAX_LIMIT:,}.",
        ),
    ] = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """Who Cloud Armor refused: the load balancer's denials in Cloud Logging, by client address, and the
    `iac allowlist add` line for each address the config does not allow (printed, never run).

    Reads the project's log (logging.logEntries.list, e.g. roles/logging.viewer) for requests to this
    deployment's URL map that a Cloud Armor policy denied. Nothing denied: says so, exit status 0.
    IAC_LOGGING_API_ENDPOINT points it at another Cloud Logging endpoint. The reading is bounded (200
    pages, 8 MB a page, 256 MB in all, 120 s or IAC_API_DEADLINE): stopping early is said, and --json
    flags it ("truncated": true, "truncated_by"). Client addresses that are not plain global IPs are
    listed apart, escaped, and never suggested.

    Example: iac allowlist denied -c iac.yaml --since 7d
    """
    from iac.config.load import load_config
    from iac.gcp.denied import parse_since, read_denied

    window = parse_since(since)
    loaded = load_config(config)
    report = read_denied(loaded, window, limit=limit, progress=progress)
    if as_json:
        print_json(report.to_json())
    else:
        _print_denied(report, config)


def _print_denied(report: "DeniedReport", config: Path) -> None:
    """The report; what it quotes from the log (paths, addresses that are not addresses) is escaped already,
    and every line is printed through `printable` besides."""
    from iac.gcp.denied import rfc3339

    def say(line: str) -> None:
        typer.echo(printable(line))

    where = f"since {rfc3339(report.since)} (url map {report.url_map}, project {report.project})"
    if not report.denied:
        kind = " from a global address" if report.not_plain else ""
        say(f"Cloud Armor refused no request{kind} {where}")
    else:
        addresses = plural(len(report.denied), "address", "addresses")
        say(f"Cloud Armor refused {addresses} ({plural(report.requests, 'request')}) {where}:")
        _print_table(report, say)
    if report.not_plain:
        say("Refused from client addresses that are not plain global IP addresses (never to be allowed as such):")
        for odd in report.not_plain:
            say(f"  {odd.address}  {plural(odd.count, 'request')}: {odd.reason}")
    if report.skipped:
        entries = plural(report.skipped, "log entry", "log entries")
        say(f"{entries} without a client address or a valid time, or from outside the window, skipped")
    stopped = report.stopped()
    if stopped:
        say(stopped)
    if any(item.allowed_now for item in report.denied):
        say(
            "Addresses allowed now were refused before the config allowed them: if they are still refused, "
            f"apply the config (iac apply -c {shlex.quote(str(config))})."
        )
    to_allow = report.to_allow()
    if to_allow:
        say(
            "To allow an address: check whose it is, put that in the note, run the line, then apply it (--apply) "
            "or open a pull request with the change:"
        )
        for item in to_allow:
            say(f"  {item.allow_command(config)}")


def _print_table(report: "DeniedReport", say: Callable[[str], None]) -> None:
    from iac.gcp.denied import rfc3339

    header = ("address", "requests", "first", "last", "policy", "allowed now", "sample path")
    rows = [
        (
            item.address,
            str(item.count),
            rfc3339(item.first),
            rfc3339(item.last),
            item.policy,
            "yes" if item.allowed_now else "no",
            item.sample_path or "-",
        )
        for item in report.denied
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if column == 1 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        say("  " + "  ".join([*cells, row[-1]]))
