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
    LockTimeoutOption,
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

app = command_group(
    "Encord registration files: generate the upload JSON/CSV for the Direct Access bucket, "
    "or validate one written by hand.",
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
    lock_timeout: LockTimeoutOption = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """List the Direct Access bucket and write registration files whose objectUrls use the domain.

    Files are batched as Encord recommends (at most 1,000 images or 100 videos per JSON file,
    10,000 rows per CSV file); DICOM files of one folder form one series. Objects Encord cannot take
    are listed in skipped.csv with the reason. Files of an earlier run that no longer belong are
    removed; a run that failed half way is completed by the next. Under --strict-metadata, N objects
    are read at a time (--jobs), and a progress line is shown on a terminal.

    Example: iac manifest generate -c iac.yaml --prefix scans/ --kind dicom -o manifests/
    """
    from iac.config import load_config
    from iac.files import Deployment, parse_duration
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
        from iac.config import load_config

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
