"""Stopping signals as exceptions: while `terminating_as_interrupt()` holds, SIGTERM and SIGHUP raise
`Interrupted` where the main thread is, as Ctrl-C raises KeyboardInterrupt, so that `finally` blocks run and a
`--json` command still prints its failure document. The Terraform runner (iac.terraform.runner) takes the signals over
while Terraform runs, to pass them on. Only the standard library: every command enters it (iac.cli.group).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from iac.errors import Interrupted


def handlers_installable() -> bool:
    return threading.current_thread() is threading.main_thread()


def takes_over(signum: int) -> bool:
    """Whether iac may handle `signum`: not when it is ignored (`nohup iac apply` must survive SIGHUP) or
    when a handler installed outside Python (which could not be restored) is in place."""
    current = signal.getsignal(signum)
    return current is not None and current != signal.SIG_IGN


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum, "iac stopped while no Terraform command was running (run again to continue)")


@contextlib.contextmanager
def terminating_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Interrupted` instead of killing iac outright, so
    `finally` blocks run (SIGINT already raises KeyboardInterrupt); the previous handlers come back after.

    A Terraform command run inside passes the signals on to Terraform instead while it runs. Off the main
    thread (where handlers cannot be installed), and for a signal that is ignored, nothing changes.
    """
    previous: dict[int, Any] = {}
    if handlers_installable():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if takes_over(signum):
                previous[signum] = signal.signal(signum, _raise_interrupted)
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)
