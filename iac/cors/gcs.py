"""Google Cloud Storage bucket CORS, through google-cloud-storage (`bucket.cors`, `bucket.patch()`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from iac.config.cors import CorsRule, GcpCorsTarget
from iac.cors.policy import Native
from iac.cors.provider import Document, Provider, ProviderModule
from iac.errors import IacError
from iac.gcp import credentials as gcp
from iac.gcp import storage

# GCS documents no rule limit of its own; keep the list as small as S3's.
MAX_RULES = 100
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"})
CREDENTIALS = f"{gcp.ADC_HELP[0].upper()}{gcp.ADC_HELP[1:]} with {storage.NEEDS}"


def native(rule: CorsRule) -> Native:
    document: Native = {"origin": list(rule.origins), "method": list(rule.methods)}
    if rule.exposed_headers:
        document["responseHeader"] = list(rule.exposed_headers)
    if rule.max_age is not None:
        document["maxAgeSeconds"] = rule.max_age
    return document


def parse(document: Native) -> CorsRule:
    return CorsRule(
        origins=tuple(document.get("origin", ())),
        methods=tuple(m.upper() for m in document.get("method", ())),
        # GCS has no allowed-headers list: simple requests only need the method and origin.
        allowed_headers=("*",),
        exposed_headers=tuple(document.get("responseHeader", ())),
        max_age=document.get("maxAgeSeconds"),
    )


def document(rules: Sequence[Native]) -> str:
    """The JSON list `gcloud storage buckets update gs://BUCKET --cors-file=FILE` takes."""
    return json.dumps(list(rules), indent=2) + "\n"


def document_name(target: GcpCorsTarget) -> str:
    return f"gcs-{target.bucket}.json"


def describe(target: GcpCorsTarget) -> str:
    return f"gs://{target.bucket}"


def documents(target: GcpCorsTarget, rule: CorsRule) -> list[Document]:
    """The `--cors-file` list (GCS keeps CORS inside the bucket resource: no Terraform of its own)."""
    return [
        Document(
            document_name(target),
            document([native(rule)]).encode("utf-8"),
            f"gcloud storage buckets update gs://{target.bucket} --cors-file={{path}} (it replaces the bucket's whole "
            "CORS configuration; `iac cors apply` keeps other apps' rules)",
        )
    ]


class Store:
    """The CORS configuration of one bucket; STORAGE_EMULATOR_HOST points the client at an emulator."""

    def __init__(self, target: GcpCorsTarget) -> None:
        import importlib

        try:
            sdk = importlib.import_module("google.cloud.storage")
        except ImportError:  # pragma: no cover - a core dependency
            raise IacError(
                "GCS CORS needs the google-cloud-storage package, a dependency of iac: reinstall iac "
                "(`pip install .` in a checkout of iac)"
            ) from None
        self.description = describe(target)
        self._storage = sdk
        self._name = target.bucket
        self._bucket: Any = None

    def _client_bucket(self) -> Any:
        if self._bucket is None:
            try:
                client = storage.client()
            except storage.NoCredentials as exc:
                raise IacError(f"{self.description}: {exc}") from None
            self._bucket = client.bucket(self._name)
        return self._bucket

    def read(self) -> list[Native]:
        from google.api_core import exceptions

        bucket = self._client_bucket()
        try:
            bucket.reload()
        except exceptions.NotFound:
            raise IacError(f"{self.description}: bucket not found (check the name and the project)") from None
        except exceptions.GoogleAPICallError as exc:
            raise IacError(f"{self.description}: cannot read the bucket's CORS: {exc.message}") from None
        return [dict(rule) for rule in bucket.cors or []]

    def write(self, rules: list[Native]) -> None:
        from google.api_core import exceptions

        bucket = self._client_bucket()
        bucket.cors = rules
        try:
            bucket.patch()
        except exceptions.GoogleAPICallError as exc:
            raise IacError(f"{self.description}: cannot set the bucket's CORS: {exc.message}") from None


PROVIDER: Provider[GcpCorsTarget] = ProviderModule(
    GcpCorsTarget, CREDENTIALS, METHODS, MAX_RULES, Store, native, parse, describe, documents
)
