"""What `iac manifest register` is asked (the target folder, the options) and what it reports: each file's
result, the run's progress."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.manifest.registrations import DONE, ERROR, UnitError

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
