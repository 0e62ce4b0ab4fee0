"""Atomic file writing: a reader, or a crash, sees the old content or the new, never half of either."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from iac.errors import IacError

# Lists the files a render wrote, so the next render removes only its own stale files and never
# touches what Terraform or the user keep beside them (.terraform/, local state, plan files).
MANIFEST = ".iac-files"


class OutputError(IacError):
    """The output directory cannot be written as asked."""


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


def read_manifest(out_dir: Path) -> set[str]:
    try:
        text = (out_dir / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return {line for line in text.splitlines() if line and not line.startswith("#") and _inside(line)}


def _inside(name: str) -> bool:
    # A manifest is only ever trusted to name files below the output directory.
    path = Path(name)
    return not path.is_absolute() and ".." not in path.parts and "\\" not in name


def write_tree(out_dir: Path, files: Mapping[str, bytes]) -> list[str]:
    """Make `out_dir` hold exactly `files` among the files iac owns there; returns the stale files removed.

    All content is staged in temporary files first; only when every one is written are they renamed into
    place, so a failure while writing leaves the directory as it was. Files iac did not write are refused,
    not overwritten, and files it did not write are never removed.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory: choose another output with -o DIR")
    owned = read_manifest(out_dir)
    foreign = sorted(name for name in files if name not in owned and (out_dir / name).exists())
    if foreign:
        listing = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"{out_dir}: would overwrite files iac did not write ({listing}): render into an empty or "
            "iac-rendered directory (-o DIR), or move these files away"
        )

    manifest = "# Files written by `iac render`; the next render replaces them and removes stale ones.\n"
    manifest += "".join(f"{name}\n" for name in sorted(files))
    staged: list[tuple[str, Path]] = []
    created: list[Path] = []
    try:
        for name, content in [*files.items(), (MANIFEST, manifest.encode())]:
            target = out_dir / name
            _make_dirs(target.parent, created)
            if target.exists() and target.is_file() and target.read_bytes() == content:
                continue
            staged.append((name, _stage(target, content)))
    except OSError as exc:
        for _, staged_file in staged:
            with contextlib.suppress(OSError):
                staged_file.unlink()
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise OutputError(f"{out_dir}: cannot write the rendered files: {exc.strerror} ({exc.filename})") from None

    for name, staged_file in staged:
        os.replace(staged_file, out_dir / name)

    stale = sorted(owned - set(files) - {MANIFEST})
    for name in stale:
        path = out_dir / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        _remove_empty_parents(path.parent, out_dir)
    return stale


def _make_dirs(directory: Path, created: list[Path]) -> None:
    """mkdir -p that records the directories it made, so a failed render can remove them again."""
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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str, option: str = "--lock-timeout") -> float:
    """Seconds in a Terraform-style duration (`300s`, `5m`, `1m30s`, `0s`); a bad one names the option."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(number + unit for number, unit in parts) != value:
        raise IacError(f"{option} {text!r}: not a duration; write a number with a unit, e.g. 300s, 5m or 1m30s")
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
