"""The two root modules of an output directory (`serving/`, `allowlist/`), and what an upgrade from the
single-root layout of earlier versions moves besides the rendered files.

The rendered files move with the rendering itself (`iac.files.output.write_tree` writes the new ones before it
removes the old, and `iac.allowlist.baseline` reads the rules of either). What Terraform or the user keep there
is moved here, once the new layout is in place: a local state into `serving/` (it is the serving root's
state: same resources, same addresses), and the provider lock file copied into each root that has none.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from iac.errors import IacError
from iac.files.atomic import write_atomic
from iac.files.inputs import RENDERED_FILE, read_input
from iac.files.ledger import failure_reason

SERVING, ALLOWLIST = "serving", "allowlist"
# The root modules in the order plan and apply run them: the policies exist before their rules.
ROOTS = (SERVING, ALLOWLIST)
LOCK_FILE = ".terraform.lock.hcl"
_LOCAL_STATE = ("terraform.tfstate", "terraform.tfstate.backup")


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def settle_upgrade(directory: Path) -> list[str]:
    """Move what the single-root layout left at the top of `directory` into the roots; what was done, as lines.

    Idempotent, and each step atomic (a rename, a staged copy): stopped anywhere, the next render or plan
    finishes it. A local state found both at the top and in serving/ is refused: which one is current is
    the user's to say.
    """
    if not (directory / SERVING).is_dir():
        return []
    done = []
    for name in _LOCAL_STATE:
        old, new = directory / name, directory / SERVING / name
        if not _regular_file(old):
            continue
        if os.path.lexists(new):
            if name != _LOCAL_STATE[0]:
                continue  # an older backup: the one in serving/ is newer
            raise IacError(
                f"{old} and {new} both exist: the serving root's local state is {new}, and {old} is the state of "
                "the single-root layout; keep the current one in serving/ and move the other away"
            )
        try:
            os.replace(old, new)
        except OSError as exc:
            raise IacError(f"{old}: cannot move it to {new}: {failure_reason(exc)}") from None
        done.append(f"moved the local state {old} to {new} (the serving root's)")
    old = directory / LOCK_FILE
    if _regular_file(old):
        for root in ROOTS:
            new = directory / root / LOCK_FILE
            if os.path.lexists(new):
                continue
            try:
                write_atomic(new, read_input(old, RENDERED_FILE, follow_symlinks=False))
            except OSError as exc:
                raise IacError(f"{new}: cannot copy {old} there: {failure_reason(exc)}") from None
            done.append(f"copied the provider lock file {old} to {new}; delete {old} once both roots have theirs")
    return done
