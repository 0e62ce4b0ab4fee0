"""The register ledger, `.iac-register.json` beside the registration files: which file went to Encord as which
upload job, in which folder, and how that job ended.

It is written (atomically) before each start, with the file's state "starting", and again once Encord has
answered with the job's id, so a run stopped at any point leaves a record the next run resumes from without
submitting a file twice: a job with an id is polled, never started again; a file left "starting" may or may
not have reached Encord. Like every file iac reads, it is input, not trusted: bounded, and every field checked.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from iac.errors import IacError
from iac.files.atomic import write_atomic
from iac.files.inputs import InputFileError, InputKind, read_input

REGISTER_LEDGER = ".iac-register.json"
ERRORS_FILE = "register-errors.csv"
_VERSION = 1
_MIB = 1024 * 1024
# 64 MiB: a thousand files with a thousand refused units each.
LEDGER_KIND = InputKind(
    "iac's register ledger",
    64 * _MIB,
    "iac writes a few kilobytes a file there: restore it from a backup",
    not_regular="iac writes it as a regular file: restore it from a backup",
)

# A file's state. "starting": written before the start call, so the job may or may not exist. "started": Encord
# answered with the job's id. Then the job's own end: "done", "error", "cancelled". A start Encord answered with
# an error is "rejected" (no job was made: 4xx) or "failed" (no answer, or a server error: a job may exist).
STARTING, STARTED, DONE, ERROR, CANCELLED, REJECTED, FAILED = (
    "starting",
    "started",
    "done",
    "error",
    "cancelled",
    "rejected",
    "failed",
)
STATES = (STARTING, STARTED, DONE, ERROR, CANCELLED, REJECTED, FAILED)
# The job ended: polling it again changes nothing.
FINISHED = (DONE, ERROR, CANCELLED)
# A submission of the file may have reached Encord without its job's id being recorded.
IN_DOUBT = (STARTING, FAILED)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MAX_TEXT = 100_000


class LedgerError(IacError):
    """The register ledger cannot be read or written."""


@dataclass(frozen=True)
class UnitError:
    """One unit Encord refused: its object URLs (several for a DICOM series) and Encord's message."""

    object_urls: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class Entry:
    """What the ledger says of one registration file."""

    sha256: str
    folder: str  # the storage folder's name, as configured
    state: str
    folder_uuid: str | None = None
    job_id: str | None = None
    submissions: int = 0  # how many times a start was sent (or may have been)
    units_pending: int = 0
    units_done: int = 0
    units_error: int = 0
    units_cancelled: int = 0
    unit_errors: tuple[UnitError, ...] = ()
    errors: tuple[str, ...] = ()  # the job's own errors, or why the start failed
    items: tuple[str, ...] = ()  # the storage items the job made (their UUIDs), for linking to a dataset
    linked_to: str | None = None  # the title of the dataset the items were linked to

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["unit_errors"] = [
            {"object_urls": list(unit.object_urls), "error": unit.error} for unit in self.unit_errors
        ]
        document["errors"] = list(self.errors)
        document["items"] = list(self.items)
        return document


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class RegisterLedger:
    """The ledger of one directory: read once, then each change written atomically, one writer at a time."""

    def __init__(self, directory: Path, entries: dict[str, Entry]) -> None:
        self.directory = directory
        self.path = directory / REGISTER_LEDGER
        self._entries = dict(entries)
        self._lock = threading.Lock()

    @classmethod
    def read(cls, directory: Path) -> RegisterLedger:
        """The ledger in `directory` (an empty one when there is none); one that is not iac's is a LedgerError."""
        path = directory / REGISTER_LEDGER
        try:
            text = read_input(path, LEDGER_KIND, follow_symlinks=False).decode("utf-8")
        except FileNotFoundError:
            return cls(directory, {})
        except InputFileError as exc:
            raise LedgerError(f"{path}: cannot read iac's record of the files registered: {exc.reason}") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise LedgerError(f"{path}: cannot read iac's record of the files registered: {reason}") from None
        try:
            return cls(directory, _entries_from(json.loads(text)))
        except ValueError as exc:
            raise LedgerError(
                f"{path}: not a register ledger iac can read ({exc}): it records which files were submitted to "
                "Encord as which upload jobs. Restore it from a backup; without it, every file would be submitted "
                'again (harmless only for files with "skip_duplicate_urls": true)'
            ) from None

    def get(self, name: str) -> Entry | None:
        with self._lock:
            return self._entries.get(name)

    def record(self, name: str, entry: Entry) -> None:
        """Set `name`'s entry and write the ledger, before returning (atomically: the old ledger or the new)."""
        with self._lock:
            self._entries[name] = entry
            content = _ledger_bytes(self._entries)
            try:
                write_atomic(self.path, content)
            except OSError as exc:
                raise LedgerError(
                    f"{self.path}: cannot write iac's record of the files registered: {exc.strerror or exc}"
                ) from None

    def update(self, name: str, **changes: Any) -> Entry:
        entry = self.get(name)
        assert entry is not None, name
        changed = replace(entry, **changes)
        if changed != entry:
            self.record(name, changed)
        return changed

    def __iter__(self) -> Iterator[tuple[str, Entry]]:
        with self._lock:
            return iter(sorted(self._entries.items()))


def _ledger_bytes(entries: dict[str, Entry]) -> bytes:
    document = {
        "about": (
            "The registration files `iac manifest register` submitted to Encord, as which upload jobs. A re-run "
            "polls a job with an id and never starts it again; keep this file while a registration is under way."
        ),
        "version": _VERSION,
        "files": {name: entry.to_json() for name, entry in sorted(entries.items())},
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- reading an untrusted ledger ---------------------------------------------------------------------------------


def _entries_from(document: Any) -> dict[str, Entry]:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("version") != _VERSION:
        raise ValueError(f"version is not {_VERSION}")
    files = document.get("files")
    if not isinstance(files, dict):
        raise ValueError("files is not an object of file names")
    return {_file_name(name): _entry(name, value) for name, value in files.items()}


def _file_name(name: str) -> str:
    if "/" in name or name in ("", ".", "..") or _CONTROL.search(name) or len(name) > 255:
        raise ValueError(f"files holds {name!r}, which is not a file name")
    return name


def _entry(name: str, value: Any) -> Entry:
    where = f"files[{name!r}]"
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not an object")
    unknown = sorted(set(value) - set(Entry.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{where} has unknown fields: {', '.join(map(repr, unknown))}")
    state = _text(value.get("state"), f"{where}.state")
    if state not in STATES:
        raise ValueError(f"{where}.state {state!r} is none of {', '.join(STATES)}")
    sha = _text(value.get("sha256"), f"{where}.sha256")
    if not _SHA256.fullmatch(sha):
        raise ValueError(f"{where}.sha256 is not a SHA-256 in hex")
    entry = Entry(
        sha256=sha,
        folder=_text(value.get("folder"), f"{where}.folder"),
        state=state,
        folder_uuid=_uuid(value.get("folder_uuid"), f"{where}.folder_uuid"),
        job_id=_uuid(value.get("job_id"), f"{where}.job_id"),
        submissions=_count(value.get("submissions", 0), f"{where}.submissions"),
        units_pending=_count(value.get("units_pending", 0), f"{where}.units_pending"),
        units_done=_count(value.get("units_done", 0), f"{where}.units_done"),
        units_error=_count(value.get("units_error", 0), f"{where}.units_error"),
        units_cancelled=_count(value.get("units_cancelled", 0), f"{where}.units_cancelled"),
        unit_errors=tuple(_unit_error(unit, f"{where}.unit_errors") for unit in _list(value, "unit_errors", where)),
        errors=tuple(_text(text, f"{where}.errors", layout=True) for text in _list(value, "errors", where)),
        items=tuple(_uuid_required(item, f"{where}.items") for item in _list(value, "items", where)),
        linked_to=_optional_text(value.get("linked_to"), f"{where}.linked_to"),
    )
    if state in (STARTED, *FINISHED) and entry.job_id is None:
        raise ValueError(f"{where} is {state} without a job_id")
    return entry


def _list(value: dict[str, Any], key: str, where: str) -> list[Any]:
    items = value.get(key, [])
    if not isinstance(items, list):
        raise ValueError(f"{where}.{key} is not a list")
    return items


def _unit_error(value: Any, where: str) -> UnitError:
    if not isinstance(value, dict) or set(value) != {"object_urls", "error"}:
        raise ValueError(f"{where} holds an entry that is not {{object_urls, error}}")
    urls = value["object_urls"]
    if not isinstance(urls, list):
        raise ValueError(f"{where} holds object_urls that are not a list")
    # Encord's words and the URLs are kept as Encord sent them, and escaped where they are shown.
    return UnitError(
        tuple(_text(url, f"{where}.object_urls", layout=True) for url in urls),
        _text(value["error"], f"{where}.error", layout=True),
    )


def _text(value: Any, where: str, *, layout: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} is not text")
    if len(value) > _MAX_TEXT:
        raise ValueError(f"{where} is longer than {_MAX_TEXT} characters")
    if not layout and _CONTROL.search(value):
        raise ValueError(f"{where} holds a control character")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _uuid(value: Any, where: str) -> str | None:
    return None if value is None else _uuid_required(value, where)


def _uuid_required(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise ValueError(f"{where} is not a UUID")
    return value


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9:
        raise ValueError(f"{where} is not a count")
    return value
