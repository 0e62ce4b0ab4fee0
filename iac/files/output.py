"""Output directories: a run stages its files, renames them into place, removes its own stale ones and records
them in the directory's ledger; what Terraform or the user keep there is never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from iac.files.atomic import report_step, stage_file
from iac.files.durations import DEFAULT_LOCK_SECONDS
from iac.files.ledger import (
    CONTENTS,
    LEDGER,
    RENDER,
    STAGING,
    Deployment,
    Ledger,
    OutputError,
    failure_reason,
    ledger_bytes,
    read_ledger,
)
from iac.files.locks import check_output_directory, locked_output, make_dirs


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
            make_dirs(self.directory, self._created)
            _remove(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            self.abandon()
            raise OutputError(f"{self.directory}: cannot write here: {failure_reason(exc)}") from None

    def stage(self, name: str, content: bytes, mode: int = 0o644) -> Path:
        """Write `content` durably into the staging area; `commit` moves it to `name`."""
        with self._writing():
            staged = stage_file(self.staging / Path(name).name, content, mode)
        report_step(f"stage {name}")
        return staged

    def stage_ledger(self, files: Iterable[str]) -> StagedLedger:
        """Stage the final ledger for `files`, so that `finish` has nothing left to write."""
        content = ledger_bytes(self.writer, self.deployment, files, complete=True)
        with self._writing():
            return StagedLedger(content, stage_file(self.staging / LEDGER, content), complete=True)

    def commit(self, staged: Mapping[str, Path]) -> None:
        """Rename staged files (name -> staged path) into place, once the ledger records them."""
        if not staged:
            return
        content = ledger_bytes(self.writer, self.deployment, self._recorded | set(staged), complete=False)
        with self._writing():
            self._replace_ledger(StagedLedger(content, stage_file(self.staging / LEDGER, content), complete=False))
            self._recorded.update(staged)
            for name, path in staged.items():
                with _parent_of(self.directory, name, create=True) as parent:
                    os.replace(path, Path(name).name, dst_dir_fd=parent)
                report_step(f"rename {name}")

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
                report_step(f"remove {name}")
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
            what = CONTENTS.get(self.writer, "the files")
            again = "; run the command again to complete the change" if self.changed else ""
            raise OutputError(
                f"{self.directory}: cannot write {what}: {failure_reason(exc)} ({exc.filename}){again}"
            ) from None

    def _replace_ledger(self, staged: StagedLedger) -> None:
        path = self.directory / LEDGER
        if _holds(path, staged.content):
            staged.path.unlink()
            return
        os.replace(staged.path, path)
        self._ledger_written = True
        report_step("ledger" if staged.complete else "ledger (incomplete)")


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
    if recorded != ledger_bytes(writer, deployment, files, complete=True):
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
        raise OutputError(f"{directory}: cannot list it: {failure_reason(exc)}") from None
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


def _remove_empty_parents(directory: Path, top: Path) -> None:
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
