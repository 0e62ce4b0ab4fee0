"""Encord, through its official SDK (`encord`, an optional extra): the key, the cloud integration, the storage
folder, an upload job's start and its state, a dataset to link items to. Plain inputs and outputs; the SDK's
errors become IacErrors that say what to do.

`encord` takes most of a second to import and brings its own dependencies: it is imported only inside the
functions that call it, so no other command pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from iac.config.models import ENCORD_DOMAIN, ENCORD_US_DOMAIN, encord_domain_problem
from iac.errors import IacError
from iac.manifest.registrations import UnitError
from iac.untrusted import printable

KEY_FILE_VARIABLE = "ENCORD_SSH_KEY_FILE"
KEY_VARIABLE = "ENCORD_SSH_KEY"
DOMAIN_VARIABLE = "IAC_ENCORD_DOMAIN"
INSTALL = "pip install 'encord-da-iac[encord]'"
NO_KEY = (
    f"no Encord key: set {KEY_FILE_VARIABLE} to the path of your Encord private key file, or {KEY_VARIABLE} to the "
    "key itself. The key must be an Ed25519 key (ssh-keygen -t ed25519) whose public half is registered in Encord "
    "(Settings > Public keys)"
)
# Encord's two deployments: a key registered with one is unknown to the other.
_OTHER_REGION = {ENCORD_DOMAIN: ENCORD_US_DOMAIN, ENCORD_US_DOMAIN: ENCORD_DOMAIN}
# Seconds a request may take to connect or to answer (a long poll is answered within its own timeout).
CONNECT_TIMEOUT = 30
READ_TIMEOUT = 180

T = TypeVar("T")


class EncordError(IacError):
    """Encord refused a call, or could not be reached; `transient` when trying again later may work."""

    def __init__(self, message: str, *, transient: bool = False, rejected: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.rejected = rejected  # Encord answered no (a 4xx): nothing was made


def key_present(environ: Mapping[str, str] = os.environ) -> bool:
    return bool(environ.get(KEY_FILE_VARIABLE) or environ.get(KEY_VARIABLE))


def require_key(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse to go on without a key in the SDK's variables, before any network call."""
    if not key_present(environ):
        raise IacError(NO_KEY)
    path = environ.get(KEY_FILE_VARIABLE)
    if path and not os.path.isfile(os.path.expanduser(path)):
        raise IacError(f"{KEY_FILE_VARIABLE}={path}: no such file: give the path of your Encord private key file")


def domain(configured: str | None) -> str:
    """The API domain: IAC_ENCORD_DOMAIN, else `encord.domain`, else Encord's EU deployment."""
    chosen = os.environ.get(DOMAIN_VARIABLE)
    if chosen:
        problem = encord_domain_problem(chosen)
        if problem:
            raise IacError(f"{DOMAIN_VARIABLE}={chosen!r}: {problem}")
        return chosen.rstrip("/")
    return (configured or ENCORD_DOMAIN).rstrip("/")


@dataclass(frozen=True)
class JobState:
    """An upload job's state, as Encord reported it."""

    status: str  # PENDING, DONE, ERROR, CANCELLED
    units_pending: int
    units_done: int
    units_error: int
    units_cancelled: int
    unit_errors: tuple[UnitError, ...]
    errors: tuple[str, ...]
    items: tuple[str, ...]  # the storage items made (UUIDs)


class Folder:
    """A storage folder: its name and UUID, and the SDK's object for it."""

    def __init__(self, sdk_folder: Any) -> None:
        self.sdk = sdk_folder
        self.uuid = str(sdk_folder.uuid)
        self.name = str(sdk_folder.name)


class Encord:
    """A client signed in with the key of ENCORD_SSH_KEY_FILE or ENCORD_SSH_KEY (the SDK reads them), talking to
    `domain`. The SDK retries nothing here (the start call must never be sent twice); callers retry what is safe."""

    def __init__(self, domain: str, *, timeout: int = READ_TIMEOUT) -> None:
        self.domain = domain
        try:
            from encord.http.constants import RequestsSettings
            from encord.user_client import EncordUserClient
        except ImportError:
            raise IacError(f"the Encord SDK is not installed: {INSTALL}") from None
        settings = RequestsSettings(
            max_retries=0, connection_retries=0, connect_timeout=min(CONNECT_TIMEOUT, timeout), read_timeout=timeout
        )
        try:
            self.client = EncordUserClient.create_with_ssh_private_key(domain=domain, requests_settings=settings)
        except Exception:
            # The SDK's own message may quote the key itself: never shown.
            where = KEY_FILE_VARIABLE if os.environ.get(KEY_FILE_VARIABLE) else KEY_VARIABLE
            raise IacError(
                f"the key in {where} is not an unencrypted Ed25519 private key in OpenSSH format: Encord takes only "
                "Ed25519 keys (ssh-keygen -t ed25519 -N ''), and iac cannot ask for a passphrase"
            ) from None

    def call(self, doing: str, func: Callable[[], T]) -> T:
        """`func()`, its SDK errors as an EncordError saying what was being done and what to do."""
        try:
            return func()
        except Exception as exc:
            raise self.error(doing, exc) from None

    def error(self, doing: str, exc: BaseException) -> EncordError:
        """What an exception of the SDK means, in words that say what to do. Encord's own text is escaped."""
        import requests
        from encord import exceptions as sdk

        said = printable(str(getattr(exc, "message", "") or exc))
        if isinstance(exc, (sdk.AuthenticationError, sdk.SshKeyNotFound)):
            other = _OTHER_REGION.get(self.domain)
            region = (
                f"; if it is registered with Encord's other deployment, set encord.domain: {other} "
                f"(or {DOMAIN_VARIABLE}={other})"
                if other
                else f"; Encord's deployments are {ENCORD_DOMAIN} (EU) and {ENCORD_US_DOMAIN} (US)"
            )
            return EncordError(
                f"{doing}: Encord at {self.domain} does not know the key (401): its public half is not registered "
                f"with this deployment{region}",
                rejected=True,
            )
        if isinstance(exc, sdk.AuthorisationError):
            return EncordError(
                f"{doing}: Encord refused access (403): the key's user may not do this: {said}", rejected=True
            )
        if isinstance(exc, sdk.PayloadTooLargeError):
            return EncordError(
                f"{doing}: Encord refused the file as too large (413: {said}): write smaller files with "
                "`iac manifest generate --images-per-file N` (and --videos-per-file N), then register them",
                rejected=True,
            )
        if isinstance(exc, sdk.RateLimitExceededError):
            return EncordError(f"{doing}: Encord is rate-limiting this key (429)", transient=True)
        if isinstance(exc, (sdk.InvalidArgumentsError, sdk.ResourceNotFoundError, sdk.MethodNotAllowedError)):
            return EncordError(f"{doing}: Encord refused it: {said}", rejected=True)
        if isinstance(exc, (sdk.RequestException, requests.RequestException)):
            cause = exc.__cause__ or exc
            return EncordError(
                f"{doing}: no answer from Encord at {self.domain}: {printable(type(cause).__name__)}", transient=True
            )
        if isinstance(exc, sdk.EncordException):
            return EncordError(f"{doing}: Encord answered with an error: {said}", transient=True)
        if isinstance(exc, IacError):
            return EncordError(str(exc))
        return EncordError(f"{doing}: unexpected error from the Encord SDK: {type(exc).__name__}: {said}")

    # --- the calls ------------------------------------------------------------------------------------------

    def integration(self, title: str) -> str:
        """The id of the cloud integration titled `title`; none is an error listing the titles the key can see."""
        found = self.call(
            f"looking up the cloud integration {title!r}",
            lambda: self.client.get_cloud_integrations(filter_integration_titles=[title]),
        )
        exact = [integration.id for integration in found if integration.title == title]
        if exact:
            return str(exact[0])
        every = self.call("listing the cloud integrations", lambda: self.client.get_cloud_integrations())
        titles = sorted({printable(integration.title) for integration in every})
        seen = ", ".join(repr(t) for t in titles[:50]) + (f" and {len(titles) - 50} more" if len(titles) > 50 else "")
        raise IacError(
            f"no cloud integration titled {printable(title)!r} is visible to this key at {self.domain}"
            + (f": it can see {seen}" if titles else ": it can see none")
            + "; set encord.integration (or --integration) to the title of the Direct Access integration"
        )

    def folder(self, name: str, *, create: bool) -> tuple[Folder, bool]:
        """The storage folder named `name` (made when missing and `create`), and whether it was made."""
        found = self.call(
            f"looking up the storage folder {name!r}", lambda: list(self.client.find_storage_folders(search=name))
        )
        exact = [folder for folder in found if folder.name == name]
        top = [folder for folder in exact if folder.parent is None] or exact
        if len(top) > 1:
            uuids = ", ".join(str(folder.uuid) for folder in top)
            raise IacError(
                f"{len(top)} storage folders are named {printable(name)!r} ({uuids}): rename all but one in Encord, "
                "or choose another with encord.folder (or --folder)"
            )
        if top:
            return Folder(top[0]), False
        if not create:
            raise IacError(
                f"no storage folder named {printable(name)!r} is visible to this key at {self.domain}: create it "
                "with --create-folder (or in Encord's web app), or name another with encord.folder (or --folder)"
            )
        made = self.call(f"creating the storage folder {name!r}", lambda: self.client.create_storage_folder(name))
        return Folder(made), True

    def folder_by_uuid(self, uuid: str) -> Folder:
        return Folder(self.call(f"reading the storage folder {uuid}", lambda: self.client.get_storage_folder(uuid)))

    def start(self, folder: Folder, integration_id: str, document: dict[str, Any], ignore_errors: bool) -> str:
        """Start an upload job for `document` (a registration file's JSON): its id. Sent once, never retried."""
        job = folder.sdk.add_private_data_to_folder_start(integration_id, document, ignore_errors=ignore_errors)
        return str(job)

    def state(self, folder: Folder, job_id: str, wait: int) -> JobState:
        """The job's state, waiting up to `wait` seconds (at least 1) for it to end."""
        from uuid import UUID

        state = folder.sdk.add_private_data_to_folder_get_result(UUID(job_id), timeout_seconds=max(1, wait))
        return JobState(
            status=str(getattr(state.status, "value", state.status)),
            units_pending=int(state.units_pending_count),
            units_done=int(state.units_done_count),
            units_error=int(state.units_error_count),
            units_cancelled=int(state.units_cancelled_count),
            unit_errors=tuple(
                UnitError(tuple(str(url) for url in unit.object_urls), str(unit.error)) for unit in state.unit_errors
            ),
            errors=tuple(str(error) for error in state.errors),
            items=tuple(str(item.item_uuid) for item in state.items_with_names),
        )

    def dataset(self, title: str) -> tuple[Any, str, bool]:
        """The dataset titled `title` (made when missing): the SDK's object, its id, and whether it was made."""
        from encord.orm.dataset import StorageLocation

        found = self.call(f"looking up the dataset {title!r}", lambda: self.client.get_datasets(title_eq=title))
        exact = [row["dataset"].dataset_hash for row in found if row["dataset"].title == title]
        if len(exact) > 1:
            raise IacError(
                f"{len(exact)} datasets are titled {printable(title)!r} ({', '.join(exact)}): rename all but one in "
                "Encord, or choose another with encord.dataset (or --dataset)"
            )
        made = not exact
        if made:
            created = self.call(
                f"creating the dataset {title!r}",
                lambda: self.client.create_dataset(title, StorageLocation.NEW_STORAGE, create_backing_folder=False),
            )
            dataset_id = str(created.dataset_hash)
        else:
            dataset_id = str(exact[0])
        sdk_dataset = self.call(
            f"opening the dataset {title!r}", lambda: self.client.get_dataset(dataset_id, include_data_rows=False)
        )
        return sdk_dataset, dataset_id, made

    def link(self, dataset: Any, items: tuple[str, ...]) -> None:
        """Link storage items to the dataset; those linked already are skipped."""
        from uuid import UUID

        from encord.orm.dataset import DataLinkDuplicatesBehavior

        self.call(
            "linking the items to the dataset",
            lambda: dataset.link_items([UUID(item) for item in items], DataLinkDuplicatesBehavior.SKIP),
        )
