"""`iac manifest register`: the registration files into an Encord storage folder, resumably, never twice.

Every file is checked before anything goes to Encord: it is read (bounded), checked against Encord's JSON
format, and compared with the register ledger (`registrations`): a file changed since it was submitted is
refused. Then up to `jobs` files are in flight at once; for each, the ledger is written before the start call
("starting") and after it (the job's id), so a run stopped anywhere is resumed by the next: a job with an id
is polled and never started again, a file left "starting" is submitted again only when its
`"skip_duplicate_urls": true` makes that harmless (or with --force), and a start that failed is never retried
within the run.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from iac.errors import IacError
from iac.files.durations import DEFAULT_LOCK_SECONDS
from iac.files.inputs import REGISTRATION_FILE, InputFileError, read_input
from iac.files.ledger import MANIFEST_GENERATE, read_ledger
from iac.files.locks import locked_output
from iac.manifest.encord_client import Encord, require_key
from iac.manifest.jsoncheck import check_json
from iac.manifest.register_report import Options, Progress, RegisterReport, RegistrationFile, Target
from iac.manifest.register_run import Run, write_errors
from iac.manifest.registrations import REGISTER_LEDGER, REJECTED, RegisterLedger, file_digest
from iac.untrusted import printable

# --- which files, and are they fit to submit -------------------------------------------------------------------


def files_to_register(directory: Path | None, given: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The directory of the ledger and the files: those given (all in one directory), else the JSON files
    `iac manifest generate` recorded in `directory`, in their order."""
    if given:
        parents = {path.parent.resolve() for path in given}
        if len(parents) > 1:
            raise IacError(
                "the files are in several directories: register one directory's files at a time (its "
                f"{REGISTER_LEDGER} records them)"
            )
        names = [path.name for path in given]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise IacError(f"{', '.join(twice)}: given twice")
        return given[0].parent, list(given)
    assert directory is not None
    ledger = read_ledger(directory)
    if ledger is None or ledger.writer != MANIFEST_GENERATE:
        raise IacError(
            f"{directory}: holds no files of `iac manifest generate` (no {directory / '.iac-files'} written by it): "
            "run `iac manifest generate` first, or name the files to register"
        )
    if not ledger.complete:
        raise IacError(
            f"{directory}: the last `iac manifest generate` there did not finish: run it again, then register"
        )
    names = sorted(name for name in ledger.files if name != "skipped.csv")
    csvs = [name for name in names if name.endswith(".csv")]
    if csvs:
        raise IacError(
            f"{directory}: holds CSV registration files ({', '.join(csvs[:3])}{' ...' if len(csvs) > 3 else ''}): "
            "iac registers JSON files; generate them with `iac manifest generate --format json` (or upload the CSV "
            "files in Encord's web app)"
        )
    if not names:
        raise IacError(f"{directory}: `iac manifest generate` wrote no registration file there: nothing to register")
    return directory, [directory / name for name in names]


def read_file(path: Path) -> RegistrationFile:
    """A registration file read (bounded) and checked against Encord's JSON format; any problem an IacError."""
    if path.suffix.lower() != ".json":
        raise IacError(
            f"{path}: iac registers JSON files: generate them with `iac manifest generate --format json` (or upload a "
            "CSV file in Encord's web app)"
        )
    try:
        content = read_input(path, REGISTRATION_FILE)
    except InputFileError as exc:
        raise IacError(str(exc)) from None
    except OSError as exc:
        raise IacError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    text = content[len(codecs.BOM_UTF8) :] if content.startswith(codecs.BOM_UTF8) else content
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise IacError(f"{path}: not UTF-8 text: `iac manifest validate {path}` shows where") from None
    problems = check_json(decoded, str(path), None)
    if problems:
        shown = "; ".join(str(problem) for problem in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise IacError(f"{shown}{more}: fix the file; `iac manifest validate {path}` lists every problem")
    document = json.loads(decoded)
    return RegistrationFile(
        path.name, path, file_digest(content), document, document.get("skip_duplicate_urls") is True
    )


# --- the run ---------------------------------------------------------------------------------------------------


# The options of a run not told otherwise (frozen: one instance serves every call).
DEFAULT_OPTIONS = Options()


def register(
    directory: Path,
    paths: Sequence[Path],
    target: Target,
    options: Options = DEFAULT_OPTIONS,
    *,
    progress: Callable[[str], None] = lambda message: None,
    ticker: Callable[[Progress], None] | None = None,
    lock_timeout: float = DEFAULT_LOCK_SECONDS,
    connect: Callable[[str], Encord] = Encord,
) -> RegisterReport:
    """Register `paths` (files of `directory`, whose register ledger records them) in the storage folder of
    `target`; returns each file's result. IacError before anything is submitted when a file or the ledger is
    unfit, the key is missing, or the integration or folder cannot be found."""
    if options.jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {options.jobs}")
    require_key()
    with locked_output(directory, lock_timeout):
        files = [read_file(path) for path in paths]
        ledger = RegisterLedger.read(directory)
        _refuse_changed(files, ledger, target, options.force)
        run = Run(directory, files, ledger, target, options, progress, ticker, connect)
        results = run.go()
        errors_file = write_errors(directory, results)
        return RegisterReport(directory, tuple(results), target.folder, target.dataset, errors_file)


def _refuse_changed(files: list[RegistrationFile], ledger: RegisterLedger, target: Target, force: bool) -> None:
    """Refuse, before any call, files changed since they were submitted and files registered in another folder."""
    if force:
        return
    problems = []
    for file in files:
        entry = ledger.get(file.name)
        if entry is None or entry.state == REJECTED:
            continue
        if entry.sha256 != file.sha256:
            problems.append(
                f"{file.path}: changed since it was submitted to Encord (job {entry.job_id or 'unknown'}, "
                f"{entry.state}): restore it, or give the new content a new file name; --force submits it as it is"
            )
        elif entry.folder != target.folder:
            problems.append(
                f"{file.path}: submitted to the storage folder {printable(entry.folder)!r} already, not "
                f"{printable(target.folder)!r}: --force submits it to {printable(target.folder)!r} too"
            )
    if problems:
        raise IacError("\n".join(problems))
