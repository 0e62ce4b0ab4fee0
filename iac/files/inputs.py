"""Bounded reading of the files iac takes as input: regular files only, each kind with a cap on its size."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from iac.errors import IacError

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
