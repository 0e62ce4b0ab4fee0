"""Atomic file writing: a reader, or a crash, sees the old content or the new, never half of either; the
ledger of the files each iac command wrote in an output directory; the locks that keep two iac commands
from editing one config or writing one output directory at once; and bounded reading of the files iac
takes as input (regular files only, each kind with a cap)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from iac.defaults import DEFAULT_LOCK_TIMEOUT
from iac.errors import ConfigError, IacError


class _Deployed(Protocol):
    """What names a deployment (the config's `project` and `name`)."""

    @property
    def project(self) -> str: ...

    @property
    def name(self) -> str: ...


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


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(d|h|ms|m|s)")  # ASCII digits only (\d is any script's)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_DURATION = 366 * 86400.0  # seconds: a year is longer than any wait iac does


def parse_duration(text: str, option: str = "--lock-timeout", *, days: bool = False) -> float:
    """Seconds in a Terraform-style duration (`300s`, `5m`, `1m30s`, `0s`) of at most MAX_DURATION; a bad one
    names the option.

    `days` also takes `d` (`7d`, `1d12h`): not for a duration handed to Terraform, which has no days."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value or (not days and "d" in value):
        example = "24h, 7d or 1d12h" if days else "300s, 5m or 1m30s"
        raise IacError(f"{option} {text!r}: not a duration; write a number with a unit, e.g. {example}")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds > MAX_DURATION:
        most = "366d" if days else f"{MAX_DURATION / 3600:.0f}h"
        raise IacError(f"{option} {text!r}: too long; at most {most}")
    return seconds


# How long a command waits for a lock unless told (--lock-timeout): Terraform's default, in seconds.
DEFAULT_LOCK_SECONDS = parse_duration(DEFAULT_LOCK_TIMEOUT)


# --- reading input ------------------------------------------------------------------------------------

_MIB = 1024 * 1024


@dataclass(frozen=True)
class InputKind:
    """A kind of file iac reads, and the most of it that it reads: a file larger than `limit` bytes is
    refused, not read (a device, a FIFO or a sparse file would otherwise fill the memory)."""

    noun: str  # with its article, as messages name it: "a config file"
    limit: int
    too_large: str  # what to do with a larger one
    not_regular: str = ""  # what to do instead of giving something else than a regular file

    @property
    def limit_text(self) -> str:
        return f"{self.limit // _MIB} MiB"


# A 20,000-entry allowlist with a comment on every line is about 1 MiB.
CONFIG_FILE = InputKind("a config file", 16 * _MIB, "is it the right file? A config is a few kilobytes")
# A ledger names one file a line: 64 MiB is a million batch files of `iac manifest generate`.
LEDGER_FILE = InputKind(
    "an output directory's ledger",
    64 * _MIB,
    "iac writes only file names there: remove it, or write to another directory with -o DIR",
    not_regular="iac writes it as a regular file: remove it, or write to another directory with -o DIR",
)
# Encord recommends at most 1,000 images or 100 videos per registration file: a few MiB.
REGISTRATION_FILE = InputKind(
    "a registration file", 256 * _MIB, "split it into several files (iac manifest generate writes batches)"
)
# main.tf of a 20,000-range allowlist is about 1 MiB.
RENDERED_FILE = InputKind("a rendered file", 64 * _MIB, "iac does not write one that large: render afresh")
ADDRESS_LIST = InputKind(
    "a list of addresses",
    16 * _MIB,
    "a list of the most Cloud Armor allows is under 1 MiB: is it the right file?",
    not_regular="pass the output of a command on stdin instead: `cmd | iac allowlist set --from -`",
)

_FILE_TYPES = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(path: Path) -> str | None:
    """What `path` (symlinks followed) is when it exists and is not a regular file: "a directory", "a FIFO
    (named pipe)", ...; None for a regular file or nothing there."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    return next((name for test, name in _FILE_TYPES if test(mode)), "not a file")


class InputFileError(IacError):
    """A file iac reads as input is not a regular file, or is larger than the cap of its kind."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_input(path: Path, kind: InputKind, *, follow_symlinks: bool = True) -> bytes:
    """The content of the regular file `path`, at most `kind.limit` bytes.

    Anything but a regular file (a device, a FIFO, a socket; a symlink unless `follow_symlinks`) and a
    file larger than the cap are an InputFileError saying so. A missing file, a directory
    (IsADirectoryError) or one that cannot be opened is the OSError, for the caller's own message. A FIFO
    is recognised without waiting for a writer.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError:
        if not follow_symlinks and os.path.islink(path):
            raise InputFileError(path, f"is a symlink, {_only_regular(kind)}") from None
        raise
    try:
        info = os.fstat(fd)  # before open(): it refuses a directory itself, naming the descriptor, not the path
    except OSError:
        os.close(fd)
        raise
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise IsADirectoryError(21, "Is a directory", str(path))
    with open(fd, "rb", closefd=True) as handle:
        if not stat.S_ISREG(info.st_mode):
            what = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "not a file")
            raise InputFileError(path, f"is {what}, {_only_regular(kind)}")
        if info.st_size > kind.limit:
            raise _too_large(path, kind)
        os.set_blocking(fd, True)
        return _bounded(handle, path, kind)


def _only_regular(kind: InputKind) -> str:
    hint = f"; {kind.not_regular}" if kind.not_regular else ""
    return f"not a regular file: iac reads {kind.noun} only from a regular file{hint}"


def read_stream(stream: IO[bytes], name: str, kind: InputKind) -> bytes:
    """What `stream` (stdin) holds, at most `kind.limit` bytes; more is an InputFileError naming `name`."""
    return _bounded(stream, name, kind)


def _bounded(stream: IO[bytes], name: Path | str, kind: InputKind) -> bytes:
    data = stream.read(kind.limit + 1)
    if len(data) > kind.limit:
        raise _too_large(name, kind)
    return data


def _too_large(name: Path | str, kind: InputKind) -> InputFileError:
    return InputFileError(name, f"is larger than {kind.limit_text}, the cap on {kind.noun} iac reads: {kind.too_large}")


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
    def of(cls, config: _Deployed) -> Deployment:
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
    """The ledger of `directory`; None when there is none. One iac cannot read is an OutputError.

    The ledger is input like any other (in a pull request, anyone may write it): it must be a regular
    file under LEDGER_FILE's cap, every name and field text without control characters, and it is
    trusted only to name files its command renders (`may_write`): never Terraform's, never outside.
    """
    path = directory / LEDGER
    try:
        text = read_input(path, LEDGER_FILE, follow_symlinks=False).decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except InputFileError as exc:
        raise OutputError(f"{path}: cannot read iac's list of the files it wrote here: {exc.reason}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OutputError(f"{path}: cannot read iac's list of the files it wrote here: {_reason(exc)}") from None
    try:
        return _plain_list(text) if not text.lstrip().startswith("{") else _ledger_from(json.loads(text))
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
    except IacError:
        return frozenset()
    return ledger.files if ledger is not None and ledger.writer == writer else frozenset()


def _plain_list(text: str) -> Ledger:
    """The format of earlier versions: one name a line, under a `#` comment naming the command."""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        _text(line, f"line {number}")
    header = " ".join(line for line in lines if line.startswith("#"))
    names = [line for line in lines if line and not line.startswith("#")]
    writer: str | None = None
    if "iac manifest generate" in header:
        writer = MANIFEST_GENERATE
    elif "main.tf" in names:
        writer = RENDER
    elif names:
        writer = CORS_RENDER  # which wrote the same comment as `iac render`, but never a main.tf
    return Ledger(writer, None, _trusted(writer, names))


def _ledger_from(document: Any) -> Ledger:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    writer = _text(document.get("writer"), "writer")
    if not writer:
        raise ValueError("no writer")
    recorded = document.get("deployment")
    deployment = None
    if recorded is not None:
        if not isinstance(recorded, dict):
            raise ValueError("deployment is not a project and a name")
        deployment = Deployment(
            _text(recorded.get("project"), "deployment.project"), _text(recorded.get("name"), "deployment.name")
        )
    files = document.get("files")
    if not isinstance(files, list):
        raise ValueError("files is not a list of names")
    names = [_text(name, f"files[{index}]") for index, name in enumerate(files)]
    complete = document.get("complete", True)
    if not isinstance(complete, bool):
        raise ValueError("complete is not true or false")
    return Ledger(writer, deployment, _trusted(writer, names), complete)


def _text(value: Any, field: str) -> str:
    """`value` if it is text a message or a file name may hold: no control character, no lone surrogate."""
    if not isinstance(value, str):
        raise ValueError(f"{field} is not text")
    for character in value:
        if unicodedata.category(character) in ("Cc", "Cf", "Cs"):
            raise ValueError(f"{field} holds U+{ord(character):04X}, a control character or half a surrogate pair")
    return value


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


# The names each command writes: a ledger is trusted to name only these, so only these are ever replaced
# or removed, whatever it says. tests/test_hostile_files.py checks that they cover every file written.
_WRITES = {
    RENDER: re.compile(r"(main|outputs|versions|backend)\.tf|\.gitignore|modules/[a-z0-9-]+/[A-Za-z0-9_-]+\.(tf|md)"),
    CORS_RENDER: re.compile(
        r"(aws-s3|azure|gcs|otc-obs)-[a-z0-9._-]+\.(json|xml|sh)|terraform/aws-s3-[a-z0-9._-]+\.tf"
    ),
    MANIFEST_GENERATE: re.compile(r"[a-z_]+-[0-9]{4,}\.(json|csv)|skipped\.csv"),
}
# What Terraform keeps in a working directory, never iac's whatever a pattern above would say: its
# providers and modules, local state and its backups, the provider lock file, saved plans.
_TERRAFORMS = re.compile(r"(^|.*/)(\.terraform(/.*)?|[^/]*\.tfstate[^/]*|\.terraform\.lock\.hcl|[^/]*\.tfplan)")


def is_terraforms(name: str) -> bool:
    """Whether `name` (relative to an output directory) is one of Terraform's working files or inside `.terraform/`."""
    return _TERRAFORMS.fullmatch(name) is not None


def may_write(writer: str | None, name: str) -> bool:
    """Whether `name` (relative to the output directory) is one `iac <writer>` writes, so may replace or
    remove. Never a name outside the directory, iac's own ledger or staging, or one of Terraform's."""
    pattern = _WRITES.get(writer or "")
    return (
        pattern is not None
        and pattern.fullmatch(name) is not None
        and ".." not in name.split("/")
        and not is_terraforms(name)
    )


def _trusted(writer: str | None, names: Iterable[str]) -> frozenset[str]:
    return frozenset(name for name in names if may_write(writer, name))


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

    Made while the directory's lock is held (`locked_output`; `write_tree` takes it). Making one checks
    the directory and who owns it, and creates nothing. `open` creates the directory and
    an empty staging area (dropping what an interrupted run left there); `stage` writes a file's content
    there; `commit` renames staged files into place once the ledger lists them, with everything iac wrote
    here before, as an incomplete run's; `finish` removes this command's stale files and writes the final
    ledger. Stopped at any point, the directory holds nothing but files the ledger names as this command's
    (and staging leftovers), so the next run of the command completes or rolls back this one.

    Nothing is ever written or removed through a symlink below the directory. A directory that is not
    empty and holds no ledger is refused (it is not iac's: `-o` may be wrong), unless it is the directory
    of `config`, the config file the command reads.
    """

    def __init__(
        self, directory: Path, writer: str, deployment: Deployment | None = None, *, config: Path | None = None
    ) -> None:
        check_output_directory(directory)
        ledger = read_ledger(directory)
        if ledger is not None:
            _check_owner(directory, ledger, writer, deployment)
        elif not is_configs_directory(directory, config):
            _refuse_unknown(directory)
        self.directory = directory
        self.writer = writer
        self.deployment = deployment
        self.owned: frozenset[str] = ledger.files if ledger is not None else frozenset()
        self._recorded = set(self.owned)
        self._ledger_written = False
        self._created: list[Path] = []
        for name in sorted(self.owned):
            link = _symlink_on_the_way(directory, name)
            if link is not None:
                raise _through_symlink(directory, link, f"{LEDGER} lists {name} below it")

    @property
    def staging(self) -> Path:
        return self.directory / STAGING

    @property
    def changed(self) -> bool:
        """Whether this run has changed the directory (beyond its staging area)."""
        return self._ledger_written

    def refuse_foreign(self, names: Iterable[str]) -> None:
        """Refuse to replace files iac did not write (the ledger does not list them), and to write any
        through a symlink below the directory."""
        names = sorted(names)
        for name in names:
            link = _symlink_on_the_way(self.directory, name)
            if link is not None:
                raise _through_symlink(self.directory, link, f"iac would write {name} below it")
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
                with _parent_of(self.directory, name, create=True) as parent:
                    os.replace(path, Path(name).name, dst_dir_fd=parent)
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
                    with _parent_of(self.directory, name, create=False) as parent:
                        os.unlink(path.name, dir_fd=parent)
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
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
        if _holds(path, staged.content):
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
    out_dir: Path,
    files: Mapping[str, bytes],
    writer: str = RENDER,
    deployment: Deployment | None = None,
    *,
    config: Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_SECONDS,
) -> list[str]:
    """Make `out_dir` hold exactly `files` among the files `iac <writer>` wrote there; returns the stale
    files removed.

    The directory is locked meanwhile (waiting up to `lock_timeout` seconds for another iac command).
    All content, the final ledger included, is staged first: a failure while staging (an OutputError)
    leaves the directory as it was. Then the files are committed through the ledger (see OutputDirectory),
    so that a run stopped at any point is completed or rolled back by the next. Files iac did not write
    are refused, not overwritten, and never removed. `config` is the config file rendered: its own
    directory may hold other files.
    """
    with locked_output(out_dir, lock_timeout):
        output = OutputDirectory(out_dir, writer, deployment, config=config)
        output.refuse_foreign(files)
        output.open()
        try:
            staged = {
                name: output.stage(name, content)
                for name, content in files.items()
                if not _holds(out_dir / name, content)
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
    """Whether `path` is a regular file (not a symlink, not a FIFO) holding `content`; read only when its
    size is that of `content`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        return stat.S_ISREG(info.st_mode) and info.st_size == len(content) and handle.read(len(content) + 1) == content


def is_configs_directory(directory: Path, config: Path | None) -> bool:
    """Whether `directory` is the one the config file `config` is in (iac may write there without a ledger)."""
    if config is None or not directory.is_dir():
        return False
    real = directory.resolve()
    return real in (config.parent.resolve(), config.resolve().parent)


def _refuse_unknown(directory: Path) -> None:
    """Refuse a directory that is not empty but holds no ledger: nothing in it is iac's."""
    try:
        entries = [entry.name for entry in os.scandir(directory) if entry.name != STAGING]
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{directory}: cannot list it: {_reason(exc)}") from None
    if entries:
        raise OutputError(
            f"{directory}: is not empty and holds no {LEDGER}, so iac never wrote here (is -o right?): iac "
            "writes into an empty or new directory, one it wrote before, or the config file's own directory. "
            f"To write here on purpose, adopt the directory first: touch {directory / LEDGER}"
        )


def _symlink_on_the_way(directory: Path, name: str) -> str | None:
    """The first directory on the way to `name` below `directory` that is a symlink (relative), or None."""
    parts = name.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        if (directory.joinpath(*parts[:depth])).is_symlink():
            return "/".join(parts[:depth])
    return None


def _through_symlink(directory: Path, link: str, what: str) -> OutputError:
    return OutputError(
        f"{directory}: {link} is a symlink, and {what}: iac never writes or removes through a symlink below "
        f"the output directory; remove the symlink ({directory / link}) and run again"
    )


@contextlib.contextmanager
def _parent_of(directory: Path, name: str, *, create: bool) -> Iterator[int]:
    """A descriptor of the directory `name` (relative to `directory`) is in, reached without following a
    symlink below `directory` (ELOOP, an OSError, if one is there); `create` makes missing directories."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in name.split("/")[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            below = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = below
        yield fd
    finally:
        os.close(fd)


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
        try:
            path.mkdir()
        except FileExistsError:
            continue  # another run made it meanwhile (parallel renders into a new directory): not ours to remove
        created.append(path)


def _remove_empty_parents(directory: Path, top: Path) -> None:
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


# --- locks ----------------------------------------------------------------------------------------------
#
# A lock is an `fcntl.flock` on a descriptor of a directory, opened read-only: it leaves no file behind
# (nothing for `git status` to show), needs no write permission (a dry run in a read-only directory
# works), and the kernel drops it when the process ends, however it ends. A config file is locked
# through its real directory, so one file reached through several symlinks has one lock; an output
# directory through itself. Locks are re-entrant within a process (an edit that then renders into the
# config's own directory takes the same lock twice).

_Key = tuple[int, int]  # a directory's device and inode
_held: dict[_Key, tuple[int, int]] = {}  # the directories this process has locked: (descriptor, depth)


def _acquire(directory: Path, timeout: float, busy: Callable[[], str]) -> _Key:
    """Lock `directory` (which exists), waiting up to `timeout` seconds, then IacError(busy()); OSError
    when it cannot be opened. Release with `_release`."""
    import fcntl

    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        if key in _held:  # this process holds it already
            os.close(fd)
            held, depth = _held[key]
            _held[key] = (held, depth + 1)
            return key
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IacError(busy()) from None
                    time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
        # The holder may have removed the directory (a failed first run) and another made a new one.
        if _identity(directory) == key:
            _held[key] = (fd, 1)
            return key
        os.close(fd)


def _release(key: _Key) -> None:
    fd, depth = _held.pop(key)
    if depth > 1:
        _held[key] = (fd, depth - 1)
    else:
        os.close(fd)


def _identity(path: Path) -> _Key | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


@contextlib.contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold the lock of the config file `path` for a read-modify-write, waiting up to `timeout` seconds.

    The lock is that of the directory the file really is in (symlinks resolved): every path to one file
    takes one lock. A missing directory is a ConfigError (no such config file).
    """
    directory = path.resolve().parent

    def busy() -> str:
        return (
            f"{path}: another iac command is editing this file (or writing into its directory {directory}): "
            f"waited {timeout:g}s for the lock of that directory; nothing was changed; run again when it has "
            "finished, or wait longer with --lock-timeout"
        )

    try:
        key = _acquire(directory, timeout, busy)
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file"]) from None
    except OSError as exc:
        raise IacError(
            f"{path}: cannot lock its directory {directory} (the lock keeps two edits apart): {_reason(exc)}"
        ) from None
    try:
        yield
    finally:
        _release(key)


@contextlib.contextmanager
def locked_output(directory: Path, timeout: float) -> Iterator[None]:
    """Hold the lock of the output directory `directory` while a command writes it (and, for plan and
    apply, while Terraform runs in it), waiting up to `timeout` seconds.

    The directory is created when missing, and removed again if the command fails leaving it empty.
    """
    check_output_directory(directory)
    created: list[Path] = []

    def busy() -> str:
        return (
            f"{directory}: another iac command is writing this output directory: waited {timeout:g}s for its "
            "lock; nothing was changed; run again when it has finished, or wait longer with --lock-timeout"
        )

    try:
        _make_dirs(directory, created)
    except OSError as exc:
        _remove_created(created)
        raise OutputError(f"{directory}: cannot write here: {_reason(exc)}") from None
    try:
        key = _acquire(directory, timeout, busy)
    except OSError as exc:
        _remove_created(created)
        raise OutputError(
            f"{directory}: cannot lock it (one iac command writes it at a time): {_reason(exc)}"
        ) from None
    except BaseException:
        _remove_created(created)
        raise
    try:
        yield
    except BaseException:
        _remove_created(created)
        raise
    finally:
        _release(key)


def _remove_created(created: list[Path]) -> None:
    """Remove the directories a failed run made, those it left empty."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            path.rmdir()
