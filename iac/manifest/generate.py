"""`iac manifest generate`: registration files for every object of the Direct Access bucket.

The listing is streamed: at most one batch per kind (and the DICOM series still open) is held in memory,
whatever the number of objects, and each batch file is written as soon as it is full. Objects whose
metadata needs the whole file (videos, audio, PDFs under --strict-metadata) are streamed to a temporary
file, so memory does not grow with their size either.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import itertools
import json
import os
import posixpath
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from iac.errors import IacError
from iac.files import MANIFEST_GENERATE, Deployment, OutputDirectory
from iac.manifest.formats import CSV_HEADERS, CSV_MAX_ROWS, DEFAULT_BATCH, KIND_KEYS, METADATA

KINDS = ("images", "videos", "audio", "pdfs", "text", "dicom")
SKIP_REPORT = "skipped.csv"

_CONTENT_TYPES = {
    "image/jpeg": "images",
    "image/jpg": "images",
    "image/png": "images",
    "image/webp": "images",
    "image/bmp": "images",
    "image/tiff": "images",
    "image/gif": "images",
    "video/mp4": "videos",
    "video/webm": "videos",
    "video/quicktime": "videos",
    "video/x-matroska": "videos",
    "audio/mpeg": "audio",
    "audio/mp3": "audio",
    "audio/wav": "audio",
    "audio/x-wav": "audio",
    "audio/flac": "audio",
    "audio/ogg": "audio",
    "audio/aac": "audio",
    "audio/mp4": "audio",
    "application/pdf": "pdfs",
    "text/plain": "text",
    "text/html": "text",
    "text/markdown": "text",
    "text/csv": "text",
    "application/json": "text",
    "application/xml": "text",
    "text/xml": "text",
    "application/dicom": "dicom",
}
_EXTENSIONS = {
    ".jpg": ("images", "image/jpeg"),
    ".jpeg": ("images", "image/jpeg"),
    ".png": ("images", "image/png"),
    ".webp": ("images", "image/webp"),
    ".bmp": ("images", "image/bmp"),
    ".tif": ("images", "image/tiff"),
    ".tiff": ("images", "image/tiff"),
    ".gif": ("images", "image/gif"),
    ".mp4": ("videos", "video/mp4"),
    ".webm": ("videos", "video/webm"),
    ".mov": ("videos", "video/quicktime"),
    ".mkv": ("videos", "video/x-matroska"),
    ".mp3": ("audio", "audio/mpeg"),
    ".wav": ("audio", "audio/wav"),
    ".flac": ("audio", "audio/flac"),
    ".ogg": ("audio", "audio/ogg"),
    ".aac": ("audio", "audio/aac"),
    ".m4a": ("audio", "audio/mp4"),
    ".pdf": ("pdfs", "application/pdf"),
    ".txt": ("text", "text/plain"),
    ".md": ("text", "text/markdown"),
    ".html": ("text", "text/html"),
    ".htm": ("text", "text/html"),
    ".csv": ("text", "text/csv"),
    ".json": ("text", "application/json"),
    ".xml": ("text", "application/xml"),
    ".dcm": ("dicom", "application/dicom"),
    ".dicom": ("dicom", "application/dicom"),
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
_HEADER_BYTES = 64 * 1024  # enough for the dimensions of every image format read here
_PDF_MAX_BYTES = 200 * 1024 * 1024
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ObjectUnreadable(Exception):
    """An object of the listing cannot be read (deleted or replaced since): skipped, with this reason."""


@dataclass(frozen=True)
class StoredObject:
    """What the listing tells about one object. When metadata needs its bytes, `read` fetches the first
    `limit` (None: all) and `copy_to`, when given, streams the whole object into a binary file."""

    name: str
    size: int
    content_type: str | None
    read: Callable[[int | None], bytes] = field(repr=False, compare=False, default=lambda limit: b"")
    copy_to: Callable[[IO[bytes]], None] | None = field(repr=False, compare=False, default=None)

    def save(self, handle: IO[bytes]) -> None:
        """Write the whole object to `handle`: streamed when the source can, else read in one piece."""
        if self.copy_to is not None:
            self.copy_to(handle)
        else:
            handle.write(self.read(None))


@contextlib.contextmanager
def local_copy(obj: StoredObject) -> Iterator[Path]:
    """The whole object as a file in a private temporary directory (mode 0700), removed afterwards."""
    extension = posixpath.splitext(obj.name)[1]
    suffix = extension if extension[1:].isascii() and extension[1:].isalnum() else ""
    with tempfile.TemporaryDirectory(prefix="iac-manifest-") as directory:
        path = Path(directory) / f"object{suffix}"
        try:
            with path.open("xb") as handle:
                obj.save(handle)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise IacError(
                f"{obj.name}: no room for a temporary copy ({obj.size} bytes) in {tempfile.gettempdir()}: "
                "set TMPDIR to a directory with room for the largest video, audio or PDF file"
            ) from None
        yield path


def classify(obj: StoredObject) -> tuple[str | None, str, str]:
    """(kind, MIME type, reason when Encord cannot take it) by content type, falling back to the extension."""
    if obj.name.endswith("/"):
        return None, "", "folder placeholder, not a file"
    content_type = (obj.content_type or "").split(";")[0].strip().lower()
    extension = posixpath.splitext(obj.name)[1].lower()
    if content_type not in _GENERIC_TYPES:
        kind = _CONTENT_TYPES.get(content_type)
        if kind is not None:
            return kind, content_type, ""
        if content_type.startswith(("video/", "image/", "audio/")):
            return None, content_type, f"content type {content_type} is not a format Encord takes"
    by_extension = _EXTENSIONS.get(extension)
    if by_extension is not None:
        return by_extension[0], by_extension[1], ""
    shown = content_type or "none"
    return None, content_type, f"unsupported file type (content type {shown}, extension {extension or 'none'})"


def object_url(domain: str, name: str) -> str:
    """https://<domain>/<name>, every byte of the name outside unreserved characters and "/" percent-encoded."""
    return f"https://{domain}/{quote(name, safe='/-._~')}"


# --- strict client-only access metadata ---------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, JPEG, GIF, BMP, WebP or TIFF file; None if unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return width, abs(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        # Start-of-frame markers (baseline, progressive, ...) carry the dimensions.
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height
        offset += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    found: dict[int, int] = {}
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(data):
            return None
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            fmt = "H" if kind == 3 else "I"
            (found[tag],) = struct.unpack(order + fmt, data[entry + 8 : entry + 8 + struct.calcsize(fmt)])
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def pdf_pages(path: Path) -> tuple[int | None, str]:
    """(number of pages, "") of the PDF at `path` as its page tree has them (after any incremental updates),
    or (None, why not) when it is not a well-formed PDF or is encrypted with a password."""
    import logging

    import pypdf

    # pypdf logs what it tolerates; without a handler Python would print those records on stderr.
    logger = logging.getLogger("pypdf")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    try:
        with path.open("rb") as handle:
            reader = pypdf.PdfReader(handle, strict=True)  # strict: no repair of a broken file by guessing
            if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
                return None, "PDF is encrypted with a password: its page count cannot be read"
            pages = len(reader.pages)
    except Exception as exc:  # pypdf raises many kinds of errors on broken files: none is a page count
        detail = str(exc).strip() or type(exc).__name__
        return None, f"PDF could not be read: {detail[:200]}"
    if not pages:
        return None, "PDF has no pages"
    return pages, ""


def strict_metadata(kind: str, obj: StoredObject, mime: str) -> tuple[dict[str, Any] | None, str]:
    """The metadata Encord needs for `obj` under strict client-only access, or the reason it can't be known."""
    try:
        return _strict_metadata(kind, obj, mime)
    except ObjectUnreadable as exc:
        return None, str(exc)


def _strict_metadata(kind: str, obj: StoredObject, mime: str) -> tuple[dict[str, Any] | None, str]:
    if kind == "images":
        size = image_size(obj.read(_HEADER_BYTES))
        if size is None:
            return None, "image dimensions could not be read from the file header"
        return {"mimeType": mime, "fileSize": obj.size, "width": size[0], "height": size[1]}, ""
    if kind == "text":
        return {"fileSize": obj.size, "mime_type": mime}, ""
    if kind == "pdfs":
        if obj.size > _PDF_MAX_BYTES:
            return None, f"PDF larger than {_PDF_MAX_BYTES // 2**20} MiB: its page count is not read"
        with local_copy(obj) as path:
            pages, why = pdf_pages(path)
        if pages is None:
            return None, why
        return {"fileSize": obj.size, "numPages": pages}, ""
    if kind in ("videos", "audio"):
        if shutil.which("ffprobe") is None:
            return None, f"{kind} metadata (duration, codec, ...) needs ffprobe, which is not on PATH (install ffmpeg)"
        return _probe(kind, obj, mime)
    return None, ""


def _probe(kind: str, obj: StoredObject, mime: str) -> tuple[dict[str, Any] | None, str]:
    import subprocess
    from fractions import Fraction

    with local_copy(obj) as path:
        done = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if done.returncode != 0:
        detail = done.stderr.replace(str(path), obj.name).strip()  # the temporary copy's name means nothing
        return None, f"ffprobe could not read the file: {detail[:200]}"
    probe = json.loads(done.stdout)
    duration = float(probe.get("format", {}).get("duration") or 0)
    wanted = "video" if kind == "videos" else "audio"
    stream = next((s for s in probe.get("streams", []) if s.get("codec_type") == wanted), None)
    if stream is None or not duration:
        return None, f"ffprobe found no {wanted} stream with a duration"
    if kind == "videos":
        try:
            rate = Fraction(str(stream.get("avg_frame_rate") or "0"))
        except (ValueError, ZeroDivisionError):  # ffprobe writes "0/0" when it does not know
            rate = Fraction(0)
        if not rate:
            return None, "ffprobe reported no frame rate"
        return {
            "fps": round(float(rate), 3),
            "duration": duration,
            "width": int(stream["width"]),
            "height": int(stream["height"]),
            "file_size": obj.size,
            "mime_type": mime,
        }, ""
    bits = int(stream.get("bits_per_raw_sample") or stream.get("bits_per_sample") or 0)
    if not bits:
        return None, "ffprobe reported no bit depth for the audio stream"
    return {
        "duration": duration,
        "file_size": obj.size,
        "mime_type": mime,
        "sample_rate": int(stream["sample_rate"]),
        "bit_depth": bits,
        "codec": str(stream["codec_name"]),
        "num_channels": int(stream["channels"]),
    }, ""


# --- writing ---------------------------------------------------------------------------------------------


@dataclass
class Summary:
    files: list[str] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    filtered: int = 0


def spreadsheet_safe(cell: str) -> str:
    """`cell`, prefixed with ' when a spreadsheet would read it as a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


class _CsvWriter:
    """csv.writer with "\n" line ends that also quotes a field holding a CR: the csv module quotes CR only
    when the line terminator has one, and an unquoted CR ends the row for the readers."""

    def __init__(self, handle: IO[str]) -> None:
        self.minimal = csv.writer(handle, lineterminator="\n")
        self.quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[str]) -> None:
        (self.quoted if any("\r" in cell for cell in row) else self.minimal).writerow(row)


class _Output:
    """Batch files in one directory, each recorded in its ledger as it is written (so a failed or killed run
    leaves files the next run owns); stale files of an earlier run are removed, others' files never touched."""

    def __init__(
        self,
        output: OutputDirectory,
        fmt: str,
        batch: dict[str, int],
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.output = output
        self.directory = output.directory
        self.fmt = fmt
        self.batch = batch
        self.warn = warn
        self.written: list[str] = []
        self.pending: dict[str, list[Any]] = {}
        self.counters: dict[str, int] = {}
        # The skip report is streamed to a temporary file: it may list every object of a large bucket.
        handle, name = tempfile.mkstemp(prefix=f".{SKIP_REPORT}.", suffix=".tmp", dir=output.staging)
        self.skips_path = Path(name)
        self.skips = os.fdopen(handle, "w", encoding="utf-8", newline="")
        self.skip_writer = _CsvWriter(self.skips)
        self.skip_writer.writerow(["object", "reason"])
        self.skip_rows = 0

    def discard(self) -> None:
        """Drop the temporary skip report and the staging area after a failure."""
        self.skips.close()
        self.skips_path.unlink(missing_ok=True)
        self.output.abandon()

    def add(self, key: str, unit: Any) -> None:
        batch = self.pending.setdefault(key, [])
        batch.append(unit)
        if len(batch) >= self.batch[key]:
            self.flush(key)

    def skip(self, name: str, reason: str) -> None:
        # A report people open in a spreadsheet: no cell may run as a formula.
        self.skip_writer.writerow([spreadsheet_safe(name), spreadsheet_safe(reason)])
        self.skip_rows += 1

    def flush(self, key: str) -> None:
        units = self.pending.pop(key, [])
        if not units:
            return
        self.counters[key] = self.counters.get(key, 0) + 1
        extension = "csv" if self.fmt == "csv" else "json"
        name = f"{key}-{self.counters[key]:04d}.{extension}"
        if self.fmt == "csv":
            text = io.StringIO()
            writer = _CsvWriter(text)
            writer.writerow(CSV_HEADERS[key])
            for row in units:
                writer.writerow(row)
            content = text.getvalue()
            # Encord's data is written as is; whoever opens the file in a spreadsheet is warned.
            for title in dict.fromkeys(title for _, title in units if title.startswith(FORMULA_STARTS)):
                self.warn(
                    f"warning: {name}: title {title!r} starts with {title[0]!r}: a spreadsheet opening this "
                    "file would read it as a formula (written as is for Encord)"
                )
        else:
            content = json.dumps({key: units, "skip_duplicate_urls": True}, indent=2, ensure_ascii=False) + "\n"
        self._write(name, content)

    def _write(self, name: str, content: str) -> None:
        self.output.refuse_foreign([name])
        self.output.commit({name: self.output.stage(name, content.encode("utf-8"))})
        self.written.append(name)

    def close(self) -> list[str]:
        for key in list(self.pending):
            self.flush(key)
        self.skips.close()
        if self.skip_rows:
            self.output.refuse_foreign([SKIP_REPORT])
            self.output.commit({SKIP_REPORT: self.skips_path})
            self.written.append(SKIP_REPORT)
        else:
            self.skips_path.unlink(missing_ok=True)
        self.output.finish(self.written)
        return self.written


def generate(
    objects: Iterable[StoredObject],
    domain: str,
    out_dir: Path,
    *,
    kind: str = "auto",
    fmt: str = "json",
    strict: bool = False,
    batch: dict[str, int] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    deployment: Deployment | None = None,
) -> Summary:
    """Write registration files for `objects` (sorted by name, as bucket listings are) into `out_dir`."""
    # Checked before the listing starts: a directory that is not one, or holds other iac files.
    directory = OutputDirectory(out_dir, MANIFEST_GENERATE, deployment)
    # The first object is listed before anything is created: a listing that cannot start (no credentials,
    # no such bucket, no permission) leaves the file system as it was.
    listing = iter(objects)
    first = next(listing, None)
    if first is not None:
        listing = itertools.chain([first], listing)
    directory.open()
    sizes = dict(DEFAULT_BATCH)
    sizes.update(batch or {})
    if fmt == "csv":
        sizes = {key: min(size, CSV_MAX_ROWS) for key, size in sizes.items()}
    output = _Output(directory, fmt, sizes, warn=progress)
    try:
        return _generate(listing, domain, output, kind, fmt, strict, progress)
    except BaseException:
        output.discard()
        raise


def _generate(
    objects: Iterable[StoredObject],
    domain: str,
    output: _Output,
    kind: str,
    fmt: str,
    strict: bool,
    progress: Callable[[str], None],
) -> Summary:
    summary = Summary()
    series = _SeriesCollector()
    seen = 0
    for obj in objects:
        seen += 1
        if seen % 10_000 == 0:
            progress(f"{seen} objects listed")
        for done in series.close_before(obj.name):
            _emit_series(output, summary, done, domain, fmt)
        found, mime, reason = classify(obj)
        if found is None:
            output.skip(obj.name, reason)
            continue
        if kind != "auto" and found != kind:
            summary.filtered += 1
            continue
        if fmt == "csv" and found not in ("images", "videos", "dicom"):
            output.skip(obj.name, f"Encord's CSV format has no {found}: use --format json")
            continue
        if found == "dicom":
            series.add(obj)
            continue
        metadata: dict[str, Any] | None = None
        if strict:
            metadata, why = strict_metadata(found, obj, mime)
            if metadata is None:
                output.skip(obj.name, why)
                continue
        key = KIND_KEYS[found]
        url = object_url(domain, obj.name)
        if fmt == "csv":
            output.add(key, [url, obj.name])
        else:
            entry: dict[str, Any] = {"objectUrl": url, "title": obj.name}
            if metadata is not None:
                entry[METADATA[key][0]] = metadata
            output.add(key, entry)
        summary.units[key] = summary.units.get(key, 0) + 1
    for done in series.close_all():
        _emit_series(output, summary, done, domain, fmt)
    summary.files = output.close()
    summary.skipped = output.skip_rows
    return summary


@dataclass
class _Series:
    folder: str
    names: list[str]


class _SeriesCollector:
    """DICOM files grouped by folder. Names sharing a prefix are contiguous in a sorted listing, so a
    folder's series is complete as soon as a name outside it is listed."""

    def __init__(self) -> None:
        self.open: dict[str, list[str]] = {}

    def add(self, obj: StoredObject) -> None:
        self.open.setdefault(posixpath.dirname(obj.name), []).append(obj.name)

    def close_before(self, name: str) -> Iterator[_Series]:
        for folder in [f for f in self.open if not name.startswith(f + "/" if f else "")]:
            yield _Series(folder, self.open.pop(folder))

    def close_all(self) -> Iterator[_Series]:
        for folder in list(self.open):
            yield _Series(folder, self.open.pop(folder))


def _emit_series(output: _Output, summary: Summary, series: _Series, domain: str, fmt: str) -> None:
    title = series.folder or "(bucket root)"
    if fmt == "csv":
        for name in series.names:
            output.add("dicom_series", [object_url(domain, name), title])
    else:
        unit: dict[str, Any] = {"title": title}
        unit.update({f"objectUrl_{i}": object_url(domain, name) for i, name in enumerate(series.names)})
        output.add("dicom_series", unit)
    summary.units["dicom_series"] = summary.units.get("dicom_series", 0) + 1


def list_bucket(bucket: str, prefix: str | None) -> Iterator[StoredObject]:
    """Stream the bucket's objects through google-cloud-storage, page by page."""
    import importlib
    import os

    storage = importlib.import_module("google.cloud.storage")
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        client = storage.Client(project="iac-emulator", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    else:
        try:
            client = storage.Client()
        except auth_exceptions.DefaultCredentialsError as exc:
            raise IacError(f"gs://{bucket}: no Google credentials ({_reason(exc)}). {_CREDENTIALS_HELP}") from None
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
    except auth_exceptions.GoogleAuthError as exc:  # e.g. expired or revoked credentials, refused on first use
        raise IacError(f"gs://{bucket}: Google credentials refused ({_reason(exc)}). {_CREDENTIALS_HELP}") from None


_CREDENTIALS_HELP = (
    "Set up Application Default Credentials: run `gcloud auth application-default login`, or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service account key file; for a local emulator, set "
    "STORAGE_EMULATOR_HOST (e.g. http://127.0.0.1:9023)"
)


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


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
