"""HTTPS to the load balancer: `--connect-to`, one certificate-verified request over a connection pinned to an
address, the answer read (`HttpAnswer`), and who gave an error answer: Cloud Armor or the bucket (`who_denied`).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

from iac import __version__
from iac.errors import IacError
from iac.untrusted import DOCTOR_ERROR_BODY, printable

MAX_BODY = DOCTOR_ERROR_BODY  # bytes of an error body read to tell who answered

_CONNECT_TO = re.compile(r"(\[[^\]]*\]|[^:\[\]]*):(\d*):(\[[^\]]*\]|[^:\[\]]*):(\d*)")

# Who answered a 403 (see `who_denied`).
#
# Cloud Armor's deny(403), the action of the module's default rule, answers with the Google Front End's minimal
# error page, `Content-Type: text/html`:
#     <!doctype html><meta charset="utf-8"><meta name=viewport content="width=device-width, initial-scale=1">
#     <title>403</title>403 Forbidden
# Cloud Storage answers every error with an XML document, `<?xml ...?><Error><Code>AccessDenied</Code>
# <Message>...</Message>...</Error>`, and its responses (passed through by the load balancer) carry an
# `X-GUploader-UploadID` header, which the front end's own pages never have.
# So: a `<Error>...<Code>` document or the X-GUploader-UploadID header means the bucket; otherwise a
# `<title>403</title>` page means Cloud Armor (the meta tags around it have changed over the years, the title
# has not). Anything else is reported as unrecognised, with the start of the body.
_BUCKET_ERROR = re.compile(r"<Error>\s*<Code>\s*([^<\s]{1,100})\s*</Code>", re.IGNORECASE)
_BUCKET_MESSAGE = re.compile(r"<Message>([^<]{0,500})</Message>", re.IGNORECASE)
_GFE_403_TITLE = re.compile(r"<title>\s*403\s*</title>", re.IGNORECASE)
_GCS_HEADER = "x-guploader-uploadid"


@dataclass(frozen=True)
class ConnectTo:
    """curl's --connect-to HOST:PORT:CONNECT_HOST:CONNECT_PORT: connect to CONNECT_HOST:CONNECT_PORT for
    HOST:PORT, keeping HOST for TLS (SNI, certificate verification) and the Host header. An empty HOST or PORT
    matches any; an empty CONNECT_HOST or CONNECT_PORT keeps the original."""

    host: str
    port: int | None
    connect_host: str
    connect_port: int | None

    @classmethod
    def parse(cls, spec: str) -> ConnectTo:
        match = _CONNECT_TO.fullmatch(spec.strip())
        if match is None:
            raise IacError(
                f"--connect-to {spec!r}: write HOST:PORT:CONNECT_HOST:CONNECT_PORT, e.g. "
                "data.acme.com:443:34.120.10.20:443 (IPv6 addresses in brackets: [2001:db8::1])"
            )
        host, port, connect_host, connect_port = match.groups()

        def number(text: str) -> int | None:
            if not text:
                return None
            value = int(text)
            if not 0 < value < 65536:
                raise IacError(f"--connect-to {spec!r}: port {text} is not between 1 and 65535")
            return value

        return cls(host.strip("[]").lower(), number(port), connect_host.strip("[]"), number(connect_port))

    def target(self, domain: str, port: int) -> tuple[str, int]:
        """Where to connect for `domain`:`port`."""
        return self.connect_host or domain, self.connect_port or port

    def check_applies(self, domain: str, port: int) -> None:
        """Raise IacError unless this applies to `domain`:`port` (a --connect-to for another name is a mistake)."""
        if (self.host and self.host != domain) or (self.port is not None and self.port != port):
            shown = f"{self.host or '*'}:{self.port if self.port is not None else '*'}"
            raise IacError(
                f"--connect-to is for {shown}, but the config's domain is {domain} (port {port}): write "
                f"{domain}:{port}:{self.connect_host or domain}:{self.connect_port or port}"
            )


@dataclass(frozen=True)
class HttpAnswer:
    """A response of the load balancer: status, headers (lower-case names) and the start of the body.

    The reason phrase and header values are `printable` (escaped as read): they are shown in the report."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS with the system's trust store; SSL_CERT_FILE (and SSL_CERT_DIR) are honoured:
    OpenSSL reads them while loading the default paths, and SSL_CERT_FILE is also loaded explicitly, so a build
    whose OpenSSL ignores the variable honours it too."""
    context = ssl.create_default_context()
    cafile = os.environ.get("SSL_CERT_FILE", "").strip()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise IacError(f"SSL_CERT_FILE={cafile}: cannot load it as CA certificates ({exc})") from None
    return context


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `host`:`port` (SNI, certificate check and Host header) over a TCP connection to `address`."""

    def __init__(self, host: str, port: int, address: tuple[str, int], context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def https_request(
    method: str,
    domain: str,
    path: str,
    headers: dict[str, str],
    *,
    connect_to: ConnectTo | None,
    timeout: float,
    port: int = 443,
) -> HttpAnswer:
    """One request to https://`domain``path`, verified against `domain`; raises OSError or HTTPException."""
    address = connect_to.target(domain, port) if connect_to else (domain, port)
    connection = _PinnedHTTPSConnection(domain, port, address, tls_context(), timeout)
    try:
        connection.request(
            method,
            path,
            headers={"User-Agent": f"iac-doctor/{__version__}", "Accept-Encoding": "identity", **headers},
        )
        response = connection.getresponse()
        # A successful download is not read: the status and headers say all, and objects can be large.
        body = response.read(MAX_BODY) if response.status >= 300 or method != "GET" else b""
        found = {name.lower(): printable(value) for name, value in response.getheaders()}
        return HttpAnswer(response.status, printable(response.reason), found, body)
    finally:
        connection.close()


def bucket_error(answer: HttpAnswer) -> tuple[str, str] | None:
    """(code, message) of a Cloud Storage XML error document, or None."""
    text = answer.text
    found = _BUCKET_ERROR.search(text)
    if found is None:
        return None
    message = _BUCKET_MESSAGE.search(text)
    return printable(found.group(1)), (printable(message.group(1).strip()) if message else "")


def who_denied(answer: HttpAnswer) -> Literal["bucket", "cloud_armor", "unknown"]:
    """Who answered an error response: the bucket, Cloud Armor, or neither recognisably (markers: see above)."""
    if bucket_error(answer) is not None or answer.header(_GCS_HEADER) is not None:
        return "bucket"
    if answer.status == 403 and _GFE_403_TITLE.search(answer.text):
        return "cloud_armor"
    return "unknown"


def snippet(answer: HttpAnswer, limit: int = 120) -> str:
    """The start of an answer's body, quoted, for a report of an answer nobody recognises."""
    text = " ".join(answer.text.split())
    if not text:
        return "an empty body"
    return repr(text[:limit] + ("..." if len(text) > limit else ""))
