"""Local stand-in for Google Cloud Storage: gcp-storage-emulator in this process, 127.0.0.1, a free port.

Loaded as a pytest plugin from conftest.py. `gcs_env` sets STORAGE_EMULATOR_HOST, which google-cloud-storage
(and iac) honour, so nothing reaches Google.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """The emulator for the whole session; yields its URL, http://127.0.0.1:PORT."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        # The emulator has no public accessor for the port the OS chose.
        port = server._api._httpd.server_port
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def gcs_env(monkeypatch: pytest.MonkeyPatch, gcs_emulator: str) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return gcs_emulator


@pytest.fixture
def gcs_client(gcs_env: str):  # type: ignore[no-untyped-def]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="iac-tests", credentials=AnonymousCredentials())
