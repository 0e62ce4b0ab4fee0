"""`iac manifest`: Encord registration files."""

# No `from __future__ import annotations`: Typer reads the commands' annotations (see iac/cli/__init__.py).
import sys
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
from iac.manifest.formats import CSV_MAX_ROWS, DEFAULT_BATCH
from iac.untrusted import printable
from iac.words import plural

if TYPE_CHECKING:
    from iac.manifest.generate import Progress, Summary
    from iac.manifest.register_report import Progress as RegisterProgress
    from iac.manifest.register_report import RegisterReport

app = command_group(
    "Encord registration files: generate the upload JSON/CSV for the Direct Access bucket, "
    "validate one written by hand, or register them in Encord.",
    example="iac manifest generate -c iac.yaml -o manifests/",
)


# Objects read at a time under --strict-metadata: storage answers each in tens of milliseconds, so 16 at a
# time go about 16 times as fast as one by one, with at most 16 media files in temporary files at once.
DEFAULT_JOBS = 16
MAX_JOBS = 64  # connections to storage at a time, and media files in temporary files at once
# Encord's recommended batch sizes (the defaults of --images-per-file and --videos-per-file).
_IMAGES_PER_FILE = DEFAULT_BATCH["images"]
_VIDEOS_PER_FILE = DEFAULT_BATCH["videos"]
# What one registration unit of each kind is called ("1 video", "2 PDFs"); a DICOM series is counted apart.
_UNIT_NOUNS = {"images": "image", "videos": "video", "audio": "audio file", "pdfs": "PDF", "text": "text file"}


def _units(key: str, count: int) -> str:
    return f"{count} DICOM series" if key == "dicom_series" else plural(count, _UNIT_NOUNS[key])


@app.command("generate", cls=IacCommand)
def manifest_generate(
    config: ConfigOption = DEFAULT_CONFIG,
    prefix: Annotated[
        str | None, typer.Option("--prefix", metavar="PREFIX", help="Only objects whose name starts with this.")
    ] = None,
    kind: Annotated[
        str,
        typer.Option("--kind", metavar="KIND", help="images, videos, audio, pdfs, text, dicom, or auto (every kind)."),
    ] = "auto",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="DIR",
            help="Directory for the registration files (default: manifests/ beside the config file).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="json or csv.")] = "json",
    strict_metadata: Annotated[
        bool,
        typer.Option("--strict-metadata", help="Add the per-file metadata strict client-only access needs."),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            max=MAX_JOBS,
            help=f"Objects read at a time under --strict-metadata (1: one after the other; at most {MAX_JOBS}). "
            "The files are the same whatever N.",
        ),
    ] = DEFAULT_JOBS,
    images_per_file: Annotated[
        int,
        typer.Option(
            "--images-per-file",
            min=1,
            max=CSV_MAX_ROWS,
            metavar="N",
            help=f"Images per file (at least 1, at most {CSV_MAX_ROWS:,}).",
        ),
    ] = _IMAGES_PER_FILE,
    videos_per_file: Annotated[
        int,
        typer.Option(
            "--videos-per-file",
            min=1,
            max=CSV_MAX_ROWS,
            metavar="N",
            help=f"Videos per file (at least 1, at most {CSV_MAX_ROWS:,}).",
        ),
    ] = _VIDEOS_PER_FILE,
    as_json: JsonOption = False,
    lock_timeout: OutputLockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """List the Direct Access bucket and write registration files whose objectUrls use the domain.

    Files are batched as Encord recommends (at most 1,000 images or 100 videos per JSON file,
    10,000 rows per CSV file); DICOM files of one folder form one series. Objects Encord cannot take
    are listed in skipped.csv with the reason. Files of an earlier run that no longer belong are
    removed; a run that failed half way is completed by the next. Under --strict-metadata, N objects
    are read at a time (--jobs), and a progress line is shown on a terminal.

    Example: iac manifest generate -c iac.yaml --prefix scans/ --kind dicom -o manifests/
    """
    from iac.config.load import load_config
    from iac.files.durations import parse_duration
    from iac.files.ledger import Deployment
    from iac.manifest.bucket import list_bucket
    from iac.manifest.generate import generate

    output = output_dir(output, config, "manifests")
    _check_generate_options(kind, fmt, jobs)
    timeout = parse_duration(lock_timeout)
    loaded = load_config(config).config
    ticker = _ProgressLine() if strict_metadata and not as_json and sys.stderr.isatty() else None
    try:
        summary = generate(
            list_bucket(loaded.bucket.name, prefix, connections=jobs if strict_metadata else 1),
            loaded.domain,
            output,
            kind=kind,
            fmt=fmt,
            strict=strict_metadata,
            batch={"images": images_per_file, "videos": videos_per_file},
            progress=progress,
            deployment=Deployment.of(loaded),
            jobs=jobs,
            ticker=ticker,
            config=config,
            lock_timeout=timeout,
        )
    finally:
        if ticker is not None:
            ticker.end()
    _print_generated(summary, output, kind, as_json)


def _check_generate_options(kind: str, fmt: str, jobs: int) -> None:
    from iac.manifest.generate import KINDS

    if kind != "auto" and kind not in KINDS:
        raise IacError(f"--kind {kind!r}: use one of {', '.join(KINDS)} or auto")
    if fmt not in ("json", "csv"):
        raise IacError(f"--format {fmt!r}: use json or csv")
    if jobs < 1:
        raise IacError(f"--jobs {jobs}: give the number of objects to read at a time, 1 or more (1 reads one by one)")


class _ProgressLine:
    """One line on the terminal's stderr, rewritten as the run goes: objects listed, read, skipped; rate."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, counts: "Progress") -> None:
        line = (
            f"{counts.listed} objects listed, {counts.read} read, {counts.skipped} skipped "
            f"({counts.rate:.0f} objects/s)"
        )
        sys.stderr.write(f"\r\x1b[K{line}")
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _print_generated(summary: "Summary", output: Path, kind: str, as_json: bool) -> None:
    if as_json:
        document = {
            "files": summary.files,
            "units": summary.units,
            "skipped": summary.skipped,
            "filtered": summary.filtered,
        }
        print_json(document)
        return
    units = ", ".join(_units(key, count) for key, count in sorted(summary.units.items())) or "nothing"
    typer.echo(f"Wrote {output}/: {units} in {plural(len(summary.files), 'file')}")
    for name in summary.files:
        typer.echo(f"  {name}")
    if summary.skipped:
        are = "is" if summary.skipped == 1 else "are"
        typer.echo(f"  {plural(summary.skipped, 'object')} Encord cannot take {are} listed in {output}/skipped.csv")
    if summary.filtered:
        typer.echo(f"  {plural(summary.filtered, 'object')} of other kinds left out (--kind {kind})")


@app.command("validate", cls=IacCommand)
def manifest_validate(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Registration files (JSON or CSV).", show_default=False)
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "-c", "--config", metavar="FILE", help="Also check that URLs use this config's domain.", dir_okay=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check registration files against Encord's JSON and CSV formats; every problem with its location.

    Exit status 1 when anything is wrong.

    Example: iac manifest validate -c iac.yaml manifests/*.json
    """
    from iac.manifest.validate import validate_file

    domain = None
    if config is not None:
        from iac.config.load import load_config

        domain = load_config(config).config.domain
    problems = [problem for path in files for problem in validate_file(path, domain)]
    if as_json:
        document = {
            "valid": not problems,
            "problems": [
                {"file": p.path, "line": p.line, "column": p.column, "where": p.where, "message": p.message}
                for p in problems
            ],
        }
        error = f"{plural(len(problems), 'problem')} in {plural(len(files), 'file')}" if problems else None
        print_json(document, EXIT_ERROR if problems else 0, error)
    else:
        for problem in problems:
            typer.echo(f"error: {printable(str(problem))}", err=True)  # it quotes the file: escaped
        if problems:
            typer.echo(f"error: {plural(len(problems), 'problem')} in {plural(len(files), 'file')}", err=True)
        else:
            typer.echo(f"{plural(len(files), 'file')}: valid")
    if problems:
        raise typer.Exit(EXIT_ERROR)


# Files in flight at once (each one upload job at Encord), and how long to wait for one file's job.
DEFAULT_REGISTER_JOBS = 4
DEFAULT_REGISTER_TIMEOUT = "1h"
# Refused units shown on the terminal; all of them are in register-errors.csv.
_REFUSALS_SHOWN = 10


@app.command("register", cls=IacCommand)
def manifest_register(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE",
            help="Registration files (JSON) of one directory (default: those `iac manifest generate` wrote in "
            "manifests/ beside the config file, in order).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    integration: Annotated[
        str | None,
        typer.Option(
            "--integration",
            metavar="TITLE",
            help="Title of the cloud integration Encord reads the bucket through (default: encord.integration).",
            show_default=False,
        ),
    ] = None,
    folder: Annotated[
        str | None,
        typer.Option(
            "--folder",
            metavar="NAME",
            help="Storage folder to register the files in (default: encord.folder).",
            show_default=False,
        ),
    ] = None,
    create_folder: Annotated[
        bool, typer.Option("--create-folder", help="Create the storage folder when there is none of that name.")
    ] = False,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            metavar="TITLE",
            help="Dataset to link the registered items to, created if missing (default: encord.dataset; none).",
            show_default=False,
        ),
    ] = None,
    ignore_errors: Annotated[
        bool,
        typer.Option(
            "--ignore-errors",
            help="Let Encord register the objects it can and list the others (without it, one object Encord "
            "refuses fails its file's job).",
        ),
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", metavar="N", help="Files in flight at once (1 or more).")
    ] = DEFAULT_REGISTER_JOBS,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="How long to wait for one file's job (e.g. 30m, 2h); a job still running then is polled by the "
            "next run, never submitted again.",
        ),
    ] = DEFAULT_REGISTER_TIMEOUT,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Submit again a file whose earlier submission may have reached Encord although it has no "
            '"skip_duplicate_urls": true, a file changed since it was submitted, and one whose job ended with errors.',
        ),
    ] = False,
    as_json: JsonOption = False,
    lock_timeout: OutputLockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Register the registration files in an Encord storage folder with Encord's SDK, resumably.

    The key is Encord's SDK's: ENCORD_SSH_KEY_FILE (a path) or ENCORD_SSH_KEY (the key), an Ed25519 key
    registered in Encord; the API is encord.domain (default https://api.encord.com; the US deployment is
    https://api.us.encord.com), or IAC_ENCORD_DOMAIN. Each file's upload job is recorded in
    .iac-register.json beside the files, before it starts and once it has its id: a re-run skips the files
    registered, polls the jobs under way, and submits a file whose submission an earlier run may have
    sent only when its "skip_duplicate_urls": true makes that harmless (else --force). Objects Encord
    refused are listed in register-errors.csv. Needs the extra: pip install 'encord-da-iac[encord]'.

    Exit status 0 when every object is registered, 1 when a file is not (or on bad input), 3 when the
    jobs finished but Encord refused some objects.

    Example: iac manifest register -c iac.yaml --folder scans-2026 --create-folder --jobs 4
    """
    from iac.config.load import load_config
    from iac.files.durations import parse_duration
    from iac.manifest.encord_client import domain as encord_domain
    from iac.manifest.register import files_to_register, register
    from iac.manifest.register_report import Options, Target

    if jobs < 1:
        raise IacError(f"--jobs {jobs}: give the number of files in flight at once, 1 or more")
    wait = parse_duration(timeout, "--timeout")
    if wait <= 0:
        raise IacError(f"--timeout {timeout!r}: give a duration longer than 0, e.g. 30m or 2h")
    locking = parse_duration(lock_timeout)
    settings = None
    if config != DEFAULT_CONFIG or config.exists():
        settings = load_config(config).config.encord
    target = Target(
        domain=encord_domain(settings.domain if settings else None),
        integration=_required(integration, settings.integration if settings else None, "integration", "TITLE"),
        folder=_required(folder, settings.folder if settings else None, "folder", "NAME"),
        dataset=dataset or (settings.dataset if settings else None),
        create_folder=create_folder,
    )
    directory, paths = files_to_register(config.parent / "manifests", files or [])
    ticker = _RegisterProgress() if not as_json and sys.stderr.isatty() else None
    try:
        report = register(
            directory,
            paths,
            target,
            Options(ignore_errors=ignore_errors, jobs=jobs, timeout=wait, force=force),
            progress=progress,
            ticker=ticker,
            lock_timeout=locking,
        )
    finally:
        if ticker is not None:
            ticker.end()
    _print_registered(report, as_json)


def _required(given: str | None, configured: str | None, key: str, metavar: str) -> str:
    chosen = given if given is not None else configured
    if not chosen:
        raise IacError(f"no Encord {key}: set encord.{key} in the config, or give --{key} {metavar}")
    return chosen


class _RegisterProgress(_ProgressLine):
    """The register run's line: files started and finished, units registered and refused."""

    def __call__(self, counts: "RegisterProgress") -> None:  # type: ignore[override]
        line = (
            f"{counts.started}/{counts.files} files submitted, {counts.finished} finished; "
            f"{counts.units_done} objects registered, {counts.units_error} refused"
        )
        sys.stderr.write(f"\r\x1b[K{line}")
        sys.stderr.flush()
        self.shown = True


def _print_registered(report: "RegisterReport", as_json: bool) -> None:
    code = report.exit_code
    problems = [result.message for result in report.failed if result.message]
    refused = report.units_refused
    if refused:
        problems.append(f"Encord refused {plural(refused, 'object')} (units): listed in {report.errors_file}")
    if as_json:
        document: dict[str, object] = {
            "files": [result.to_json() for result in report.files],
            "folder": report.folder,
            "dataset": report.dataset,
        }
        error = "\n".join(printable(problem, lines=True) for problem in problems) if code else None
        print_json(document, code, error or ("not every file was registered: see each file's status" if code else None))
    else:
        for result in report.files:
            refused_here = f", {result.units_error} refused" if result.units_error else ""
            counts = f"{result.units_done} registered{refused_here}"
            job = f" (job {result.job_id})" if result.job_id else ""
            earlier = ", by an earlier run" if result.skipped else ""
            typer.echo(f"  {result.file}: {result.status}{earlier}, {counts}{job}")
        where = f"storage folder {report.folder!r}" + (f", dataset {report.dataset!r}" if report.dataset else "")
        done = sum(result.units_done for result in report.files)
        typer.echo(f"{plural(len(report.files), 'file')} in {printable(where)}: {plural(done, 'object')} registered")
        refusals = [(result.file, unit) for result in report.files for unit in result.unit_errors]
        for file, unit in refusals[:_REFUSALS_SHOWN]:
            # Encord's words and the URLs come from outside: escaped.
            typer.echo(f"  refused: {file}: {printable(', '.join(unit.object_urls))}: {printable(unit.error)}")
        if len(refusals) > _REFUSALS_SHOWN:
            typer.echo(f"  ... and {len(refusals) - _REFUSALS_SHOWN} more in {report.errors_file}")
        for problem in problems:
            typer.echo(f"error: {printable(problem, lines=True)}", err=True)
    if code:
        raise typer.Exit(code)
