"""Image headers (issue 24): the size of every format iac measures, read exactly from files real encoders
(ffmpeg) wrote and from hand-made headers; a header cut short or inconsistent is unreadable (None), never
an exception that would stop `manifest generate --strict-metadata`, never an absurd size."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iac.manifest.media import MAX_IMAGE_SIDE, image_size


def png(width: int, height: int, crc: int | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    check = zlib.crc32(b"IHDR" + ihdr) if crc is None else crc
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", check)


def bmp(header: int, width: int, height: int, planes: int = 1) -> bytes:
    """A BMP with a DIB header of `header` bytes: 12 is OS/2's BITMAPCOREHEADER (16-bit sizes)."""
    if header == 12:
        dib = struct.pack("<IHHHH", 12, width, height, planes, 24)
    else:
        dib = struct.pack("<IiiHH", header, width, height, planes, 24).ljust(header, b"\x00")
    pixels = b"\x00" * 24
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(pixels), 0, 0, 14 + len(dib)) + dib + pixels


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + b";"


def jpeg(width: int, height: int, frame: int = 0xC0, length: int | None = None) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = bytes([0xFF, frame]) + struct.pack(">HBHHB", length or 17, 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + b"\xff\xff" + sof + b"\xff\xd9"  # a fill byte before the frame header


def tiff(order: str, width: int, height: int, kind: int = 4) -> bytes:
    """A TIFF whose size is stored as `kind` (3 SHORT, 4 LONG, 5 RATIONAL)."""
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    value = "HH" if kind == 3 else "I"
    entries = [struct.pack(order + "HHI" + value, tag, kind, 1, *((v, 0) if kind == 3 else (v,))) for tag, v in
               ((256, width), (257, height))]  # fmt: skip
    return magic + struct.pack(order + "I", 8) + struct.pack(order + "H", 2) + b"".join(entries) + b"\x00" * 4


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x10\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


HAND_MADE = {
    "png-3x2": (png(3, 2), (3, 2)),
    "os2-bmp-3x2": (bmp(12, 3, 2), (3, 2)),
    "os2-bmp-65535": (bmp(12, 65535, 1), (65535, 1)),
    "bmp-v3-top-down": (bmp(40, 300, -200), (300, 200)),
    "bmp-v5": (bmp(124, 7, 5), (7, 5)),
    "os2-bmp-v2": (bmp(64, 9, 4), (9, 4)),
    "gif-wider-than-32767": (gif(40000, 2), (40000, 2)),
    "jpeg-progressive": (jpeg(800, 600, frame=0xC2), (800, 600)),
    "tiff-le-short": (tiff("<", 64, 32, kind=3), (64, 32)),
    "tiff-be-short": (tiff(">", 64, 32, kind=3), (64, 32)),
    "tiff-be-long": (tiff(">", 70000, 3), (70000, 3)),
    "webp-vp8x": (webp_vp8x(100, 50), (100, 50)),
}

INCONSISTENT = {
    "png-bad-checksum": png(3, 2, crc=0),
    "png-width-0": png(0, 2),
    "png-over-2**31": png(2**31, 2),
    "png-ihdr-length": png(3, 2).replace(struct.pack(">I", 13), struct.pack(">I", 14), 1),
    "bmp-unknown-header": bmp(40, 3, 2).replace(struct.pack("<I", 40), struct.pack("<I", 41), 1),
    "bmp-two-planes": bmp(40, 3, 2, planes=2),
    "bmp-negative-width": bmp(40, -3, 2),
    "bmp-height-min-int": bmp(40, 3, -(2**31)),
    "bmp-header-cut": bmp(124, 3, 2)[:60],
    "gif-width-0": gif(0, 2),
    "jpeg-frame-length": jpeg(8, 8, length=16),
    "jpeg-height-0": jpeg(8, 0),
    "jpeg-scan-before-frame": b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 16,
    "jpeg-not-a-marker": b"\xff\xd8\x00\x00" + b"\x00" * 16,
    "tiff-rational-size": tiff("<", 64, 32, kind=5),
    "tiff-ifd-in-the-header": b"II*\x00" + struct.pack("<I", 0) + b"\x00" * 16,
    "webp-vp8-no-start-code": b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
    "webp-vp8l-no-signature": b"RIFF\x00\x00\x00\x00WEBPVP8L" + b"\x00" * 20,
    "riff-not-webp": b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 20,
}

# (name, ffmpeg output options): each written at every size of SIZES.
ENCODERS = {
    "png": ("png", []),
    "jpeg": ("jpg", ["-pix_fmt", "yuvj420p"]),
    "gif": ("gif", []),
    "bmp": ("bmp", []),
    "tiff": ("tiff", []),
    "webp-lossy": ("webp", ["-c:v", "libwebp"]),
    "webp-lossless": ("webp", ["-c:v", "libwebp", "-lossless", "1"]),
    "webp-alpha": ("webp", ["-c:v", "libwebp", "-pix_fmt", "yuva420p"]),
}
SIZES = [(1, 1), (37, 23), (640, 7)]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Images written by ffmpeg's encoders, by "format-WxH"."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg not found: run `bash tests/install-tools.sh`")
    folder = tmp_path_factory.mktemp("images")
    found = {}
    for name, (extension, options) in ENCODERS.items():
        for width, height in SIZES:
            path = folder / f"{name}-{width}x{height}.{extension}"
            source = f"testsrc=size={width}x{height}:rate=1"
            command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", "1", *options]
            subprocess.run([*command, str(path)], check=True, stdin=subprocess.DEVNULL)
            found[f"{name}-{width}x{height}"] = (path.read_bytes(), (width, height))
    return found


@pytest.fixture(scope="module")
def corpus(encoded: dict[str, tuple[bytes, tuple[int, int]]]) -> dict[str, tuple[bytes, tuple[int, int]]]:
    return {**encoded, **HAND_MADE}


def test_encoded_files_read_their_exact_size(encoded: dict[str, tuple[bytes, tuple[int, int]]]) -> None:
    assert {name: image_size(data) for name, (data, _) in encoded.items()} == {
        name: size for name, (_, size) in encoded.items()
    }


@pytest.mark.parametrize(("data", "size"), HAND_MADE.values(), ids=HAND_MADE)
def test_hand_made_headers_read_their_exact_size(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize("data", INCONSISTENT.values(), ids=INCONSISTENT)
def test_inconsistent_headers_are_unreadable(data: bytes) -> None:
    assert image_size(data) is None


def test_every_truncation_is_unreadable_until_the_header_is_whole(
    corpus: dict[str, tuple[bytes, tuple[int, int]]],
) -> None:
    """Cut anywhere, a file reads as None up to some length and as its exact size from there on."""
    for name, (data, size) in corpus.items():
        results = [image_size(data[:length]) for length in range(len(data) + 1)]
        assert set(results) <= {None, size}, name
        first = results.index(size)
        assert all(result == size for result in results[first:]), name
        assert results[:first] == [None] * first and first > 8, name


def sane(result: tuple[int, int] | None) -> bool:
    return result is None or (
        isinstance(result, tuple) and len(result) == 2 and all(0 < side <= MAX_IMAGE_SIDE for side in result)
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted({*HAND_MADE, *(f"{n}-{w}x{h}" for n in ENCODERS for w, h in SIZES)})),
    flips=st.lists(st.tuples(st.integers(0, 2**16), st.integers(1, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 2**16),
)
def test_flipped_and_cut_headers_never_raise_nor_read_absurd_sizes(
    corpus: dict[str, tuple[bytes, tuple[int, int]]], name: str, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(corpus[name][0])
    for position, mask in flips:
        data[position % len(data)] ^= mask
    assert sane(image_size(bytes(data[: max(cut, 1)])))
    assert sane(image_size(bytes(data)))


MAGIC = [b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF", b"\xff\xd8", b"II*\x00", b"MM\x00*"]


@settings(max_examples=400, deadline=None)
@given(
    magic=st.sampled_from(MAGIC),
    rest=st.binary(max_size=512),
)
def test_random_bytes_after_a_known_magic_never_raise(magic: bytes, rest: bytes) -> None:
    assert sane(image_size(magic + rest))
