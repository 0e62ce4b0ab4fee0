"""What a media file is: its kind and MIME type, and the metadata strict client-only access needs
(image dimensions from the file header, PDF page counts with pypdf, video and audio with ffprobe).

pypdf is imported only when a PDF is measured.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import struct
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
