"""The suite never connects beyond this machine: pytest-socket in the test process, tests/offline/sitecustomize.py in
the Python processes tests start, and the client libraries' own switches (tests/conftest.py) so that, without
credentials, none of them even tries a metadata server."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from pytest_httpserver import HTTPServer
from pytest_socket import SocketConnectBlockedError

from conftest import Refusals

# TEST-NET-1 (RFC 5737): never routed, so nothing is reached even if the guard failed.
FAR_AWAY = ("192.0.2.1", 80)


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket.connect")
def test_a_connection_beyond_loopback_is_refused_in_the_test_process(never_leaves_the_machine: Refusals) -> None:
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(FAR_AWAY, timeout=5)
    assert never_leaves_the_machine.in_process == [FAR_AWAY]
    never_leaves_the_machine.forgive()


def test_loopback_is_allowed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ping").respond_with_data("pong")
    with socket.create_connection(("127.0.0.1", httpserver.port), timeout=5) as conn:
        conn.sendall(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"pong" in conn.recv(4096) + conn.recv(4096)


def test_a_connection_beyond_loopback_is_refused_in_a_subprocess(never_leaves_the_machine: Refusals) -> None:
    code = f"import socket; socket.create_connection({FAR_AWAY!r}, timeout=5)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ConnectionRefusedError: tests: no connection beyond this machine" in done.stderr
    [line] = never_leaves_the_machine.in_subprocesses()
    assert repr(FAR_AWAY) in line
    never_leaves_the_machine.forgive()


def test_without_credentials_google_auth_does_not_look_for_a_metadata_server(no_cloud_credentials: None) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    with pytest.raises(DefaultCredentialsError, match="default credentials were not found"):
        google.auth.default()


def test_without_credentials_botocore_does_not_ask_instance_metadata(no_cloud_credentials: None) -> None:
    import boto3

    assert boto3.Session().get_credentials() is None


def test_without_credentials_azure_identity_finds_no_managed_identity(no_cloud_credentials: None) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(
        exclude_cli_credential=True, exclude_developer_cli_credential=True, exclude_powershell_credential=True
    )
    with pytest.raises(ClientAuthenticationError, match="ManagedIdentityCredential: No managed identity endpoint"):
        credential.get_token("https://storage.azure.com/.default")


def test_the_azure_imds_request_goes_to_loopback(no_cloud_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

    monkeypatch.delenv("IDENTITY_ENDPOINT")  # managed identity falls back on the IMDS
    with pytest.raises(CredentialUnavailableError) as refused, ManagedIdentityCredential(retry_total=0) as credential:
        credential.get_token("https://storage.azure.com/.default")
    assert "127.0.0.1" in str(refused.value.__cause__)  # asked, and refused, on this machine
