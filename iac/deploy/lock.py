"""`iac lock`: render, then write the providers' versions and checksums for each platform into the
.terraform.lock.hcl of each root module of the rendering (no state, no backend, no cloud credentials)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.allowlist.baseline import of_rendering
from iac.config.load import LoadedConfig
from iac.deploy.flow import TerraformRun, render_into
from iac.errors import IacError
from iac.files.durations import parse_duration
from iac.files.locks import locked_output
from iac.signals import terminating_as_interrupt
from iac.terraform.layout import LOCK_FILE, ROOTS
from iac.terraform.runner import Terraform

# The platforms `iac lock` always writes checksums for: Linux CI runners, and Macs of both kinds.
LOCK_PLATFORMS = ("linux_amd64", "darwin_arm64", "darwin_amd64")
_PLATFORM = re.compile(r"[a-z0-9]+_[a-z0-9]+")
_LOCKED_PROVIDER = re.compile(r'^provider\s+"([^"]+)"\s*\{\s*$(.*?)^\}', re.MULTILINE | re.DOTALL)
_LOCKED_VERSION = re.compile(r'^\s*version\s*=\s*"([^"]*)"', re.MULTILINE)
_LOCKED_HASH = re.compile(r'"(?:h1|zh):[^"]*"')


def lock_platforms(extra: Sequence[str]) -> tuple[str, ...]:
    """LOCK_PLATFORMS and the `--platform` values `extra`, each once; a value not of the form OS_ARCH is an error."""
    for platform in extra:
        if not _PLATFORM.fullmatch(platform):
            raise IacError(
                f"--platform {platform!r}: not a platform: write OS_ARCH as Terraform names it, lowercase, e.g. "
                "linux_arm64 or windows_amd64"
            )
    return tuple(dict.fromkeys([*LOCK_PLATFORMS, *extra]))


@dataclass(frozen=True)
class LockedProvider:
    source: str
    version: str
    checksums: int


@dataclass(frozen=True)
class LockReport:
    """What `iac lock` wrote: the lock files (one a root module, serving's first), the platforms asked for,
    and each provider's version locked (the roots require the same providers)."""

    paths: tuple[Path, ...]
    platforms: tuple[str, ...]
    providers: tuple[LockedProvider, ...]

    @property
    def path(self) -> Path:
        return self.paths[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "lock_file": str(self.path),
            "lock_files": [str(path) for path in self.paths],
            "platforms": list(self.platforms),
            "providers": [{"source": p.source, "version": p.version, "checksums": p.checksums} for p in self.providers],
        }


def lock(
    loaded: LoadedConfig, directory: Path, run: TerraformRun, platforms: Sequence[str], fs_mirror: Path | None = None
) -> LockReport:
    """Render `loaded` into `directory` as `iac render` does, then write the checksums of the providers it needs
    for each of `platforms` into its lock file (`terraform get`, `terraform providers lock`): no state, no backend,
    no cloud credentials. The packages come from their registry, or from the directory `fs_mirror`."""
    from iac.files.inputs import RENDERED_FILE, read_input

    if fs_mirror is not None and not fs_mirror.is_dir():
        raise IacError(f"--fs-mirror {fs_mirror}: not a directory of provider packages (terraform providers mirror)")
    texts = []
    with terminating_as_interrupt(), locked_output(directory, parse_duration(run.lock_timeout)):
        render_into(loaded, directory, run, of_rendering(directory, loaded.config))
        for root in ROOTS:
            terraform = Terraform(
                binary=run.binary, working_dir=directory / root, lock_timeout=run.lock_timeout, progress=run.progress
            )
            terraform.get()
            terraform.providers_lock(platforms, fs_mirror)
            path = directory / root / LOCK_FILE
            try:
                texts.append(read_input(path, RENDERED_FILE, follow_symlinks=False).decode("utf-8"))
            except (OSError, UnicodeDecodeError, IacError) as exc:
                raise IacError(f"{path}: cannot read the lock file Terraform wrote: {exc}") from None
    text = texts[0]
    providers = tuple(
        LockedProvider(
            source=match.group(1),
            version=version.group(1) if (version := _LOCKED_VERSION.search(match.group(2))) else "",
            checksums=len(_LOCKED_HASH.findall(match.group(2))),
        )
        for match in _LOCKED_PROVIDER.finditer(text)
    )
    return LockReport(tuple(directory / root / LOCK_FILE for root in ROOTS), tuple(platforms), providers)
