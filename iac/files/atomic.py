"""Atomic file writing: a reader, or a crash, sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Called with a label after each step that changes an output directory (a file staged, renamed into place
# or removed, a ledger written). None in use; the tests set it to kill a run at every step.
after_step: Callable[[str], None] | None = None


def report_step(label: str) -> None:
    hook = after_step
    if hook is not None:
        hook(label)


def stage_file(target: Path, content: bytes, mode: int = 0o644) -> Path:
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
    temp = stage_file(path, content, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
