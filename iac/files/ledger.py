"""The ledger of an output directory: which iac command wrote which of its files, for which deployment, and
the names each command may write there."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from iac.errors import IacError
from iac.files.inputs import LEDGER_FILE, InputFileError, read_input


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
CONTENTS = {
    RENDER: "the rendered files",
    CORS_RENDER: "the rendered files",
    MANIFEST_GENERATE: "the registration files",
}


class OutputError(IacError):
    """The output directory cannot be written as asked."""


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
        raise OutputError(f"{path}: cannot read iac's list of the files it wrote here: {failure_reason(exc)}") from None
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


def ledger_bytes(writer: str, deployment: Deployment | None, files: Iterable[str], complete: bool) -> bytes:
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
    # The two root modules, and the single-root layout of earlier versions (which an upgrade removes).
    RENDER: re.compile(
        r"((serving|allowlist)/)?((main|outputs|versions|backend|imports)\.tf|\.gitignore"
        r"|modules/[a-z0-9-]+/[A-Za-z0-9_-]+\.(tf|md))"
    ),
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


def failure_reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
