"""Atomic file writing: a reader, or a crash, sees the old content or the new, never half of either; and
the ledger of the files each iac command wrote in an output directory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iac.errors import IacError

if TYPE_CHECKING:
    from iac.config import Config

# The ledger of an output directory: which iac command wrote which of its files, and for which deployment.
# A command replaces only its own files, removes only its own stale ones, and refuses a directory that
# another command or another deployment writes to; what Terraform or the user keep beside them
# (.terraform/, local state, plan files) is never touched.
LEDGER = ".iac-files"
# Where a run stages its files before renaming them into place; the next run removes what an interrupted
# one left there.
STAGING = ".iac-staging"

# The commands that write output directories, as the ledger and the messages name them (`iac <writer>`).
RENDER = "render"  # also `iac plan` and `iac apply`, which render first
CORS_RENDER = "cors render"
MANIFEST_GENERATE = "manifest generate"
_CONTENTS = {
    RENDER: "the rendered files",
    CORS_RENDER: "the rendered files",
    MANIFEST_GENERATE: "the registration files",
}

# Called with a label after each step that changes an output directory (a file staged, renamed into place
# or removed, a ledger written). None in use; the tests set it to kill a run at every step.
after_step: Callable[[str], None] | None = None


class OutputError(IacError):
    """The output directory cannot be written as asked."""


def _step(label: str) -> None:
    hook = after_step
    if hook is not None:
        hook(label)


def _stage(target: Path, content: bytes, mode: int = 0o644) -> Path:
    """Write `content` durably to a new temporary file beside `target`; the caller renames it into place."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(mode)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Write `content` to `path` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _stage(path, content, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Deployment:
    """The deployment a directory's files belong to: the config's project and name."""

    project: str
    name: str

    @classmethod
    def of(cls, config: Config) -> Deployment:
        return cls(config.project, config.name)

    def __str__(self) -> str:
        return f"{self.name} of project {self.project}"


@dataclass(frozen=True)
class Ledger:
    """What `.iac-files` says: the command that writes the directory, for which deployment, and its files.

    `complete` is False from the moment a run starts replacing files until it is done: `files` then lists
    everything that run and the earlier ones may have left, all of it iac's, for the next run to settle.
    """

    writer: str | None  # None: a plain list of an earlier version that names no command
    deployment: Deployment | None
    files: frozenset[str]
    complete: bool = True


def read_ledger(directory: Path) -> Ledger | None:
    """The ledger of `directory`; None when there is none. One iac cannot read is an OutputError."""
    path = directory / LEDGER
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(f"{path}: cannot read iac's list of the files it wrote here: {_reason(exc)}") from None
    if not text.lstrip().startswith("{"):
        return _plain_list(text)
    try:
        return _ledger_from(json.loads(text))
    except ValueError as exc:
        raise OutputError(
            f"{path}: not a list of files iac can read ({exc}): it records which files iac wrote in "
            f"{directory}; restore it, or write to another directory with -o DIR"
        ) from None


def written_by(directory: Path, writer: str) -> frozenset[str]:
    """The files `iac <writer>` wrote in `directory`, by its ledger: none when another command writes there
    or the ledger is missing or unreadable."""
    try:
        ledger = read_ledger(directory)
    except OutputError:
        return frozenset()
    return ledger.files if ledger is not None and ledger.writer == writer else frozenset()


def _plain_list(text: str) -> Ledger:
    """The format of earlier versions: one name a line, under a `#` comment naming the command."""
    lines = text.splitlines()
    header = " ".join(line for line in lines if line.startswith("#"))
    files = _trusted(line for line in lines if line and not line.startswith("#"))
    writer: str | None = None
    if "iac manifest generate" in header:
        writer = MANIFEST_GENERATE
    elif "main.tf" in files:
        writer = RENDER
    elif files:
        writer = CORS_RENDER  # which wrote the same comment as `iac render`, but never a main.tf
    return Ledger(writer, None, files)


def _ledger_from(document: Any) -> Ledger:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    writer = document.get("writer")
    if not isinstance(writer, str) or not writer:
        raise ValueError("no writer")
    recorded = document.get("deployment")
    deployment = None
    if recorded is not None:
        if not isinstance(recorded, dict) or not all(isinstance(recorded.get(k), str) for k in ("project", "name")):
            raise ValueError("deployment is not a project and a name")
        deployment = Deployment(recorded["project"], recorded["name"])
    files = document.get("files")
    if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
        raise ValueError("files is not a list of names")
    complete = document.get("complete", True)
    if not isinstance(complete, bool):
        raise ValueError("complete is not true or false")
    return Ledger(writer, deployment, _trusted(files), complete)


def _ledger_bytes(writer: str, deployment: Deployment | None, files: Iterable[str], complete: bool) -> bytes:
    document = {
        "about": (
            f"The files `iac {writer}` wrote in this directory: it replaces them and removes those that no "
            "longer belong. Other iac commands and other deployments refuse this directory."
        ),
        "writer": writer,
        "deployment": None if deployment is None else {"project": deployment.project, "name": deployment.name},
        "complete": complete,
        "files": sorted(set(files)),
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _trusted(names: Iterable[str]) -> frozenset[str]:
    # A ledger is only ever trusted to name files below the output directory, and never iac's own.
    return frozenset(name for name in names if _inside(name) and Path(name).parts[0] not in (LEDGER, STAGING))


def _inside(name: str) -> bool:
    path = Path(name)
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def check_output_directory(directory: Path) -> None:
    """Refuse an output path that cannot be a directory: a file, or a symlink to nothing (mkdir would only
    say "File exists"), the path itself or a directory on the way to it."""
    path = directory
    while not path.exists():
        if path.is_symlink():
            on_the_way = "" if path == directory else f"{path} "
            raise OutputError(
                f"{directory}: {on_the_way}is a symlink to {os.readlink(path)}, which does not exist: create it "
                "or choose another directory with -o DIR"
            )
        if path.parent == path:
            break
        path = path.parent
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory}: exists and is not a directory: choose another output with -o DIR")


@dataclass(frozen=True)
class StagedLedger:
    content: bytes
    path: Path
    complete: bool


class OutputDirectory:
    """One run of one command writing into an output directory, through its ledger.

    Making one checks the directory and who owns it, and creates nothing. `open` creates the directory and
    an empty staging area (dropping what an interrupted run left there); `stage` writes a file's content
    there; `commit` renames staged files into place once the ledger lists them, with everything iac wrote
    here before, as an incomplete run's; `finish` removes this command's stale files and writes the final
    ledger. Stopped at any point, the directory holds nothing but files the ledger names as this command's
    (and staging leftovers), so the next run of the command completes or rolls back this one.
    """

    def __init__(self, directory: Path, writer: str, deployment: Deployment | None = None) -> None:
        check_output_directory(directory)
        ledger = read_ledger(directory)
        if ledger is not None:
            _check_owner(directory, ledger, writer, deployment)
        self.directory = directory
        self.writer = writer
        self.deployment = deployment
        self.owned: frozenset[str] = ledger.files if ledger is not None else frozenset()
        self._recorded = set(self.owned)
        self._ledger_written = False
        self._created: list[Path] = []

    @property
    def staging(self) -> Path:
        return self.directory / STAGING

    @property
    def changed(self) -> bool:
        """Whether this run has changed the directory (beyond its staging area)."""
        return self._ledger_written

    def refuse_foreign(self, names: Iterable[str]) -> None:
        """Refuse to replace files iac did not write (the ledger does not list them)."""
        foreign = sorted(name for name in names if name not in self.owned and os.path.lexists(self.directory / name))
        if foreign:
            listing = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(
                f"{self.directory}: would overwrite files iac did not write ({listing}): choose an empty "
                f"directory or one `iac {self.writer}` wrote (-o DIR), or move these files away"
            )

    def open(self) -> None:
        """Create the directory if needed, and an empty staging area in it."""
        try:
            _make_dirs(self.directory, self._created)
            _remove(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            self.abandon()
            raise OutputError(f"{self.directory}: cannot write here: {_reason(exc)}") from None

    def stage(self, name: str, content: bytes, mode: int = 0o644) -> Path:
        """Write `content` durably into the staging area; `commit` moves it to `name`."""
        with self._writing():
            staged = _stage(self.staging / Path(name).name, content, mode)
        _step(f"stage {name}")
        return staged

    def stage_ledger(self, files: Iterable[str]) -> StagedLedger:
        """Stage the final ledger for `files`, so that `finish` has nothing left to write."""
        content = _ledger_bytes(self.writer, self.deployment, files, complete=True)
        with self._writing():
            return StagedLedger(content, _stage(self.staging / LEDGER, content), complete=True)

    def commit(self, staged: Mapping[str, Path]) -> None:
        """Rename staged files (name -> staged path) into place, once the ledger records them."""
        if not staged:
            return
        content = _ledger_bytes(self.writer, self.deployment, self._recorded | set(staged), complete=False)
        with self._writing():
            self._replace_ledger(StagedLedger(content, _stage(self.staging / LEDGER, content), complete=False))
            self._recorded.update(staged)
            for name, path in staged.items():
                target = self.directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                _step(f"rename {name}")

    def finish(self, files: Iterable[str], ledger: StagedLedger | None = None) -> list[str]:
        """Make `files` all the directory holds of this command's: remove the others it wrote (returned),
        put the final ledger (`ledger`, staged beforehand, or staged now) in place and remove the staging area."""
        keep = set(files)
        if ledger is None:
            ledger = self.stage_ledger(keep)
        removed = []
        with self._writing():
            for name in sorted(self._recorded - keep):
                path = self.directory / name
                try:
                    path.unlink()
                except (FileNotFoundError, IsADirectoryError):
                    continue
                removed.append(name)
                _remove_empty_parents(path.parent, self.directory)
                _step(f"remove {name}")
            self._recorded = keep
            self._replace_ledger(ledger)
            _remove(self.staging)
        return removed

    def abandon(self) -> None:
        """After a failure: drop the staging area, and the directories `open` made when nothing was written.
        Files already committed stay, listed in the (incomplete) ledger, for the next run to settle."""
        with contextlib.suppress(OSError):
            _remove(self.staging)
        if not self.changed:
            for directory in reversed(self._created):
                with contextlib.suppress(OSError):
                    directory.rmdir()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            what = _CONTENTS.get(self.writer, "the files")
            again = "; run the command again to complete the change" if self.changed else ""
            raise OutputError(
                f"{self.directory}: cannot write {what}: {_reason(exc)} ({exc.filename}){again}"
            ) from None

    def _replace_ledger(self, staged: StagedLedger) -> None:
        path = self.directory / LEDGER
        with contextlib.suppress(OSError):
            if path.read_bytes() == staged.content:
                staged.path.unlink()
                return
        os.replace(staged.path, path)
        self._ledger_written = True
        _step("ledger" if staged.complete else "ledger (incomplete)")


def _check_owner(directory: Path, ledger: Ledger, writer: str, deployment: Deployment | None) -> None:
    if ledger.writer is not None and ledger.writer != writer:
        raise OutputError(
            f"{directory}: holds the files of `iac {ledger.writer}` (listed in {directory / LEDGER}), which "
            f"`iac {writer}` would replace or remove: choose another directory with -o DIR"
        )
    if deployment is not None and ledger.deployment is not None and ledger.deployment != deployment:
        raise OutputError(
            f"{directory}: holds the files `iac {ledger.writer}` wrote for deployment {ledger.deployment}, "
            f"not for this config's deployment {deployment}: writing here would replace the other deployment's "
            "files (and a plan here would destroy its resources): choose another directory with -o DIR"
        )


def write_tree(
    out_dir: Path, files: Mapping[str, bytes], writer: str = RENDER, deployment: Deployment | None = None
) -> list[str]:
    """Make `out_dir` hold exactly `files` among the files `iac <writer>` wrote there; returns the stale
    files removed.

    All content, the final ledger included, is staged first: a failure while staging (an OutputError)
    leaves the directory as it was. Then the files are committed through the ledger (see OutputDirectory),
    so that a run stopped at any point is completed or rolled back by the next. Files iac did not write
    are refused, not overwritten, and never removed.
    """
    output = OutputDirectory(out_dir, writer, deployment)
    output.refuse_foreign(files)
    output.open()
    try:
        staged = {
            name: output.stage(name, content) for name, content in files.items() if not _holds(out_dir / name, content)
        }
        ledger = output.stage_ledger(files)
        output.commit(staged)
        return output.finish(files, ledger)
    except BaseException:
        output.abandon()
        raise


def differences(
    out_dir: Path, files: Mapping[str, bytes], writer: str = RENDER, deployment: Deployment | None = None
) -> list[str]:
    """What `write_tree(out_dir, files, writer, deployment)` would change, one line per file; [] when nothing.

    Reads only. A directory another command or deployment owns is the OutputError `write_tree` would raise.
    """
    ledger = read_ledger(out_dir) if out_dir.is_dir() else None
    if ledger is None:
        where = "does not exist" if not out_dir.exists() else f"has no {LEDGER}"
        return [f"{out_dir}/ {where}: nothing rendered there yet"]
    _check_owner(out_dir, ledger, writer, deployment)
    found = []
    for name, content in files.items():
        path = out_dir / name
        if not os.path.lexists(path):
            found.append(f"{name}: missing")
        elif name not in ledger.files:
            found.append(f"{name}: not written by iac (rendering would refuse to replace it)")
        elif not _holds(path, content):
            found.append(f"{name}: differs")
    for name in sorted(ledger.files - set(files)):
        if os.path.lexists(out_dir / name):
            found.append(f"{name}: no longer rendered (rendering would remove it)")
    try:
        recorded = (out_dir / LEDGER).read_bytes()
    except OSError:
        recorded = b""
    if recorded != _ledger_bytes(writer, deployment, files, complete=True):
        state = "an interrupted run left it incomplete" if not ledger.complete else "differs"
        found.append(f"{LEDGER}: {state}")
    return found


def _holds(path: Path, content: bytes) -> bool:
    return not path.is_symlink() and path.is_file() and path.read_bytes() == content


def _remove(path: Path) -> None:
    """Remove a file or a whole directory tree (a symlink itself, never what it points to); no error if absent."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _make_dirs(directory: Path, created: list[Path]) -> None:
    """mkdir -p that records the directories it made, so a failed run can remove them again."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _remove_empty_parents(directory: Path, top: Path) -> None:
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str, option: str = "--lock-timeout", *, days: bool = False) -> float:
    """Seconds in a Terraform-style duration (`300s`, `5m`, `1m30s`, `0s`); a bad one names the option.

    `days` also takes `d` (`7d`, `1d12h`): not for a duration handed to Terraform, which has no days."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value or (not days and "d" in value):
        example = "24h, 7d or 1d12h" if days else "300s, 5m or 1m30s"
        raise IacError(f"{option} {text!r}: not a duration; write a number with a unit, e.g. {example}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def lock_path(path: Path) -> Path:
    """The lock file kept beside a config file: `.iac.yaml.lock` for `iac.yaml`."""
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of `path`, waiting up to `timeout` seconds.

    The lock is an `fcntl` lock on a lock file beside `path`, which stays there (deleting it would let
    two writers lock two different files). The kernel drops the lock when the process ends, however it ends.
    """
    import fcntl

    lock_file = lock_path(path)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise IacError(
            f"{lock_file}: cannot create the lock file that keeps two edits of {path} apart: {exc.strerror}"
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IacError(
                        f"{path}: another iac command is editing this file (lock {lock_file} held for "
                        f"{timeout:g}s): nothing was changed; run again when it has finished, or wait longer "
                        "with --lock-timeout"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
