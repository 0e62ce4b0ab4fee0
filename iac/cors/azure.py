"""CORS of an Azure storage account's Blob service: rules in azure-storage-blob's shape, a service-properties
document with the equivalent `az storage cors add` commands, and the account's live rules.

CORS on Azure is a service property of the whole storage account (at most 5 rules, no rule IDs): iac owns a rule
when all its origins are Encord's or ours (`policy.owned_by_iac`). azure-storage-blob and azure-identity are
imported only inside `Store`, so `iac --help` and `iac render` never load them.

Credentials: AZURE_STORAGE_CONNECTION_STRING if set (it must be for the target's account), else the target's
account URL (default https://<account>.blob.core.windows.net) with azure-identity's DefaultAzureCredential.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from typing import Any

from iac.config import AzureCorsTarget, CorsRule
from iac.cors.policy import Native
from iac.cors.provider import Provider, ProviderModule, check_methods, missing_sdk
from iac.errors import IacError

NAME = "azure"
MAX_RULES = 5
METHODS = frozenset({"DELETE", "GET", "HEAD", "MERGE", "POST", "OPTIONS", "PUT", "PATCH"})

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
# The SDK's storage retry policy waits 15 s, then 18 s, then 24 s (about 75 s before an unreachable endpoint
# fails); a CLI run retries the same 3 times after about 1, 3 and 5 s.
_RETRY: dict[str, Any] = {"retry_total": 3, "initial_backoff": 1, "increment_base": 2}


def _split(value: str | Iterable[str] | None) -> list[str]:
    """A comma-delimited string (what the service returns) or a list, as a list of non-empty items."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item.strip()]


def native(rule: CorsRule) -> Native:
    """`rule` as one azure-storage-blob CorsRule, as a dict of lists (Azure requires every field; no max age is 0).

    A method Azure does not accept is refused here as well, so no caller builds a rule the service rejects.
    """
    check_methods(NAME, METHODS, rule)
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


def _az_command(rule: Native, account: str | None) -> str:
    args = ["az", "storage", "cors", "add"]
    if account:
        args += ["--account-name", account]
    args += ["--services", "b", "--methods", *_split(rule.get("allowed_methods"))]
    args += ["--origins", *_split(rule.get("allowed_origins"))]
    if allowed := _split(rule.get("allowed_headers")):
        args += ["--allowed-headers", *allowed]
    if exposed := _split(rule.get("exposed_headers")):
        args += ["--exposed-headers", *exposed]
    args += ["--max-age", str(int(rule.get("max_age_in_seconds") or 0))]
    return shlex.join(args)


def document(rules: Sequence[Native], account: str | None = None) -> str:
    """The Blob service's CORS properties (`{"Cors": {"CorsRule": [...]}}`, as in the REST API and ARM) and the
    equivalent Azure CLI commands under "az".

    `az storage cors add` appends one rule, so the commands add the rules to what the account has (the other
    commands of the CLI never clear it); with no rules, the command is `az storage cors clear`. Without `account`,
    the commands leave out --account-name and az takes the account from AZURE_STORAGE_ACCOUNT or
    AZURE_STORAGE_CONNECTION_STRING.
    """
    cors_rules = [
        {
            "AllowedOrigins": ",".join(_split(rule.get("allowed_origins"))),
            "AllowedMethods": ",".join(_split(rule.get("allowed_methods"))),
            "AllowedHeaders": ",".join(_split(rule.get("allowed_headers"))),
            "ExposedHeaders": ",".join(_split(rule.get("exposed_headers"))),
            "MaxAgeInSeconds": int(rule.get("max_age_in_seconds") or 0),
        }
        for rule in rules
    ]
    if rules:
        commands = [_az_command(rule, account) for rule in rules]
    else:
        account_args = ["--account-name", account] if account else []
        commands = [shlex.join(["az", "storage", "cors", "clear", *account_args, "--services", "b"])]
    return json.dumps({"Cors": {"CorsRule": cors_rules}, "az": commands}, indent=2) + "\n"


def document_name(target: AzureCorsTarget) -> str:
    return f"azure-{target.account}.json"


def documents(target: AzureCorsTarget, rule: CorsRule) -> dict[str, bytes]:
    """The account's CORS properties and `az` commands (CORS is the account's, not a resource of its own)."""
    return {document_name(target): document([native(rule)], account=target.account).encode("utf-8")}


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
        self.description = f"azure blob service of account {target.account}"
        self._secrets: list[str] = []
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
                self._client = BlobServiceClient.from_connection_string(connection_string, **_RETRY)
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
        try:
            self._client = BlobServiceClient(account_url=account_url, credential=DefaultAzureCredential(), **_RETRY)
        except self._errors as exc:
            raise IacError(f"{self.description}: cannot create the Blob service client: {self._message(exc)}") from None

    def read(self) -> list[Native]:
        """The account's Blob service CORS rules as dicts of lists; [] when it has none."""
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
        """
        if len(rules) > MAX_RULES:
            raise IacError(f"{self.description}: {len(rules)} CORS rules, Azure allows at most {MAX_RULES}")
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


PROVIDER: Provider[AzureCorsTarget] = ProviderModule(METHODS, MAX_RULES, Store, native, parse, documents)
