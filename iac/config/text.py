"""The config file's text, exactly as written (a BOM and CRLF kept): read under the cap on config files, and
written back by an edit atomically, through a symlink, refused when read-only, hard-linked or changed meanwhile."""

from __future__ import annotations

from pathlib import Path

from iac.errors import ConfigError, IacError
from iac.files.atomic import write_atomic
from iac.files.inputs import CONFIG_FILE, InputFileError, read_input


def read_config_text(path: Path) -> str:
    """The text of the config file `path`, exactly as written (a BOM and CRLF line endings kept): a
    regular file under the cap on config files (iac.files.inputs.CONFIG_FILE), else a ConfigError saying why."""
    try:
        # Bytes decoded here, not by read_text: its universal newlines would turn CRLF into LF.
        return read_input(path, CONFIG_FILE).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (create one with `iac init {path}`, or choose one with -c FILE)"]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except InputFileError as exc:
        raise ConfigError([str(exc)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None


def check_writable(path: Path, dry_run_hint: bool = True) -> None:
    """Refuse a config file its owner made read-only (replacing it would quietly undo that), or that has other
    names (hard links)."""
    try:
        info = path.resolve().stat()
    except OSError:
        return  # reading it reports a missing or unreadable file
    hint = ", or use --dry-run to see the change" if dry_run_hint else ""
    if not info.st_mode & 0o222:
        raise IacError(
            f"{path}: is read-only (mode {info.st_mode & 0o777:04o}): iac does not replace a file made read-only; "
            f"make it writable (chmod u+w) to edit it{hint}"
        )
    _refuse_hard_links(path, info.st_nlink, hint)


def _refuse_hard_links(path: Path, links: int, hint: str = "") -> None:
    """An edit replaces the file (a new one renamed over it: never half written). A hard link is another
    name for the old file, which would keep the old text: the two would drift apart unseen."""
    if links > 1:
        raise IacError(
            f"{path}: has {links} hard links (other names for the same file): an edit writes a new file in its "
            "place, and the other names would keep the old text; iac does not edit a hard-linked config: make "
            f"the other names symlinks (ln -sf), which iac writes through{hint}"
        )


def write_config_text(path: Path, original: str, text: str) -> None:
    """Replace the config file `path`, read as `original`, by `text`: atomically, keeping its permissions, through
    a symlink rather than over it; refused when the file changed since it was read."""
    target = path.resolve()
    try:
        current = target.read_bytes()
        info = target.stat()
    except OSError as exc:
        raise IacError(f"{path}: cannot read the config file again before writing: {exc.strerror}") from None
    mode = info.st_mode & 0o7777
    _refuse_hard_links(path, info.st_nlink)  # linked since check_writable
    # Bytes against bytes: `original` is the file decoded as is (BOM, CRLF), so it encodes back to them.
    if current != original.encode("utf-8"):
        raise IacError(f"{path}: changed by something else while iac was editing it: nothing written, run again")
    try:
        # The exact text, BOM and line endings included: str.encode translates no newline.
        write_atomic(target, text.encode("utf-8"), mode)
    except OSError as exc:
        raise IacError(f"{path}: cannot write the config file: {exc.strerror}") from None
