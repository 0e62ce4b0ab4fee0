"""Local stand-in for S3 and OTC OBS (OBS speaks S3's API): moto's server on 127.0.0.1, a free port.

Loaded as a pytest plugin from conftest.py. `aws_env` points boto3 (AWS_ENDPOINT_URL_S3) at it with dummy
credentials and shuts every other source of credentials or endpoints, so no test reaches a real cloud; the OBS
SDK gets its dummy keys from OBS_ACCESS_KEY_ID / OBS_SECRET_ACCESS_KEY and the endpoint from the target's
`endpoint` (the URL `aws_env` returns).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REGION = "eu-west-2"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's threaded server for the whole session; yields its endpoint URL, http://127.0.0.1:PORT."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        # port=0 lets the OS choose; the bound address is on the werkzeug server start() waited for.
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_server: str, tmp_path: Path) -> str:
    """Environment for boto3 and the OBS SDK that reaches only `moto_server`; returns its endpoint URL."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL",
        "OBS_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("OBS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", "testing")
    return moto_server
