"""The Direct Access bucket's objects, listed through google-cloud-storage (an emulator under
STORAGE_EMULATOR_HOST): what `generate` reads. google-cloud-storage is imported only when a listing starts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import IO, Any

from iac.errors import IacError
from iac.gcp import credentials as gcp
from iac.gcp import storage
from iac.manifest.objects import ObjectUnreadable, StoredObject


def list_bucket(bucket: str, prefix: str | None, *, connections: int = 1) -> Iterator[StoredObject]:
    """Stream the bucket's objects through google-cloud-storage, page by page. `connections`: how many of
    them the caller reads at a time."""
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions
    from requests import exceptions as requests_exceptions

    try:
        client = storage.client(connections=connections)
    except storage.NoCredentials as exc:
        raise IacError(f"gs://{bucket}: {exc}") from None
    try:
        for blob in client.list_blobs(bucket, prefix=prefix or None, page_size=1000):
            yield StoredObject(
                name=blob.name,
                size=int(blob.size or 0),
                content_type=blob.content_type,
                read=_reader(blob),
                copy_to=_copier(blob),
            )
    except exceptions.NotFound:
        raise IacError(f"gs://{bucket}: bucket not found") from None
    except exceptions.GoogleAPICallError as exc:
        raise IacError(f"gs://{bucket}: cannot list objects: {exc.message}") from None
    except (exceptions.RetryError, requests_exceptions.RequestException) as exc:
        # The network, not the API, failed (after google-api-core's retries): say so, no traceback.
        raise IacError(
            f"gs://{bucket}: cannot reach Cloud Storage to list the objects ({exc}): check the network, a proxy, "
            "or STORAGE_EMULATOR_HOST, then run again (the files written so far are kept and completed)"
        ) from None
    except auth_exceptions.GoogleAuthError as exc:  # e.g. expired or revoked credentials, refused on first use
        why = gcp.reason(exc)
        raise IacError(
            f"gs://{bucket}: Google credentials refused ({why}): {gcp.ADC_HELP} with {storage.NEEDS}"
        ) from None


@contextlib.contextmanager
def _reading(blob: Any) -> Iterator[None]:
    from google.api_core import exceptions

    try:
        yield
    except exceptions.NotFound:
        raise ObjectUnreadable("object deleted or replaced after it was listed") from None
    except exceptions.GoogleAPICallError as exc:
        raise IacError(f"gs://{blob.bucket.name}/{blob.name}: cannot read: {exc.message}") from None


def _reader(blob: Any) -> Callable[[int | None], bytes]:
    def read(limit: int | None) -> bytes:
        with _reading(blob):
            if limit is None:
                return bytes(blob.download_as_bytes())
            return bytes(blob.download_as_bytes(start=0, end=limit - 1))

    return read


def _copier(blob: Any) -> Callable[[IO[bytes]], None]:
    def copy_to(handle: IO[bytes]) -> None:
        with _reading(blob):
            blob.download_to_file(handle)  # streamed in chunks of a few KiB

    return copy_to
