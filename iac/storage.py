"""The Google Cloud Storage client every command uses: a local emulator's when STORAGE_EMULATOR_HOST is set
(anonymous credentials; google-cloud-storage reads the endpoint from the variable), else one with Application
Default Credentials.

`google.cloud.storage` is imported only when a client is made, so `iac --help` does not load it.
"""

from __future__ import annotations

import os
from typing import Any

from iac import gcp

# The project of a client talking to an emulator when the caller names none: the emulator accepts any.
EMULATOR_PROJECT = "iac-emulator"
# What the credentials need, completing gcp.ADC_HELP.
NEEDS = "access to the bucket; for a local emulator, set STORAGE_EMULATOR_HOST (e.g. http://127.0.0.1:9023)"


class NoCredentials(gcp.CredentialsMissing):
    """No Google credentials were found: the message says why (google-auth's reason) and how to set them up.

    Its own class so that callers adding the bucket to the message catch only this, never `Interrupted`."""

    def __init__(self, reason: str) -> None:
        super().__init__("for Cloud Storage", NEEDS, reason)


def client(project: str | None = None) -> Any:
    """A `google.cloud.storage.Client` for `project` (None: the credentials' own project; the emulator's
    placeholder under STORAGE_EMULATOR_HOST). Raises NoCredentials when there are none to use."""
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
