"""A config edit followed by the apply flow (`iac allowlist add|remove|set --apply`, `iac hmac rotate --apply`):
the edit under the config's lock, then `iac.deploy.flow.apply` on the edited config, and what to say when the
apply fails after the file was written."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from iac.config.load import LoadedConfig
from iac.deploy.flow import ApplyReport
from iac.errors import IacError
from iac.files.locks import locked


class Edit(Protocol):
    """A config edit that `rotate` may follow with the apply flow: the allowlist's (`iac.edits.allowlist.Change`), the
    HMAC key generation's (`hmac_key.Rotation`). `loaded` is the edited config, validated."""

    @property
    def loaded(self) -> LoadedConfig: ...

    @property
    def written(self) -> bool: ...

    @property
    def kind(self) -> str:
        """What was edited, for messages: "allowlist edit"."""
        ...

    def to_json(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=Edit)


class NotApplied(IacError):
    """A config edit was written, and what came after it (the apply flow) failed: the file and the
    infrastructure now differ until `iac apply` runs on the same config."""

    def __init__(self, edit: Edit, cause: IacError) -> None:
        self.edit = edit
        self.cause = cause
        self.exit_code = cause.exit_code
        config = shlex.quote(str(edit.loaded.path))
        self.remedy = (
            f"{edit.loaded.path} was changed (the {edit.kind} is written) but NOT applied: "
            f"`iac apply -c {config}` applies it once the problem above is fixed"
        )
        super().__init__(f"{cause}\n{self.remedy}")

    def lines(self) -> list[str]:
        return [*self.cause.lines(), self.remedy]

    def details(self) -> dict[str, Any]:
        return {**self.cause.details(), "edit": self.edit.to_json(), "applied": False}


@dataclass(frozen=True)
class RotationReport:
    """A config edit, and the apply flow that followed it (None without --apply, or for a dry run)."""

    edit: Edit
    applied: ApplyReport | None = None

    def to_json(self) -> dict[str, Any]:
        if self.applied is None:
            return self.edit.to_json()
        return {"edit": self.edit.to_json(), **self.applied.to_json()}


def rotate(
    edit: Callable[[], E],
    *,
    config: Path,
    lock_timeout: float,
    dry_run: bool,
    shown: Callable[[E], None],
    then_apply: Callable[[LoadedConfig], ApplyReport] | None = None,
) -> RotationReport:
    """Make the config edit `edit` (`iac.edits.allowlist.edit`, `iac.edits.hmac_key.rotate`) of the file `config`,
    let `shown` report it, then run the apply flow on the edited config (`then_apply`, unless a dry run). A
    failure after the file was written is a NotApplied: it says that the config changed and how to finish;
    nothing else is left unexplained.

    With `then_apply`, the config's lock is held from the edit to the end of the apply (waiting up to
    `lock_timeout` seconds for it): the config applied is the one on disk, and two rotations at once run one
    after the other, the second applying both."""
    applying = then_apply is not None and not dry_run
    with locked(config, lock_timeout) if applying else contextlib.nullcontext():
        change = edit()
        shown(change)
        if then_apply is None or dry_run:
            return RotationReport(change)
        try:
            return RotationReport(change, then_apply(change.loaded))
        except IacError as exc:
            if change.written:
                raise NotApplied(change, exc) from None
            raise
