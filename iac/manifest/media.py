"""What a media file is: its kind and MIME type, and the metadata strict client-only access needs
(image dimensions from the file header, PDF page counts with pypdf, video and audio with ffprobe).

pypdf is imported only when a PDF is measured.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

from iac.manifest.objects import ObjectUnreadable, StoredObject, local_copy

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


# The largest width or height taken from a header: PNG's and BMP's own limit (2**31 - 1); a TIFF may state
# more, which no real image has. A header that states more, or 0, is inconsistent.
MAX_IMAGE_SIDE = 2**31 - 1


class _CutShort(Exception):
    """The header ends before a field the size is read from."""


def _field(data: bytes, fmt: str, offset: int) -> tuple[Any, ...]:
    """`struct.unpack_from(fmt, data, offset)`, or _CutShort when `data` ends first."""
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise _CutShort
    return struct.unpack_from(fmt, data, offset)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, JPEG, GIF, BMP, WebP or TIFF file; None when they are
    none of these, are cut short inside the header, or state an inconsistent header (a size of 0 or over
    MAX_IMAGE_SIDE, a PNG header whose checksum fails, an unknown BMP header, ...). Never raises.

    Written here rather than taken from `imagesize` (PyPI), whose 2.0.1 reads an OS/2 BMP's 16-bit size as
    32-bit (a 3x2 image as 131075x1572865) and a GIF wider than 32767 as negative.
    """
    for magic, reader in _READERS:
        if data.startswith(magic):
            try:
                size = reader(data)
            except _CutShort:
                return None
            if size is None or not all(0 < side <= MAX_IMAGE_SIDE for side in size):
                return None
            return size
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    length, chunk = _field(data, ">I4s", 8)
    if length != 13 or chunk != b"IHDR":
        return None
    width, height, *_, crc = _field(data, ">IIBBBBBI", 16)
    # The header chunk's CRC covers its type and data: a decoder refuses the file when it fails.
    return (width, height) if zlib.crc32(data[12:29]) == crc else None


def _gif(data: bytes) -> tuple[int, int] | None:
    width, height, _flags, _background, _aspect = _field(data, "<HHBBB", 6)  # the logical screen descriptor
    return width, height


def _bmp(data: bytes) -> tuple[int, int] | None:
    (header,) = _field(data, "<I", 14)
    if header == 12:  # OS/2 1.x BITMAPCOREHEADER: 16-bit unsigned width and height
        width, height, planes = _field(data, "<HHH", 18)
    elif header in (16, 40, 52, 56, 64, 108, 124):  # BITMAPINFOHEADER and later, OS/2 2.x: 32-bit
        width, height, planes = _field(data, "<iiH", 18)
    else:
        return None
    _field(data, "B", 14 + header - 1)  # the whole header is there
    # A negative height is a top-down bitmap; the number of planes is always 1.
    return (width, abs(height)) if planes == 1 else None


def _webp(data: bytes) -> tuple[int, int] | None:
    (form, chunk) = _field(data, "4s4s", 8)
    if form != b"WEBP":
        return None
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit width and height
        start, width, height = _field(data, "<3sHH", 23)
        return (width & 0x3FFF, height & 0x3FFF) if start == b"\x9d\x01\x2a" else None
    if chunk == b"VP8L":  # lossless: a signature byte, then 14-bit width - 1 and height - 1
        signature, bits = _field(data, "<BI", 20)
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1) if signature == 0x2F else None
    if chunk == b"VP8X":  # extended: 24-bit canvas width - 1 and height - 1
        width, height = (int.from_bytes(part, "little") + 1 for part in _field(data, "3s3s", 24))
        return width, height
    return None


# Start-of-frame markers (baseline, extended, progressive, lossless, ...): they carry the dimensions.
_JPEG_FRAMES = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def _jpeg(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while True:  # each turn moves on by at least one byte; _field stops at the end of `data`
        prefix, marker = _field(data, "BB", offset)
        if prefix != 0xFF:
            return None
        if marker == 0xFF:  # a fill byte before a marker
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a segment
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # the image ends, or its data starts, before any frame header
            return None
        (length,) = _field(data, ">H", offset + 2)
        if marker in _JPEG_FRAMES:
            _precision, height, width, components = _field(data, ">BHHB", offset + 4)
            return (width, height) if length == 8 + 3 * components else None
        if length < 2:
            return None
        offset += 2 + length


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = _field(data, order + "I", 4)
    if ifd < 8:
        return None
    (count,) = _field(data, order + "H", ifd)
    found: dict[int, int] = {}
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, values = _field(data, order + "HHI", entry)
        if tag in (256, 257):  # ImageWidth, ImageLength: one SHORT or LONG each
            if values != 1 or kind not in (3, 4):
                return None
            (found[tag],) = _field(data, order + ("H" if kind == 3 else "I"), entry + 8)
            if len(found) == 2:
                return found[256], found[257]
    return None


_READERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"BM", _bmp),
    (b"RIFF", _webp),
    (b"\xff\xd8", _jpeg),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
)


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
            return None, (
                "image dimensions could not be read: the header is cut short, inconsistent, or not that of a "
                "PNG, JPEG, GIF, BMP, WebP or TIFF file"
            )
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
