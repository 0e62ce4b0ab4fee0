"""CORS of an Azure storage account's Blob service: rules in azure-storage-blob's shape, the Set Blob Service
Properties request body and an idempotent `az` script, and the account's live rules.

CORS on Azure is a service property of the whole storage account (at most 5 rules, no rule IDs): iac owns a rule
when all its origins are Encord's or ours (`policy.owned_by_iac`). azure-storage-blob and azure-identity are
imported only inside `Store`, so `iac --help` and `iac render` never load them.

Credentials: AZURE_STORAGE_CONNECTION_STRING if set (it must be for the target's account), else the target's
account URL (default https://<account>.blob.core.windows.net) with azure-identity's DefaultAzureCredential, asked
once for a token, within CREDENTIAL_TIMEOUT, before the first call.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any

from iac.config.cors import AzureCorsTarget, CorsRule
from iac.cors.policy import Native
from iac.cors.provider import Document, Provider, ProviderModule, missing_sdk, no_credentials
from iac.errors import IacError

MAX_RULES = 5
METHODS = frozenset({"DELETE", "GET", "HEAD", "MERGE", "POST", "OPTIONS", "PUT", "PATCH"})

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
CREDENTIALS = (
    f"set {CONNECTION_STRING_ENV} to the account's connection string, or sign in for azure-identity "
    "(`az login`, AZURE_CLIENT_ID with AZURE_TENANT_ID and AZURE_CLIENT_SECRET, or a managed identity)"
)
# The longest iac waits for azure-identity to find a credential (it tries the environment, a managed identity,
# the az/azd/PowerShell sign-ins in turn); the token is asked for once, so no retry repeats the search.
CREDENTIAL_TIMEOUT = 30.0
_STORAGE_SCOPE = "https://storage.azure.com/.default"
# The SDK's storage retry policy waits 15 s, then 18 s, then 24 s (about 75 s before an unreachable endpoint
# fails); a CLI run retries the same 3 times after about 1, 3 and 5 s.
_RETRY: dict[str, Any] = {"retry_total": 3, "initial_backoff": 1, "increment_base": 2}


def _client_options() -> dict[str, Any]:
    """The SDK's retry policy above, and its connection and read timeouts within iac's caps on network reads
    (`iac.untrusted.Bounds`; the SDK's own read timeout is 60 s per request)."""
    from iac.untrusted import Bounds

    bounds = Bounds.current()
    return {**_RETRY, "connection_timeout": bounds.connect_timeout, "read_timeout": bounds.read_timeout}


def _split(value: str | Iterable[str] | None) -> list[str]:
    """A comma-delimited string (what the service returns) or a list, as a list of non-empty items."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def native(rule: CorsRule) -> Native:
    """`rule` as one azure-storage-blob CorsRule, as a dict of lists (Azure requires every field; no max age is 0)."""
    return {
        "allowed_origins": list(rule.origins),
        "allowed_methods": list(rule.methods),
        "allowed_headers": list(rule.allowed_headers),
        "exposed_headers": list(rule.exposed_headers),
        "max_age_in_seconds": 0 if rule.max_age is None else rule.max_age,
    }


def parse(native: Native) -> CorsRule:
    """An Azure CORS rule (lists, or the service's comma-delimited strings) back to a CorsRule; Azure has no IDs."""
    max_age = native.get("max_age_in_seconds")
    return CorsRule(
        origins=tuple(_split(native.get("allowed_origins"))),
        methods=tuple(m.upper() for m in _split(native.get("allowed_methods"))),
        allowed_headers=tuple(_split(native.get("allowed_headers"))),
        exposed_headers=tuple(_split(native.get("exposed_headers"))),
        max_age=None if max_age is None else int(max_age),
        id=None,
    )


def document(rules: Sequence[Native]) -> str:
    """The request body of Set Blob Service Properties with only its Cors element, as the REST API takes it (the
    elements it leaves out, logging, metrics, retention, keep their settings)."""
    root = ET.Element("StorageServiceProperties")
    cors = ET.SubElement(root, "Cors")
    for rule in rules:
        element = ET.SubElement(cors, "CorsRule")
        # In the order azure-storage-blob sends them.
        ET.SubElement(element, "AllowedOrigins").text = ",".join(_split(rule.get("allowed_origins")))
        ET.SubElement(element, "AllowedMethods").text = ",".join(_split(rule.get("allowed_methods")))
        ET.SubElement(element, "AllowedHeaders").text = ",".join(_split(rule.get("allowed_headers")))
        ET.SubElement(element, "ExposedHeaders").text = ",".join(_split(rule.get("exposed_headers")))
        ET.SubElement(element, "MaxAgeInSeconds").text = str(int(rule.get("max_age_in_seconds") or 0))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _az_add(rule: Native, account: str) -> list[str]:
    args = ["az", "storage", "cors", "add", "--account-name", account, "--services", "b"]
    args += ["--methods", *_split(rule.get("allowed_methods"))]
    args += ["--origins", *_split(rule.get("allowed_origins"))]
    if allowed := _split(rule.get("allowed_headers")):
        args += ["--allowed-headers", *allowed]
    if exposed := _split(rule.get("exposed_headers")):
        args += ["--exposed-headers", *exposed]
    return [*args, "--max-age", str(int(rule.get("max_age_in_seconds") or 0))]


def commands(rules: Sequence[Native], account: str) -> str:
    """A shell script that leaves exactly `rules` on the account's Blob service, however often it runs:
    `az storage cors clear`, then one `az storage cors add` per rule (add appends, so it never runs alone)."""
    lines = [
        "#!/bin/sh",
        f"# CORS of the Blob service of storage account {account}, for Encord's web app. Replaces every CORS rule",
        "# of the account (other apps' too: `iac cors apply` keeps them); running it again changes nothing.",
        "# az takes the account key from AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING, or looks it up",
        "# after `az login`.",
        "set -eu",
        shlex.join(["az", "storage", "cors", "clear", "--account-name", account, "--services", "b"]),
        *(shlex.join(_az_add(rule, account)) for rule in rules),
    ]
    return "\n".join(lines) + "\n"


def describe(target: AzureCorsTarget) -> str:
    return f"azure blob service of account {target.account}"


def document_name(target: AzureCorsTarget) -> str:
    return f"azure-{target.account}.xml"


def documents(target: AzureCorsTarget, rule: CorsRule) -> list[Document]:
    """The Set Blob Service Properties body and the `az` script (CORS is the account's, not a resource of its own)."""
    ours = [native(rule)]
    url = f"{target.account_url or f'https://{target.account}.blob.core.windows.net'}/?restype=service&comp=properties"
    replaces = "it replaces every CORS rule of the account; `iac cors apply` keeps other apps' rules"
    return [
        Document(
            document_name(target),
            document(ours).encode("utf-8"),
            f"the request body of Set Blob Service Properties: PUT {url}, signed for the account ({replaces})",
        ),
        Document(
            f"azure-{target.account}.sh", commands(ours, target.account).encode("utf-8"), f"sh {{path}} ({replaces})"
        ),
    ]


def _connection_settings(connection_string: str) -> dict[str, str]:
    """`Key=value;...` pairs, keys upper-cased (the SDK reads them case-insensitively)."""
    settings: dict[str, str] = {}
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            settings[key.strip().upper()] = value.strip()
    return settings


class Store:
    """The CORS rules of one storage account's Blob service, read and replaced through azure-storage-blob."""

    def __init__(self, target: AzureCorsTarget) -> None:
        self.account = target.account
        self.description = describe(target)
        self._secrets: list[str] = []
        self._credential: Any = None  # azure-identity's, when there is no connection string
        self._signed_in = False
        try:
            from azure.core.exceptions import AzureError
            from azure.storage.blob import BlobServiceClient
        except ImportError as exc:
            raise missing_sdk("CORS on Azure Blob storage", "azure-storage-blob", "azure", exc) from None
        self._errors: tuple[type[Exception], ...] = (AzureError, ValueError)

        connection_string = os.environ.get(CONNECTION_STRING_ENV, "").strip()
        if connection_string:
            settings = _connection_settings(connection_string)
            self._secrets = [connection_string] + [
                settings[key] for key in ("ACCOUNTKEY", "SHAREDACCESSSIGNATURE") if settings.get(key)
            ]
            named = settings.get("ACCOUNTNAME")
            if named and named != target.account:
                raise IacError(
                    f"{self.description}: {CONNECTION_STRING_ENV} is for the account {named}, not {target.account}"
                    f" (unset it to sign in with azure-identity, or set it for {target.account})"
                )
            try:
                self._client = BlobServiceClient.from_connection_string(connection_string, **_client_options())
            except self._errors as exc:
                raise IacError(
                    f"{self.description}: cannot use {CONNECTION_STRING_ENV}: {self._message(exc)}"
                ) from None
            return

        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise missing_sdk("CORS on Azure Blob storage", "azure-identity", "azure", exc) from None
        account_url = target.account_url or f"https://{target.account}.blob.core.windows.net"
        self._credential = DefaultAzureCredential()
        try:
            self._client = BlobServiceClient(account_url=account_url, credential=self._credential, **_client_options())
        except self._errors as exc:
            raise IacError(f"{self.description}: cannot create the Blob service client: {self._message(exc)}") from None

    def _sign_in(self, doing: str) -> None:
        """Ask azure-identity for a token once, within CREDENTIAL_TIMEOUT (with a connection string, nothing to do).

        Without this, each of the client's retries would search for a credential again, logging the whole
        search each time. What azure-identity logs goes to handlers the caller configured, never to stderr.
        """
        if self._credential is None or self._signed_in:
            return
        azure_logger = logging.getLogger("azure")
        if not azure_logger.handlers:  # a handler, so Python's last resort never prints the SDK's warnings
            azure_logger.addHandler(logging.NullHandler())
        outcome: list[BaseException | None] = []

        def get_token() -> None:
            try:
                self._credential.get_token(_STORAGE_SCOPE)
                outcome.append(None)
            except Exception as exc:  # ClientAuthenticationError, or a transport error of a probe
                outcome.append(exc)

        worker = threading.Thread(target=get_token, name="azure-credential", daemon=True)
        worker.start()
        worker.join(CREDENTIAL_TIMEOUT)
        if not outcome:
            raise IacError(
                f"{self.description}: {doing} failed: no Azure credential found within {CREDENTIAL_TIMEOUT:.0f} s: "
                f"{CREDENTIALS}"
            )
        if outcome[0] is not None:
            raise no_credentials(f"{self.description}: {doing} failed", CREDENTIALS)
        self._signed_in = True

    def read(self) -> list[Native]:
        """The account's Blob service CORS rules as dicts of lists; [] when it has none."""
        self._sign_in("reading the CORS rules")
        try:
            properties = self._client.get_service_properties()
        except self._errors as exc:
            raise IacError(f"{self.description}: reading the CORS rules failed: {self._message(exc)}") from None
        rules: list[Any] = properties.get("cors") or []
        return [
            {
                "allowed_origins": _split(rule.allowed_origins),
                "allowed_methods": _split(rule.allowed_methods),
                "allowed_headers": _split(rule.allowed_headers),
                "exposed_headers": _split(rule.exposed_headers),
                "max_age_in_seconds": int(rule.max_age_in_seconds or 0),
            }
            for rule in rules
        ]

    def write(self, rules: list[Native]) -> None:
        """Replace the account's Blob service CORS rules with `rules` ([] removes them all).

        Only the Cors element is sent: logging, metrics, delete retention and static website stay as they are.
        At most MAX_RULES, which `iac.cors.targets` checks before it calls.
        """
        self._sign_in("writing the CORS rules")
        from azure.storage.blob import CorsRule

        cors = [
            CorsRule(
                _split(rule.get("allowed_origins")),
                _split(rule.get("allowed_methods")),
                allowed_headers=_split(rule.get("allowed_headers")),
                exposed_headers=_split(rule.get("exposed_headers")),
                max_age_in_seconds=int(rule.get("max_age_in_seconds") or 0),
            )
            for rule in rules
        ]
        try:
            self._client.set_service_properties(cors=cors)
        except self._errors as exc:
            raise IacError(f"{self.description}: writing the CORS rules failed: {self._message(exc)}") from None

    def _message(self, exc: Exception) -> str:
        """The service's message (first line) and error code, with any key, SAS or connection string blanked."""
        text = str(exc).strip() or type(exc).__name__
        if getattr(exc, "response", None) is not None:
            # A service error: the first line says what failed; the rest is request IDs and the raw XML body.
            text = text.splitlines()[0]
            code = getattr(exc, "error_code", None)
            code = getattr(code, "value", code)  # a StorageErrorCode enum member, or the service's string
            if code and str(code) not in text:
                text = f"{text} ({code})"
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return re.sub(r"(?i)\b(sig|AccountKey|SharedAccessSignature)=[^&;\s'\"]+", r"\1=***", text)


PROVIDER: Provider[AzureCorsTarget] = ProviderModule(
    AzureCorsTarget, CREDENTIALS, METHODS, MAX_RULES, Store, native, parse, describe, documents
)
