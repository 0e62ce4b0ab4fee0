"""Loaded by every Python process the tests start (tests/conftest.py puts this directory first on PYTHONPATH):
refuses any connection that is not to this machine, as pytest-socket does inside the test process.

A refused attempt fails as a refused connection would (ConnectionRefusedError), and is recorded in the file
IAC_TEST_OFFLINE_LOG names, so the test that started the process fails even when the program swallows the error.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _refused(sock: socket.socket, address: Any) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False  # Unix sockets stay on this machine
    host = address[0] if isinstance(address, tuple) and address else address
    if host == "localhost" or _is_loopback(host):
        return False
    log = os.environ.get("IAC_TEST_OFFLINE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {address!r}\n")
    return True


def _is_loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if _refused(self, address):
        raise ConnectionRefusedError(f"tests: no connection beyond this machine ({address!r})")
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if _refused(self, address):
        raise ConnectionRefusedError(f"tests: no connection beyond this machine ({address!r})")
    return _connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
