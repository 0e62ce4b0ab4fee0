"""A local stand-in for Encord's API, as the `encord` SDK talks to it (a pytest plugin: the `encord_api` fixture).

A small HTTP server on 127.0.0.1 (port 0, a thread per request) that verifies the SDK's Ed25519 request signatures
against the public half of a key made for the test: `Content-Digest`, `Signature-Input` and `Signature` on
`/v2/public/...`, `Authorization` on the v1 `/public` endpoint; a request signed otherwise gets 401. It serves canned
cloud integrations, storage folders, datasets and upload jobs, and can be told how to answer: a job PENDING for some
polls, then DONE, or ERROR with unit errors; 401, 413, 429 or 500 for a call; and to hold a request (signalling the
test) at one of the steps of a start or a poll, so a test can kill the client there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

INTEGRATION = "Direct Access acme"
OTHER_INTEGRATION = "acme-s3"
_NOW = "2026-12-01T10:00:00+00:00"
_SIGNATURE_INPUT = re.compile(
    r'encord-sig=\("@method" "@request-target" "content-digest"\);created=(\d+);keyid="([0-9a-f]+)";alg="ed25519"'
)
# Where a request can be held, for a test that kills the client there.
HOLD_POINTS = ("start-before", "start-after", "poll")


def units_of(document: dict[str, Any]) -> list[tuple[list[str], str]]:
    """The units of a registration file: (object URLs, title) each."""
    found = []
    for key, value in document.items():
        if not isinstance(value, list):
            continue
        for unit in value:
            urls = [unit[k] for k in sorted(unit) if k == "objectUrl" or k.startswith("objectUrl_")]
            found.append((urls, str(unit.get("title", urls[0] if urls else key))))
    return found


@dataclass
class Job:
    folder: str
    document: dict[str, Any]
    ignore_errors: bool
    pending_polls: int
    refused: dict[str, str]
    polls: int = 0

    def state(self) -> dict[str, Any]:
        units = units_of(self.document)
        if self.polls <= self.pending_polls:
            done = min(len(units), self.polls * max(1, len(units) // (self.pending_polls + 1)))
            return _state("PENDING", units[:done], [], len(units) - done)
        ok = [unit for unit in units if not any(url in self.refused for url in unit[0])]
        bad = [unit for unit in units if any(url in self.refused for url in unit[0])]
        status = "ERROR" if bad and not self.ignore_errors else "DONE"
        errors = [
            {
                "objectUrls": urls,
                "error": next(self.refused[url] for url in urls if url in self.refused),
                "subtaskUuid": str(uuid.uuid4()),
                "actionDescription": "Registering the object",
            }
            for urls, _ in bad
        ]
        return _state(status, ok, errors, 0)


def _state(
    status: str, done: list[tuple[list[str], str]], errors: list[dict[str, Any]], pending: int
) -> dict[str, Any]:
    return {
        "status": status,
        "itemsWithNames": [
            {"itemUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, urls[0])), "name": title} for urls, title in done
        ],
        "errors": [error["error"] for error in errors],
        "unitsPendingCount": pending,
        "unitsDoneCount": len(done),
        "unitsErrorCount": len(errors),
        "unitsCancelledCount": 0,
        "unitErrors": errors,
    }


@dataclass
class EncordStandIn:
    """What the stand-in holds and how it answers. Tests set `faults`, `refused`, `pending_polls`, `hold`."""

    public_key_hex: str
    integrations: dict[str, str] = field(
        default_factory=lambda: {str(uuid.uuid4()): INTEGRATION, str(uuid.uuid4()): OTHER_INTEGRATION}
    )
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)  # id -> title
    linked: dict[str, list[str]] = field(default_factory=dict)  # dataset id -> item UUIDs
    jobs: dict[str, Job] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)  # every start's body, in order
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every signed request
    unsigned: list[str] = field(default_factory=list)  # requests refused for their signature
    # (method, path regex) -> statuses to answer, one per matching request, before answering normally.
    faults: list[tuple[str, str, int]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # object URL -> Encord's message for its unit
    pending_polls: int = 1  # polls a new job answers PENDING before its end
    unknown_key: bool = False  # answer every request 401, as a deployment the key is not registered with
    hold: str | None = None  # one of HOLD_POINTS: the next such request waits for `release`
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def domain(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_folder(self, name: str) -> str:
        folder_id = str(uuid.uuid4())
        self.folders[folder_id] = _folder(folder_id, name)
        return folder_id

    def fail(self, method: str, path: str, *statuses: int) -> None:
        """Answer the next requests `method` `path` (a regex on the path below /v2/public/) with `statuses`."""
        self.faults.extend((method, path, status) for status in statuses)

    def submitted(self, document: dict[str, Any]) -> int:
        """How many times a start carried `document`."""
        return sum(1 for body in self.submissions if body["externalFiles"] == document)

    def hold_at(self, point: str) -> None:
        assert point in HOLD_POINTS
        self.reached.clear()
        self.release.clear()
        self.hold = point

    def _held(self, point: str) -> bool:
        """Whether this request is the one held at `point`: then the test is told, and it waits for `release`."""
        with self.lock:
            if self.hold != point:
                return False
            self.hold = None
        self.reached.set()
        self.release.wait(60)
        return True


def _folder(folder_id: str, name: str) -> dict[str, Any]:
    return {
        "uuid": folder_id,
        "parent": None,
        "name": name,
        "description": "",
        "clientMetadata": None,
        "owner": "annotator@acme.com",
        "createdAt": _NOW,
        "lastEditedAt": _NOW,
        "userRole": "admin",
        "syncedDatasetHash": None,
        "pathToRoot": [],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client is gone (a test killed it)
            pass

    def _serve(self, method: str) -> None:
        api = self.server.api
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        split = urlsplit(self.path)
        if split.path == "/public":
            if not self._v1_signed(body):
                self._refuse_unsigned()
                return
            if api.unknown_key:
                self._reply(200, {"status": 401, "response": ["AUTHENTICATION_ERROR"]})
                return
            self._v1(json.loads(body))
            return
        if not split.path.startswith("/v2/public/"):
            self._reply(404, {"message": "no such endpoint"})
            return
        if not self._v2_signed(method, body):
            self._refuse_unsigned()
            return
        path = split.path.removeprefix("/v2/public/")
        with api.lock:
            api.requests.append((method, path))
        if api.unknown_key:
            self._reply(401, {"message": "The public key is not registered"})
            return
        for fault in list(api.faults):
            fault_method, pattern, status = fault
            if fault_method == method and re.fullmatch(pattern, path):
                with api.lock:
                    if fault not in api.faults:
                        continue
                    api.faults.remove(fault)
                headers = {"Retry-After": "0"} if status == 429 else None
                self._reply(status, {"message": f"stand-in says {status}"}, headers)
                return
        query = {key: values for key, values in parse_qs(split.query).items()}
        self._v2(method, path, query, json.loads(body) if body else None)

    def _refuse_unsigned(self) -> None:
        with self.server.api.lock:
            self.server.api.unsigned.append(self.path)
        self._reply(401, {"message": "signature does not verify"})

    def _v2_signed(self, method: str, body: bytes) -> bool:
        api = self.server.api
        digest = f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"
        if self.headers.get("Content-Digest") != digest:
            return False
        found = _SIGNATURE_INPUT.fullmatch(self.headers.get("Signature-Input", ""))
        signature = re.fullmatch(r"encord-sig=:([A-Za-z0-9+/=]+):", self.headers.get("Signature", ""))
        if found is None or signature is None or found.group(2) != api.public_key_hex:
            return False
        params = self.headers["Signature-Input"].removeprefix("encord-sig=")
        base = "\n".join(
            [
                f'"@method": {method}',
                f'"@request-target": {self.path}',
                f'"content-digest": {digest}',
                f'"@signature-params": {params}',
            ]
        )
        return _verifies(api.public_key_hex, base64.b64decode(signature.group(1)), base.encode())

    def _v1_signed(self, body: bytes) -> bool:
        api = self.server.api
        key_hex, _, signature_hex = self.headers.get("Authorization", "").partition(":")
        if key_hex != api.public_key_hex or not re.fullmatch(r"[0-9a-f]+", signature_hex or "x"):
            return False
        return _verifies(key_hex, bytes.fromhex(signature_hex), hashlib.sha256(body).digest())

    # --- the v2 REST API ---

    def _v2(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
        api = self.server.api
        if (method, path) == ("GET", "cloud-integrations"):
            titles = query.get("filterIntegrationTitles")
            result = [
                {"integrationUuid": key, "title": title}
                for key, title in api.integrations.items()
                if titles is None or title in titles
            ]
            self._reply(200, {"result": result})
        elif (method, path) == ("GET", "storage/search/folders"):
            search = query.get("search", [""])[0].lower()
            found = [folder for folder in api.folders.values() if search in folder["name"].lower()]
            self._reply(200, {"results": found, "nextPageToken": None})
        elif (method, path) == ("POST", "storage/folders"):
            folder_id = api.add_folder(body["name"])
            self._reply(200, api.folders[folder_id])
        elif method == "GET" and (found := re.fullmatch(r"storage/folders/([0-9a-f-]+)", path)):
            folder = api.folders.get(found.group(1))
            self._reply(200, folder) if folder else self._reply(404, {"message": "no such folder"})
        elif method == "POST" and (found := re.fullmatch(r"storage/folders/([0-9a-f-]+)/data-upload-jobs", path)):
            self._start(found.group(1), body)
        elif method == "GET" and (found := re.fullmatch(r"storage/folders/([0-9a-f-]+)/data-upload-jobs/(.+)", path)):
            self._poll(found.group(2), int(query.get("timeoutSeconds", ["60"])[0]))
        elif (method, path) == ("GET", "datasets/list"):
            title = query.get("titleEq", [None])[0]
            rows = [
                {
                    "datasetUuid": key,
                    "title": value,
                    "description": "",
                    "createdAt": _NOW,
                    "lastEditedAt": _NOW,
                    "userRole": "admin",
                }
                for key, value in api.datasets.items()
                if title is None or value == title
            ]
            self._reply(200, {"result": rows})
        elif (method, path) == ("POST", "datasets"):
            dataset_id = str(uuid.uuid4())
            api.datasets[dataset_id] = body["title"]
            self._reply(200, {"datasetUuid": dataset_id, "backingFolderUuid": None})
        else:
            self._reply(404, {"message": f"the stand-in has no {method} {path}"})

    def _start(self, folder_id: str, body: dict[str, Any]) -> None:
        api = self.server.api
        if folder_id not in api.folders:
            self._reply(404, {"message": "no such folder"})
            return
        if body.get("integrationHash") not in api.integrations:
            self._reply(400, {"message": "no such integration"})
            return
        if api._held("start-before"):
            self._reply(503, {"message": "held, never made"})  # nobody reads it: the client was killed
            return
        job_id = str(uuid.uuid4())
        with api.lock:
            api.submissions.append(body)
            api.jobs[job_id] = Job(
                folder_id, body["externalFiles"], bool(body.get("ignoreErrors")), api.pending_polls, dict(api.refused)
            )
        api._held("start-after")
        self._reply(200, job_id)

    def _poll(self, job_id: str, timeout: int) -> None:
        api = self.server.api
        job = api.jobs.get(job_id)
        if job is None:
            self._reply(404, {"message": "no such job"})
            return
        api._held("poll")
        with api.lock:
            job.polls += 1
            state = job.state()
        if state["status"] == "PENDING":
            time.sleep(min(timeout, 0.02))  # a long poll holds the request: the client does not spin
        self._reply(200, state)

    # --- the v1 endpoint: one POST, the query in the body, the answer in an envelope ---

    def _v1(self, request: dict[str, Any]) -> None:
        api = self.server.api
        query_type = request["query_type"]
        payload = request["values"]["payload"]
        resource = self.headers.get("ResourceID", "")
        if query_type == "dataset" and resource in api.datasets:
            response: Any = {
                "dataset_hash": resource,
                "title": api.datasets[resource],
                "description": "",
                "dataset_type": "CORD_STORAGE",
                "data_rows": [],
            }
        elif query_type == "datasetlinkitems" and resource in api.datasets:
            with api.lock:
                linked = api.linked.setdefault(resource, [])
                linked.extend(item for item in payload["item_uuids"] if item not in linked)
            response = []
        else:
            self._reply(200, {"status": 404, "response": ["RESOURCE_NOT_FOUND_ERROR"]})
            return
        self._reply(200, {"status": 200, "response": response})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: EncordStandIn


def _verifies(public_key_hex: str, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_key(path: Path) -> str:
    """A new Ed25519 key in OpenSSH format at `path`; its public half in hex, as the SDK names it."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    path.chmod(0o600)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@pytest.fixture
def encord_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EncordStandIn]:
    """The stand-in, with a key for the test in ENCORD_SSH_KEY_FILE and the SDK pointed at it (IAC_ENCORD_DOMAIN)."""
    key_file = tmp_path / "encord-key"
    api = EncordStandIn(write_key(key_file))
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="encord-standin", daemon=True)
    thread.start()
    monkeypatch.setenv("ENCORD_SSH_KEY_FILE", str(key_file))
    monkeypatch.delenv("ENCORD_SSH_KEY", raising=False)
    monkeypatch.setenv("IAC_ENCORD_DOMAIN", api.domain)
    try:
        yield api
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()
