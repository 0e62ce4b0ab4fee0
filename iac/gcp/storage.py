"""The Google Cloud Storage client every command uses: a local emulator's when STORAGE_EMULATOR_HOST is set
(anonymous credentials; google-cloud-storage reads the endpoint from the variable), else one with Application
Default Credentials.

`google.cloud.storage` is imported only when a client is made, so `iac --help` does not load it.
"""

from __future__ import annotations

import os
from typing import Any

from iac.gcp import credentials as gcp

# The project of a client talking to an emulator when the caller names none: the emulator accepts any.
EMULATOR_PROJECT = "iac-emulator"
# What the credentials need, completing gcp.ADC_HELP.
NEEDS = "access to the bucket; for a local emulator, set STORAGE_EMULATOR_HOST (e.g. http://127.0.0.1:9023)"


class NoCredentials(gcp.CredentialsMissing):
    """No Google credentials were found: the message says why (google-auth's reason) and how to set them up.

    Its own class so that callers adding the bucket to the message catch only this, never `Interrupted`."""

    def __init__(self, reason: str) -> None:
        super().__init__("for Cloud Storage", NEEDS, reason)


def client(project: str | None = None, *, connections: int | None = None) -> Any:
    """A `google.cloud.storage.Client` for `project` (None: the credentials' own project; the emulator's
    placeholder under STORAGE_EMULATOR_HOST). Raises NoCredentials when there are none to use.

    `connections`: how many requests the caller makes at a time, when more than one. The HTTP session keeps
    that many connections open (requests keeps 10; the 11th request at a time would open a connection and
    drop it after, with a "connection pool is full" warning). Every answer but a download is read within
    `iac.untrusted.Bounds` (a body cap and a deadline)."""
    from iac.untrusted import cap_responses

    made = _client(project)
    cap_responses(made._http, what="Cloud Storage")
    if connections is not None and connections > 1:
        from requests.adapters import DEFAULT_POOLSIZE

        # The session's own adapters (an mTLS one included) with room for `connections` per host.
        for adapter in {id(a): a for a in made._http.adapters.values()}.values():
            adapter.init_poolmanager(DEFAULT_POOLSIZE, max(connections, DEFAULT_POOLSIZE))
    return made


def _client(project: str | None) -> Any:
    import importlib

    storage = importlib.import_module("google.cloud.storage")  # no type information: the client is Any
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project=project or EMULATOR_PROJECT, credentials=anonymous)
    from google.auth.exceptions import DefaultCredentialsError

    try:
        # No project given: none passed, so the client takes the credentials' own (project=None would mean none).
        return storage.Client() if project is None else storage.Client(project=project)
    except DefaultCredentialsError as exc:
        raise NoCredentials(gcp.reason(exc)) from None
