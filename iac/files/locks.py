"""The locks that keep two iac commands from editing one config or writing one output directory at once."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from iac.errors import ConfigError, IacError
from iac.files.ledger import OutputError, failure_reason

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
            f"{path}: cannot lock its directory {directory} (the lock keeps two edits apart): {failure_reason(exc)}"
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
        make_dirs(directory, created)
    except OSError as exc:
        _remove_created(created)
        raise OutputError(f"{directory}: cannot write here: {failure_reason(exc)}") from None
    try:
        key = _acquire(directory, timeout, busy)
    except OSError as exc:
        _remove_created(created)
        raise OutputError(
            f"{directory}: cannot lock it (one iac command writes it at a time): {failure_reason(exc)}"
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


def make_dirs(directory: Path, created: list[Path]) -> None:
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
