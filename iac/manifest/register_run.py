"""One `iac manifest register` run: what each file needs (nothing, a poll, a start), then the files in flight,
`jobs` at a time, the ledger written before and after each start; and the errors file of the units Encord refused."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from iac.errors import IacError
from iac.files.atomic import write_atomic
from iac.manifest.batches import CsvWriter, spreadsheet_safe
from iac.manifest.encord_client import Encord, EncordError, Folder, JobState
from iac.manifest.register_report import HELD, PENDING, FileResult, Options, Progress, RegistrationFile, Target
from iac.manifest.registrations import (
    CANCELLED,
    DONE,
    ERROR,
    ERRORS_FILE,
    FAILED,
    FINISHED,
    IN_DOUBT,
    REJECTED,
    STARTED,
    STARTING,
    Entry,
    RegisterLedger,
)
from iac.untrusted import printable

# Seconds one long poll may wait for a job to end before iac reports progress and polls again.
POLL_WAIT = 10
# Waits (seconds) after a rate limit or a server error while polling, one per failure in a row; then the run
# stops polling that job (it goes on at Encord: the next run polls it again).
BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
_JOB_STATUS = {"DONE": DONE, "ERROR": ERROR, "CANCELLED": CANCELLED}


class Run:
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


def write_errors(directory: Path, results: list[FileResult]) -> Path | None:
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
