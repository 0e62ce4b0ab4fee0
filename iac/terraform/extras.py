"""What an output directory may hold besides iac's rendering: the extra files the config declares
(`terraform.extra_files`), Terraform's working files, and files Terraform never reads.

Terraform runs in the two root modules, `serving/` and `allowlist/` (`iac.terraform.layout`). It reads every
`*.tf` and `*.tf.json` of a module's directory, merges `override.tf` and `*_override.tf` over the others, and loads
`terraform.tfvars` and `*.auto.tfvars`: a file beside the rendering changes what is planned whatever the rendered
files say (an override in `allowlist/` can put `0.0.0.0/0` in the rules). So any such file, anywhere under the
output directory, that iac does not render and the config does not declare, and any symlink (through which
Terraform would read what nobody reviewed), is refused before Terraform runs. That includes files outside both
roots, which Terraform no longer reads: one kept from the single-root layout would silently stop applying.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.errors import IacError
from iac.files.inputs import InputFileError, InputKind, read_input
from iac.files.ledger import STAGING, OutputError, is_terraforms, read_ledger
from iac.files.output import is_configs_directory
from iac.terraform.layout import ROOTS
from iac.words import plural

# The names Terraform reads as configuration or variables, in a module's directory.
TERRAFORM_READS = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
# A declared file is hashed for the plan summary: read whole, up to this cap.
EXTRA_FILE = InputKind(
    "an extra file of the configuration", 64 * 1024 * 1024, "is it the right file? A Terraform file is kilobytes"
)


_READ = "Terraform would read it"
_OUTSIDE = (
    "outside serving/ and allowlist/, the root modules Terraform runs in: Terraform no longer reads it there (the "
    "single-root layout of earlier versions did)"
)


def _in_a_root(name: str) -> bool:
    """Whether `name` (relative to the output directory) is below one of the root modules Terraform runs in."""
    return name.split("/", 1)[0] in ROOTS and "/" in name


@dataclass(frozen=True)
class Found:
    """What an output directory holds that iac neither renders nor accepts, by kind (names relative to it)."""

    undeclared: tuple[str, ...] = ()  # a file Terraform would read: not rendered, not declared
    symlinks: tuple[str, ...] = ()  # any symlink below the directory
    missing: tuple[str, ...] = ()  # declared, not there
    not_files: tuple[str, ...] = ()  # declared, there, but a directory or a device
    rendered: tuple[str, ...] = ()  # declared, but a file iac renders itself

    @property
    def refused(self) -> bool:
        return any((self.undeclared, self.symlinks, self.missing, self.not_files, self.rendered))

    def without_missing(self) -> Found:
        return Found(self.undeclared, self.symlinks, (), self.not_files, self.rendered)

    def entries(self) -> list[str]:
        """One line per file, `name: what is wrong`, in name order."""
        reasons = [
            *(
                (name, f"not rendered by iac, not in terraform.extra_files: {_READ if _in_a_root(name) else _OUTSIDE}")
                for name in self.undeclared
            ),
            *((name, "a symlink: iac accepts none below the output directory") for name in self.symlinks),
            *((name, "in terraform.extra_files, but missing") for name in self.missing),
            *((name, "in terraform.extra_files, but not a regular file") for name in self.not_files),
            *((name, "in terraform.extra_files, but iac renders it") for name in self.rendered),
        ]
        return [f"{name}: {reason}" for name, reason in sorted(reasons)]

    def remedy(self, config: Path) -> str:
        """What to do, for the kinds found."""
        steps = []
        if any(_in_a_root(name) for name in self.undeclared):
            steps.append(
                "remove each file Terraform would read that you did not add on purpose; declare one you did under "
                f"terraform.extra_files in {config} (it is then listed, with its SHA-256, in the plan summary)"
            )
        if not all(_in_a_root(name) for name in self.undeclared):
            steps.append(
                "remove each file outside serving/ and allowlist/ that you do not need; move one Terraform should "
                "read into the root module it belongs with (serving/; allowlist/ for what goes with the allow rules) "
                f"and declare it there under terraform.extra_files in {config}"
            )
        if self.symlinks:
            steps.append("replace each symlink by what it points to, or remove it")
        if self.missing:
            steps.append("add each missing file, or take it out of terraform.extra_files")
        if self.not_files or self.rendered:
            steps.append("take the files that are not yours to add out of terraform.extra_files")
        return "; ".join(steps)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "undeclared": list(self.undeclared),
            "symlinks": list(self.symlinks),
            "missing": list(self.missing),
            "not_files": list(self.not_files),
            "rendered": list(self.rendered),
        }


class ExtraFiles(IacError):
    """The output directory holds files Terraform would read that are neither rendered nor declared (or a
    declared one is wrong): refused before anything runs."""

    def __init__(self, directory: Path, config: Path, found: Found, consequence: str) -> None:
        self.found = found
        self.headline = (
            f"{directory}/ may hold only what {config} renders and declares (terraform.extra_files) besides "
            f"Terraform's working files: {plural(len(found.entries()), 'problem')} ({consequence}):"
        )
        self.remedy = found.remedy(config)
        super().__init__("\n".join([self.headline, *found.entries(), self.remedy]))

    def lines(self) -> list[str]:
        return [self.headline, *self.found.entries(), self.remedy]

    def details(self) -> dict[str, Any]:
        return {"extra_files": self.found.to_json()}


def survey(directory: Path, rendered: Iterable[str], declared: Sequence[str], config: Path) -> Found:
    """What `directory` holds besides `rendered` (the names iac writes there now), the files its ledger lists
    (which rendering replaces or removes), `declared` and Terraform's working files. Reads only.

    A directory that is not empty and holds no ledger is looked through only when it is `config`'s own: any
    other is not iac's, and the command refuses it before anything runs (`-o $HOME` is not walked).
    """
    try:
        ledger = read_ledger(directory)
    except OutputError:
        ledger = None  # unreadable: the command that writes the directory says so
    if ledger is None and not is_configs_directory(directory, config) and _holds_anything(directory):
        return Found()
    known = set(rendered) | (ledger.files if ledger is not None else frozenset())
    wanted = set(declared)
    undeclared, symlinks = [], []
    for name, is_link in _terraform_reads(directory):
        if is_link:
            symlinks.append(name)
        elif name not in known and name not in wanted:
            undeclared.append(name)
    missing, not_files = [], []
    for name in sorted(wanted - set(rendered)):
        path = directory / name
        if name in symlinks or _below_a_symlink(directory, name):
            continue  # reported as a symlink
        if not os.path.lexists(path):
            missing.append(name)
        elif not path.is_file():
            not_files.append(name)
    return Found(
        undeclared=tuple(sorted(undeclared)),
        symlinks=tuple(sorted(symlinks)),
        missing=tuple(missing),
        not_files=tuple(not_files),
        rendered=tuple(sorted(wanted & set(rendered))),
    )


def check(directory: Path, rendered: Iterable[str], declared: Sequence[str], config: Path, consequence: str) -> None:
    """Refuse `directory` (ExtraFiles, saying `consequence`) when `survey` finds anything."""
    found = survey(directory, rendered, declared, config)
    if found.refused:
        raise ExtraFiles(directory, config, found, consequence)


def digests(directory: Path, declared: Sequence[str]) -> list[tuple[str, str]]:
    """Each declared file and the SHA-256 of its content (hex), for the plan summary."""
    found = []
    for name in declared:
        path = directory / name
        try:
            content = read_input(path, EXTRA_FILE, follow_symlinks=False)
        except InputFileError as exc:
            raise IacError(f"{path}: cannot read the extra file (terraform.extra_files): {exc.reason}") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise IacError(f"{path}: cannot read the extra file (terraform.extra_files): {reason}") from None
        found.append((name, hashlib.sha256(content).hexdigest()))
    return found


def _terraform_reads(directory: Path) -> Iterator[tuple[str, bool]]:
    """Every symlink (True) and every file Terraform would read (False) below `directory`, by relative name;
    Terraform's working files (`.terraform/` whole, state, plans, the lock file) left out. Symlinks are not
    followed."""
    pending = [""]
    while pending:
        prefix = pending.pop()
        where = directory / prefix if prefix else directory
        try:
            with os.scandir(where) as listing:
                entries = list(listing)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise OutputError(f"{where}: cannot list it: {exc.strerror or type(exc).__name__}") from None
        for entry in entries:
            name = f"{prefix}/{entry.name}" if prefix else entry.name
            if is_terraforms(name):
                continue
            if entry.is_symlink():
                yield name, True
            elif entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif entry.name.endswith(TERRAFORM_READS):
                yield name, False


def _holds_anything(directory: Path) -> bool:
    try:
        with os.scandir(directory) as listing:
            return any(entry.name != STAGING for entry in listing)
    except OSError:
        return False


def _below_a_symlink(directory: Path, name: str) -> bool:
    parts = name.split("/")[:-1]
    return any(directory.joinpath(*parts[: depth + 1]).is_symlink() for depth in range(len(parts)))
