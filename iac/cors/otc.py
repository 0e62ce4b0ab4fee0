"""CORS on an Open Telekom Cloud OBS bucket: S3-shaped rules, the SetBucketCors XML body, and the live rules.

OBS speaks S3's CORS model, so a rule is the same dict as on S3 (`iac.cors.s3rules`). The live configuration is
read and written with Huawei's OBS SDK (esdk-obs-python, imported only inside `Store`). Credentials come from
OBS_ACCESS_KEY_ID / OBS_SECRET_ACCESS_KEY (and OBS_SECURITY_TOKEN for temporary credentials).
"""

from __future__ import annotations

import importlib
import os
import ssl
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from iac.config.cors import CorsRule, OtcCorsTarget
from iac.cors import s3rules
from iac.cors.policy import Native
from iac.cors.provider import Document, Provider, ProviderModule, missing_sdk, no_credentials
from iac.errors import IacError
from iac.untrusted import Bounds

MAX_RULES = 100
METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
CREDENTIALS = "set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY (and OBS_SECURITY_TOKEN for temporary credentials)"
native = s3rules.native
parse = s3rules.parse

# (native key, XML element, SDK CorsRule attribute), in the order OBS documents and its SDK writes them.
_LIST_FIELDS = (
    ("AllowedMethods", "AllowedMethod", "allowedMethod"),
    ("AllowedOrigins", "AllowedOrigin", "allowedOrigin"),
    ("AllowedHeaders", "AllowedHeader", "allowedHeader"),
)
_EXPOSE = ("ExposeHeaders", "ExposeHeader", "exposeHeader")
_REQUIRED = frozenset({"AllowedMethods", "AllowedOrigins"})


def describe(target: OtcCorsTarget) -> str:
    return f"obs://{target.bucket} ({target.region})"


def document(rules: Sequence[Native]) -> str:
    """The XML body of OBS SetBucketCors (PUT /?cors), e.g. for `obsutil` or a signed request."""
    root = ET.Element("CORSConfiguration")
    for rule in rules:
        element = ET.SubElement(root, "CORSRule")
        if rule.get("ID") is not None:
            ET.SubElement(element, "ID").text = str(rule["ID"])
        for key, tag, _ in _LIST_FIELDS:
            for value in rule.get(key) or ():
                ET.SubElement(element, tag).text = str(value)
        if rule.get("MaxAgeSeconds") is not None:
            ET.SubElement(element, "MaxAgeSeconds").text = str(rule["MaxAgeSeconds"])
        for value in rule.get(_EXPOSE[0]) or ():
            ET.SubElement(element, _EXPOSE[1]).text = str(value)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def document_name(target: OtcCorsTarget) -> str:
    return f"otc-obs-{target.bucket}.xml"


def documents(target: OtcCorsTarget, rule: CorsRule) -> list[Document]:
    """The SetBucketCors body (OBS has no CORS resource of its own in Terraform: it is the bucket's)."""
    server = target.endpoint or default_endpoint(target.region)
    return [
        Document(
            document_name(target),
            document([native(rule)]).encode("utf-8"),
            f"the request body of OBS SetBucketCors (PUT /?cors on bucket {target.bucket} at {server}, with a "
            "Content-MD5 header, signed with your access key); it replaces the bucket's whole CORS configuration, "
            "`iac cors apply` keeps other apps' rules",
        )
    ]


def default_endpoint(region: str) -> str:
    return f"https://obs.{region}.otc.t-systems.com"


def _to_sdk(rule: Native, cors_rule: Any) -> Any:
    """A native rule as the SDK's CorsRule."""
    fields: dict[str, Any] = {attr: list(rule[key]) for key, _, attr in (*_LIST_FIELDS, _EXPOSE) if rule.get(key)}
    if rule.get("ID") is not None:
        fields["id"] = str(rule["ID"])
    if rule.get("MaxAgeSeconds") is not None:
        fields["maxAgeSecond"] = int(rule["MaxAgeSeconds"])
    return cors_rule(**fields)


def _from_sdk(cors_rule: Any) -> Native:
    """The SDK's CorsRule (which reports absent lists as []) as a native rule without empty keys."""
    out: Native = {}
    if cors_rule.id is not None:
        out["ID"] = str(cors_rule.id)
    for key, _, attr in (*_LIST_FIELDS, _EXPOSE):
        values = getattr(cors_rule, attr) or []
        if values or key in _REQUIRED:
            out[key] = [str(v) for v in values]
    if cors_rule.maxAgeSecond is not None:
        out["MaxAgeSeconds"] = int(cors_rule.maxAgeSecond)
    return out


def _tls_context() -> ssl.SSLContext:
    """A TLS context that verifies the server: the system's CAs, plus certifi's where installed (as requests)."""
    context = ssl.create_default_context()
    try:
        certifi = importlib.import_module("certifi")
    except ImportError:
        return context
    context.load_verify_locations(cafile=certifi.where())
    return context


def _import_sdk() -> Any:
    try:
        return importlib.import_module("obs")
    except ImportError as exc:
        raise missing_sdk("CORS on OTC OBS", "esdk-obs-python", "otc", exc) from None


class Store:
    """The CORS configuration of one OBS bucket, read and replaced through esdk-obs-python."""

    def __init__(self, target: OtcCorsTarget) -> None:
        self.bucket = target.bucket
        self.description = describe(target)
        sdk = _import_sdk()
        self._cors_rule = sdk.CorsRule
        access_key = os.environ.get("OBS_ACCESS_KEY_ID")
        secret_key = os.environ.get("OBS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise no_credentials(self.description, CREDENTIALS)
        server = target.endpoint or default_endpoint(target.region)
        try:
            with warnings.catch_warnings():
                # The SDK builds its TLS context with the deprecated ssl.PROTOCOL_TLS; it is replaced below.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._client: Any = sdk.ObsClient(
                    access_key_id=access_key,
                    secret_access_key=secret_key,
                    security_token=os.environ.get("OBS_SECURITY_TOKEN") or None,
                    server=server,
                    region=target.region,
                    # A custom endpoint (a proxy, a private endpoint, a local stand-in) may not resolve
                    # <bucket>.<host>, so address the bucket in the path there.
                    path_style=target.endpoint is not None,
                    # iac's caps on network reads (iac.untrusted.Bounds): the SDK waits 60 s per read otherwise.
                    timeout=Bounds.current().read_timeout,
                    max_retry_count=3,
                )
        except Exception as exc:  # the SDK raises bare Exception for a bad server value
            raise IacError(f"{self.description}: cannot create the OBS client for {server}: {exc}") from None
        if self._client.is_secure:
            # The SDK's own TLS context skips certificate and host name checks unless given a CA file, and
            # even then never checks the host name: use a verifying one.
            self._client.context = _tls_context()

    def read(self) -> list[Native]:
        """The bucket's CORS rules; [] when it has no CORS configuration."""
        response = self._call("reading", "getBucketCors", self.bucket)
        if response.status == 404 and response.errorCode == "NoSuchCORSConfiguration":
            return []
        self._check("reading", response)
        return [_from_sdk(rule) for rule in response.body or ()]

    def write(self, rules: list[Native]) -> None:
        """Replace the bucket's whole CORS configuration with `rules` ([] deletes it; at most MAX_RULES, which
        `iac.cors.targets` checks before it calls)."""
        if rules:
            sdk_rules = [_to_sdk(rule, self._cors_rule) for rule in rules]
            self._check("writing", self._call("writing", "setBucketCors", self.bucket, sdk_rules))
        else:
            self._check("deleting", self._call("deleting", "deleteBucketCors", self.bucket))

    def _call(self, doing: str, method: str, *args: Any) -> Any:
        try:
            return getattr(self._client, method)(*args)
        except Exception as exc:  # connection failures surface as the socket/ssl exception itself
            raise IacError(
                f"{self.description}: {doing} the CORS configuration failed: {type(exc).__name__}: {exc}"
            ) from None

    def _check(self, doing: str, response: Any) -> None:
        status = response.status
        if isinstance(status, int) and status < 300:
            return
        detail = ": ".join(str(part) for part in (response.errorCode, response.errorMessage) if part)
        raise IacError(
            f"{self.description}: {doing} the CORS configuration failed: "
            f"HTTP {status} {detail or response.reason or ''}".rstrip()
        )


PROVIDER: Provider[OtcCorsTarget] = ProviderModule(
    OtcCorsTarget, CREDENTIALS, METHODS, MAX_RULES, Store, native, parse, describe, documents
)
