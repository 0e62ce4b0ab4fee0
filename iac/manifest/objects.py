"""One object of the bucket as `generate` sees it, whatever lists it: name, size, content type, its bytes."""

from __future__ import annotations

import contextlib
import errno
import posixpath
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from iac.errors import IacError


class ObjectUnreadable(Exception):
    """An object of the listing cannot be read (deleted or replaced since): skipped, with this reason."""


@dataclass(frozen=True)
class StoredObject:
    """What the listing tells about one object. When metadata needs its bytes, `read` fetches the first
    `limit` (None: all) and `copy_to`, when given, streams the whole object into a binary file."""

    name: str
    size: int
    content_type: str | None
    read: Callable[[int | None], bytes] = field(repr=False, compare=False, default=lambda limit: b"")
    copy_to: Callable[[IO[bytes]], None] | None = field(repr=False, compare=False, default=None)

    def save(self, handle: IO[bytes]) -> None:
        """Write the whole object to `handle`: streamed when the source can, else read in one piece."""
        if self.copy_to is not None:
            self.copy_to(handle)
        else:
            handle.write(self.read(None))


@contextlib.contextmanager
def local_copy(obj: StoredObject) -> Iterator[Path]:
    """The whole object as a file in a private temporary directory (mode 0700), removed afterwards."""
    extension = posixpath.splitext(obj.name)[1]
    suffix = extension if extension[1:].isascii() and extension[1:].isalnum() else ""
    with tempfile.TemporaryDirectory(prefix="iac-manifest-") as directory:
        path = Path(directory) / f"object{suffix}"
        try:
            with path.open("xb") as handle:
                obj.save(handle)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise IacError(
                f"{obj.name}: no room for a temporary copy ({obj.size} bytes) in {tempfile.gettempdir()}: "
                "set TMPDIR to a directory with room for the largest video, audio or PDF file"
            ) from None
        yield path
