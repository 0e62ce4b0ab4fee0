"""Azure Blob stand-in: Azurite (npm, installed into tests/azurite by tests/npm-ci.sh).

One Azurite blob service per test session, in memory, on a free port. `azure_env` points
AZURE_STORAGE_CONNECTION_STRING at it and puts the account's service properties (CORS, logging, metrics, delete
retention, static website) back as they were when Azurite started, since they are account-wide.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

AZURITE_BLOB = Path(__file__).resolve().parent / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_TIMEOUT = 30.0
# "Azurite Blob service successfully listens on http://127.0.0.1:PORT" (3.35); older releases say "listening at".
_LISTENING = re.compile(r"successfully listen\w* (?:on|at) https?://[^\s/]+:(\d+)")


def dev_connection_string(port: int, key: str = DEV_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};"
    )


def _wait_for_port(process: subprocess.Popen[str], output: list[str]) -> int:
    """Read Azurite's output (on a thread that keeps draining it) until it says which port it bound."""
    found = threading.Event()
    port: list[int] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not port:
                port.append(int(match.group(1)))
                found.set()
        found.set()  # end of output: the process has exited

    threading.Thread(target=drain, name="azurite-output", daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not found.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not port:
        log = "\n".join(output) or "(no output)"
        try:
            code: int | None = process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        why = f"exited with status {code}" if code is not None else f"reported no port within {STARTUP_TIMEOUT:.0f}s"
        pytest.fail(f"azurite-blob {why}:\n{log}")
    return port[0]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of a fresh in-memory Azurite blob service (127.0.0.1, a free port)."""
    if not AZURITE_BLOB.is_file():
        pytest.fail(f"azurite-blob not found at {AZURITE_BLOB}: run bash tests/install-tools.sh")
    # In-memory Azurite writes nothing, but give it an empty working directory (its default workspace) anyway.
    workdir = tmp_path_factory.mktemp("azurite")
    command = [
        str(AZURITE_BLOB),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--silent",
    ]
    output: list[str] = []
    process = subprocess.Popen(
        command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        port = _wait_for_port(process, output)
        yield dev_connection_string(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def azurite_baseline(azurite: str) -> dict[str, Any]:
    """The blob service properties of the fresh Azurite account, before any test changed them."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite).get_service_properties()


@pytest.fixture
def azurite_reset(azurite: str, azurite_baseline: dict[str, Any]) -> Iterator[str]:
    """Azurite with the account's service properties as at start-up (no CORS rules), before and after the test."""
    from azure.storage.blob import BlobServiceClient

    def reset() -> None:
        BlobServiceClient.from_connection_string(azurite).set_service_properties(
            analytics_logging=azurite_baseline["analytics_logging"],
            hour_metrics=azurite_baseline["hour_metrics"],
            minute_metrics=azurite_baseline["minute_metrics"],
            cors=[],
            delete_retention_policy=azurite_baseline["delete_retention_policy"],
            static_website=azurite_baseline["static_website"],
        )

    reset()
    yield azurite
    reset()


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, azurite_reset: str) -> str:
    """AZURE_STORAGE_CONNECTION_STRING pointing at Azurite (account devstoreaccount1, no CORS rules yet)."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_reset)
    return azurite_reset
