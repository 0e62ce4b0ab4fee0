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
import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from iac.errors import IacError
from iac.files.atomic import write_atomic
from iac.files.durations import DEFAULT_LOCK_SECONDS
from iac.files.inputs import REGISTRATION_FILE, InputFileError, read_input
from iac.files.ledger import MANIFEST_GENERATE, read_ledger
from iac.files.locks import locked_output
from iac.manifest.batches import CsvWriter, spreadsheet_safe
from iac.manifest.encord_client import Encord, EncordError, Folder, JobState, require_key
from iac.manifest.jsoncheck import check_json
from iac.manifest.registrations import (
    CANCELLED,
    DONE,
    ERROR,
    ERRORS_FILE,
    FAILED,
    FINISHED,
    IN_DOUBT,
    REGISTER_LEDGER,
    REJECTED,
    STARTED,
    STARTING,
    Entry,
    RegisterLedger,
    UnitError,
    file_digest,
)
from iac.untrusted import printable

# Seconds one long poll may wait for a job to end before iac reports progress and polls again.
POLL_WAIT = 10
# Waits (seconds) after a rate limit or a server error while polling, one per failure in a row; then the run
# stops polling that job (it goes on at Encord: the next run polls it again).
BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_JOB_STATUS = {"DONE": DONE, "ERROR": ERROR, "CANCELLED": CANCELLED}
# What a file's result is, when not its job's own end.
PENDING = "pending"  # the job runs on at Encord: a re-run polls it
HELD = "held"  # not submitted again: it may be at Encord already, and a second submission could duplicate it


@dataclass(frozen=True)
class Target:
    """Where the files go: the API domain, the cloud integration's title, the storage folder's name, and the
    dataset to link the items to (None: none)."""

    domain: str
    integration: str
    folder: str
    dataset: str | None = None
    create_folder: bool = False


@dataclass(frozen=True)
class Options:
    # Encord registers the units it can and reports the others (else one refused unit fails the job).
    ignore_errors: bool = False
    jobs: int = 4  # files in flight
    timeout: float = 3600.0  # seconds to wait for one file's job
    force: bool = False  # submit files again whose earlier submission may have reached Encord, and changed files


@dataclass(frozen=True)
class RegistrationFile:
    name: str
    path: Path
    sha256: str
    document: dict[str, Any]
    skip_duplicates: bool


@dataclass(frozen=True)
class FileResult:
    file: str
    status: str  # done, error, cancelled (the job's end); pending, failed, rejected, held
    job_id: str | None = None
    units_done: int = 0
    units_error: int = 0
    unit_errors: tuple[UnitError, ...] = ()
    message: str | None = None  # why it is not done, or what was done about it
    skipped: bool = False  # registered by an earlier run

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "job_id": self.job_id,
            "status": self.status,
            "units_done": self.units_done,
            "units_error": self.units_error,
        }


@dataclass(frozen=True)
class RegisterReport:
    directory: Path
    files: tuple[FileResult, ...]
    folder: str
    dataset: str | None
    errors_file: Path | None  # where the refused units are listed, if any

    @property
    def failed(self) -> tuple[FileResult, ...]:
        """The files not registered: a start that failed, a job not finished or cancelled, one not linked."""
        return tuple(
            result
            for result in self.files
            if result.status not in (DONE, ERROR)
            or (result.status == ERROR and not result.unit_errors)
            or (result.message is not None and result.status in (DONE, ERROR) and not result.skipped)
        )

    @property
    def units_refused(self) -> int:
        return sum(len(result.unit_errors) for result in self.files)

    @property
    def exit_code(self) -> int:
        """0 every unit registered; 1 a file not registered; 3 the jobs finished but some units were refused."""
        if self.failed:
            return 1
        return 3 if self.units_refused else 0


@dataclass
class Progress:
    """How far a run is, for the progress line."""

    files: int
    started: int = 0
    finished: int = 0
    units_done: int = 0
    units_error: int = 0


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


def register(
    directory: Path,
    paths: Sequence[Path],
    target: Target,
    options: Options = Options(),
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
        run = _Run(directory, files, ledger, target, options, progress, ticker, connect)
        results = run.go()
        errors_file = _write_errors(directory, results)
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


class _Run:
    """One run: what each file needs (nothing, a poll, a start), then the files in flight, `jobs` at a time."""

    def __init__(
        self,
        directory: Path,
        files: list[RegistrationFile],
        ledger: RegisterLedger,
        target: Target,
        options: Options,
        progress: Callable[[str], None],
        ticker: Callable[[Progress], None] | None,
        connect: Callable[[str], Encord],
    ) -> None:
        self.directory, self.files, self.ledger, self.target, self.options = directory, files, ledger, target, options
        self.progress, self.ticker, self.connect = progress, ticker, connect
        self.counts = Progress(len(files))
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._encord: Encord | None = None
        self._folders: dict[str, Folder] = {}
        self._folder: Folder | None = None  # the target folder, found when a file is to be started
        self._integration: str | None = None
        self._dataset: tuple[Any, str] | None = None

    # What each file needs, decided before any call.
    def go(self) -> list[FileResult]:
        results: dict[str, FileResult] = {}
        work: list[tuple[RegistrationFile, bool]] = []  # (file, start it)
        for file in self.files:
            entry = self.ledger.get(file.name)
            outcome = self._decide(file, entry)
            if isinstance(outcome, FileResult):
                results[file.name] = outcome
            else:
                work.append((file, outcome))
        linking = self.target.dataset is not None and any(
            result.status in FINISHED and self._unlinked(result.file) for result in results.values()
        )
        if work or linking:
            self._prepare(starts=any(start for _, start in work))
        for name, result in list(results.items()):
            if result.status in FINISHED and self._unlinked(name):
                results[name] = self._link(name, result)
        self._tick()
        if work:
            results.update(self._in_flight(work))
        return [results[file.name] for file in self.files]

    def _decide(self, file: RegistrationFile, entry: Entry | None) -> FileResult | bool:
        """A result for a file that needs no call, else whether it must be started (False: polled)."""
        if entry is None or entry.state == REJECTED:
            return True  # new, or refused outright before (no job was made)
        if entry.sha256 != file.sha256 or entry.folder != self.target.folder:
            return True  # changed, or for another folder: --force (_refuse_changed let it through)
        if entry.state in FINISHED:
            refused = entry.state != DONE or entry.unit_errors
            if self.options.force and refused:
                self.progress(f"{file.name}: its job {entry.job_id} ended {entry.state}: submitting it again (--force)")
                return True
            return _result(file.name, entry, skipped=True)
        if entry.state == STARTED:
            return False
        assert entry.state in IN_DOUBT
        doubt = (
            "an earlier run stopped while submitting it"
            if entry.state == STARTING
            else "its earlier submission got no clear answer"
        )
        if file.skip_duplicates:
            self.progress(
                f"{file.name}: {doubt}, so Encord may have it already: submitting it again, which its "
                '"skip_duplicate_urls": true makes harmless'
            )
            return True
        if self.options.force:
            self.progress(f"{file.name}: {doubt}: submitting it again (--force)")
            return True
        return FileResult(
            file.name,
            HELD,
            message=(
                f'{file.name}: {doubt}, so Encord may have it already, and it has no "skip_duplicate_urls": true: '
                "a second submission could register its objects twice. Check the storage folder in Encord, then "
                "run again with --force to submit it anyway"
            ),
        )

    def _prepare(self, *, starts: bool) -> None:
        """Sign in; find the integration and the folder when a file is to be started. Errors stop the run."""
        self._encord = self.connect(self.target.domain)
        if starts:
            self._integration = self._retrying(
                "looking up the cloud integration", lambda: self.encord.integration(self.target.integration)
            )
            folder, made = self._retrying(
                "looking up the storage folder",
                lambda: self.encord.folder(self.target.folder, create=self.target.create_folder),
            )
            if made:
                self.progress(f"created the storage folder {printable(folder.name)!r}")
            self._folders[folder.uuid] = folder
            self._folder = folder

    @property
    def encord(self) -> Encord:
        assert self._encord is not None
        return self._encord

    def _retrying(self, doing: str, call: Callable[[], Any]) -> Any:
        """`call()`, tried again after a rate limit or a server error (BACKOFF); other errors at once."""
        for attempt in range(len(BACKOFF) + 1):
            try:
                return call()
            except EncordError as exc:
                if not exc.transient or attempt == len(BACKOFF) or self.stop.is_set():
                    raise
                self.progress(f"{doing}: {exc}; trying again in {BACKOFF[attempt]:g}s")
                self.stop.wait(BACKOFF[attempt])
        raise AssertionError("unreachable")

    # The files in flight.
    def _in_flight(self, work: list[tuple[RegistrationFile, bool]]) -> dict[str, FileResult]:
        pool = ThreadPoolExecutor(max_workers=self.options.jobs, thread_name_prefix="iac-register")
        futures = {file.name: pool.submit(self._one, file, start) for file, start in work}
        try:
            pending = set(futures.values())
            while pending:
                _, pending = wait(pending, timeout=0.5)
        except BaseException:
            # Ctrl-C: no new start; jobs in flight go on at Encord, recorded, and the next run polls them.
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return {name: future.result() for name, future in futures.items()}

    def _one(self, file: RegistrationFile, start: bool) -> FileResult:
        if self.stop.is_set():
            return FileResult(file.name, PENDING, message=f"{file.name}: not submitted: the run was stopped")
        entry = self.ledger.get(file.name)
        if start:
            started = self._start(file, entry)
            if isinstance(started, FileResult):
                return started
            entry = started
        assert entry is not None and entry.job_id is not None
        return self._poll(file.name, entry)

    def _start(self, file: RegistrationFile, earlier: Entry | None) -> Entry | FileResult:
        folder = self._folder
        assert folder is not None and self._integration is not None
        submissions = (earlier.submissions if earlier is not None and earlier.sha256 == file.sha256 else 0) + 1
        # Written before the call: if the process dies after Encord accepts the job and before its id is
        # recorded, the next run knows the file may be at Encord.
        entry = Entry(file.sha256, self.target.folder, STARTING, folder_uuid=folder.uuid, submissions=submissions)
        self.ledger.record(file.name, entry)
        with self.lock:
            self.counts.started += 1
        self._tick()
        try:
            job_id = self.encord.start(folder, self._integration, file.document, self.options.ignore_errors)
        except Exception as exc:
            error = self.encord.error(f"{file.name}: submitting it", exc)
            state = REJECTED if error.rejected else FAILED
            self.ledger.update(file.name, state=state, errors=(str(error),))
            return FileResult(file.name, state, message=str(error))
        return self.ledger.update(file.name, state=STARTED, job_id=job_id)

    def _folder_of(self, entry: Entry) -> Folder:
        uuid = entry.folder_uuid
        if uuid is None:
            raise IacError(f"the ledger records job {entry.job_id} without its folder: cannot poll it")
        with self.lock:
            known = self._folders.get(uuid)
        if known is None:
            known = self._retrying("reading the storage folder", lambda: self.encord.folder_by_uuid(uuid))
            with self.lock:
                self._folders[uuid] = known
        return known

    def _poll(self, name: str, entry: Entry) -> FileResult:
        job_id = entry.job_id
        assert job_id is not None
        try:
            folder = self._folder_of(entry)
        except IacError as exc:
            return _result(name, entry, status=PENDING, message=f"{name}: job {job_id}: {exc}; run again to poll it")
        deadline = time.monotonic() + self.options.timeout
        failures = 0
        shown = (0, 0)
        while True:
            if self.stop.is_set():
                return _result(name, entry, status=PENDING, message=f"{name}: job {job_id}: the run was stopped")
            left = deadline - time.monotonic()
            try:
                state = self.encord.state(folder, job_id, int(min(POLL_WAIT, max(1.0, left))))
            except Exception as exc:
                error = self.encord.error(f"{name}: polling job {job_id}", exc)
                if not error.transient or failures == len(BACKOFF):
                    then = "the job goes on at Encord: run again" if error.transient else "fix that, then run again"
                    message = f"{error}; {then} to poll it (it is not submitted again)"
                    return _result(name, entry, status=PENDING, message=message)
                self.progress(f"{error}; polling again in {BACKOFF[failures]:g}s")
                self.stop.wait(BACKOFF[failures])
                failures += 1
                continue
            failures = 0
            entry = self._record_state(name, entry, state)
            now = (state.units_done, state.units_error)
            if now != shown:
                with self.lock:
                    self.counts.units_done += now[0] - shown[0]
                    self.counts.units_error += now[1] - shown[1]
                shown = now
                self._tick()
            if entry.state in FINISHED:
                with self.lock:
                    self.counts.finished += 1
                self._tick()
                result = _result(name, entry)
                return self._link(name, result) if self._unlinked(name) else result
            if time.monotonic() >= deadline:
                message = (
                    f"{name}: job {job_id} still running after {self.options.timeout:g}s (--timeout): it goes on at "
                    "Encord; run again to keep waiting (it is not submitted again)"
                )
                return _result(name, entry, status=PENDING, message=message)

    def _record_state(self, name: str, entry: Entry, state: JobState) -> Entry:
        """The entry with the job's counts; recorded in the ledger once the job has ended (the counts of a job
        under way are for the progress line: a ledger rewritten at every poll would cost more than it tells)."""
        counts: dict[str, Any] = {
            "units_pending": state.units_pending,
            "units_done": state.units_done,
            "units_error": state.units_error,
            "units_cancelled": state.units_cancelled,
        }
        status = _JOB_STATUS.get(state.status)
        if status is None:
            return replace(entry, **counts)
        # The items are kept only until they are linked to the dataset: a million items would make a
        # ledger rewritten after every job large.
        items = state.items if self.target.dataset is not None else ()
        return self.ledger.update(
            name, state=status, unit_errors=state.unit_errors, errors=state.errors, items=items, **counts
        )

    # The dataset.
    def _unlinked(self, name: str) -> bool:
        entry = self.ledger.get(name)
        return (
            self.target.dataset is not None
            and entry is not None
            and bool(entry.items)
            and entry.linked_to != self.target.dataset
        )

    def _link(self, name: str, result: FileResult) -> FileResult:
        title = self.target.dataset
        assert title is not None
        try:
            with self.lock:
                if self._dataset is None:
                    sdk, dataset_id, made = self._retrying("looking up the dataset", lambda: self.encord.dataset(title))
                    if made:
                        self.progress(f"created the dataset {printable(title)!r}")
                    self._dataset = (sdk, dataset_id)
            sdk = self._dataset[0]
            entry = self.ledger.get(name)
            assert entry is not None
            self._retrying("linking the items", lambda: self.encord.link(sdk, entry.items))
        except IacError as exc:
            message = f"{name}: registered, but not linked to the dataset: {exc}; run again to link it"
            return FileResult(**{**result.__dict__, "message": message, "skipped": False})
        self.ledger.update(name, linked_to=title, items=())
        return result

    def _tick(self) -> None:
        if self.ticker is not None:
            with self.lock:
                counts = Progress(**self.counts.__dict__)
            self.ticker(counts)


def _result(
    name: str, entry: Entry, *, status: str | None = None, message: str | None = None, skipped: bool = False
) -> FileResult:
    status = status or entry.state
    if status == ERROR and not entry.unit_errors and message is None:
        said = "; ".join(printable(error) for error in entry.errors[:3]) or "no reason given"
        message = f"{name}: job {entry.job_id} failed at Encord: {said}"
    if status == CANCELLED and message is None:
        message = f"{name}: job {entry.job_id} was cancelled in Encord; --force submits the file again"
    return FileResult(
        name,
        status,
        job_id=entry.job_id,
        units_done=entry.units_done,
        units_error=entry.units_error,
        unit_errors=entry.unit_errors,
        message=message,
        skipped=skipped,
    )


# --- the errors file -------------------------------------------------------------------------------------------


def _write_errors(directory: Path, results: list[FileResult]) -> Path | None:
    """Every unit Encord refused, one object URL a row, in `register-errors.csv` (a report people open in a
    spreadsheet: escaped, and no cell a formula); an earlier one is removed when none was refused."""
    path = directory / ERRORS_FILE
    rows = [
        (result.file, url, unit.error)
        for result in results
        for unit in result.unit_errors
        for url in (unit.object_urls or ("",))
    ]
    if not rows:
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and not path.is_symlink():
                os.unlink(path)
        return None
    text = io.StringIO()
    writer = CsvWriter(text)
    writer.writerow(["file", "object_url", "error"])
    for row in rows:
        writer.writerow([spreadsheet_safe(printable(cell)) for cell in row])
    try:
        write_atomic(path, text.getvalue().encode("utf-8"))
    except OSError as exc:
        raise IacError(f"{path}: cannot write the list of refused units: {exc.strerror or exc}") from None
    return path
