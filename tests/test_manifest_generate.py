"""`iac manifest generate` against gcp-storage-emulator: exact registration files for a mixed bucket."""

from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from pathlib import Path

import pytest

from iac.manifest.media import image_size
from iac.manifest.objects import StoredObject
from iac.manifest.urls import object_url

DOMAIN = "encord-directaccess.acme.com"


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc + b"\x00" * 64


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def pdf(pages: int) -> bytes:
    """A well-formed PDF of blank pages (the page count is read with pypdf, which wants a real file)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=300)
    data = io.BytesIO()
    writer.write(data)
    return data.getvalue()


PDF = pdf(3)

OBJECTS = [
    # name, content, content type
    ("cats/tabby 01.png", png(640, 480), "image/png"),
    ("cats/ñandú.jpg", jpeg(1280, 720), "image/jpeg"),
    ("cats/no-type.jpeg", jpeg(32, 16), "application/octet-stream"),
    ("clips/intro.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
    ("docs/beowulf.pdf", PDF, "application/pdf"),
    ("docs/readme.txt", b"hello", "text/plain"),
    ("scans/patient-1/series-a/0002.dcm", b"DICM", "application/dicom"),
    ("scans/patient-1/series-a/0001.dcm", b"DICM", "application/dicom"),
    ("scans/patient-1/series-a/extra/0001.dcm", b"DICM", "application/dicom"),
    ("scans/patient-1/series-a/z-last.dcm", b"DICM", "application/dicom"),
    ("scans/patient-1/series-b/0001.dcm", b"DICM", ""),
    ("tools/setup.exe", b"MZ", "application/x-msdownload"),
    ("archive.zip", b"PK", "application/zip"),
    ("empty-folder/", b"", "application/x-directory"),
]


@pytest.fixture
def bucket(gcs_client, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    name = f"manifest-{abs(hash(request.node.name)) % 10**8}"
    created = gcs_client.create_bucket(name)
    for object_name, content, content_type in OBJECTS:
        created.blob(object_name).upload_from_string(content, content_type=content_type or None)
    return name


def write_config(path: Path, bucket: str) -> Path:
    path.write_text(
        f"project: my-gcp-project\ndomain: {DOMAIN}\nbucket: {{name: {bucket}, create: false, origin_region: eu}}\n"
        "allowlist: [39.42.20.11/32]\n"
    )
    return path


@pytest.fixture
def config(tmp_path: Path, bucket: str) -> Path:
    return write_config(tmp_path / "iac.yaml", bucket)


def url(name: str) -> str:
    return object_url(DOMAIN, name)


def test_mixed_bucket_gives_exact_json(cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    result = cli("manifest", "generate", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir() if p.name != ".iac-files")
    assert files == [
        "dicom_series-0001.json",
        "images-0001.json",
        "pdfs-0001.json",
        "skipped.csv",
        "text-0001.json",
        "videos-0001.json",
    ]
    assert json.loads((out / "images-0001.json").read_text()) == {
        "images": [
            {"objectUrl": f"https://{DOMAIN}/cats/no-type.jpeg", "title": "cats/no-type.jpeg"},
            {"objectUrl": f"https://{DOMAIN}/cats/tabby%2001.png", "title": "cats/tabby 01.png"},
            {"objectUrl": f"https://{DOMAIN}/cats/%C3%B1and%C3%BA.jpg", "title": "cats/ñandú.jpg"},
        ],
        "skip_duplicate_urls": True,
    }
    assert json.loads((out / "videos-0001.json").read_text())["videos"] == [
        {"objectUrl": url("clips/intro.mp4"), "title": "clips/intro.mp4"}
    ]
    assert json.loads((out / "dicom_series-0001.json").read_text())["dicom_series"] == [
        {"title": "scans/patient-1/series-a/extra", "objectUrl_0": url("scans/patient-1/series-a/extra/0001.dcm")},
        {
            "title": "scans/patient-1/series-a",
            "objectUrl_0": url("scans/patient-1/series-a/0001.dcm"),
            "objectUrl_1": url("scans/patient-1/series-a/0002.dcm"),
            "objectUrl_2": url("scans/patient-1/series-a/z-last.dcm"),
        },
        {"title": "scans/patient-1/series-b", "objectUrl_0": url("scans/patient-1/series-b/0001.dcm")},
    ]
    with (out / "skipped.csv").open() as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(skipped) == {"tools/setup.exe", "archive.zip", "empty-folder/"}
    assert "unsupported file type (content type application/zip" in skipped["archive.zip"]
    assert skipped["empty-folder/"] == "folder placeholder, not a file"
    assert "3 objects Encord cannot take are listed in" in result.stdout
    # What iac writes passes iac's own validator.
    assert cli("manifest", "validate", "-c", config, *sorted(out.glob("*.json"))).exit_code == 0


def test_batching_boundaries(cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = cli(
        "manifest", "generate", "-c", config, "-o", out, "--kind", "images", "--images-per-file", "2", "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["units"] == {"images": 3}
    assert document["filtered"] == 8  # the other kinds, left out by --kind
    first = json.loads((out / "images-0001.json").read_text())["images"]
    second = json.loads((out / "images-0002.json").read_text())["images"]
    assert [len(first), len(second)] == [2, 1]

    # A second, smaller run removes the files of the first that no longer belong.
    assert cli("manifest", "generate", "-c", config, "-o", out, "--kind", "images").exit_code == 0
    assert not (out / "images-0002.json").exists()
    assert len(json.loads((out / "images-0001.json").read_text())["images"]) == 3


def test_csv_output(cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader((out / "images-0001.csv").open()))
    assert rows[0] == ["ObjectUrl", "Image title"]
    assert rows[1] == [url("cats/no-type.jpeg"), "cats/no-type.jpeg"]
    dicom = list(csv.reader((out / "dicom_series-0001.csv").open()))
    assert dicom[0] == ["ObjectUrl", "Series title"]
    assert [r[1] for r in dicom[1:]].count("scans/patient-1/series-a") == 3
    with (out / "skipped.csv").open() as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert skipped["docs/beowulf.pdf"] == "Encord's CSV format has no pdfs: use --format json"
    assert cli("manifest", "validate", *sorted(out.glob("[!s]*.csv"))).exit_code == 0


def test_strict_metadata(cli, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no ffprobe
    out = tmp_path / "strict"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata")
    assert result.exit_code == 0, result.output
    images = {u["title"]: u for u in json.loads((out / "images-0001.json").read_text())["images"]}
    assert images["cats/tabby 01.png"]["imageMetadata"] == {
        "mimeType": "image/png",
        "fileSize": len(png(640, 480)),
        "width": 640,
        "height": 480,
    }
    assert images["cats/ñandú.jpg"]["imageMetadata"]["width"] == 1280
    assert images["cats/no-type.jpeg"]["imageMetadata"]["mimeType"] == "image/jpeg"
    [pdf] = json.loads((out / "pdfs-0001.json").read_text())["pdfs"]
    assert pdf["pdfMetadata"] == {"fileSize": len(PDF), "numPages": 3}
    [text] = json.loads((out / "text-0001.json").read_text())["text"]
    assert text["textMetadata"] == {"fileSize": 5, "mime_type": "text/plain"}
    assert not (out / "videos-0001.json").exists(), "no guessed video metadata"
    with (out / "skipped.csv").open() as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert skipped["clips/intro.mp4"].startswith("videos metadata (duration, codec, ...) needs ffprobe")


def test_prefix_and_missing_bucket(cli, config: Path, tmp_path: Path) -> None:
    result = cli("manifest", "generate", "-c", config, "-o", tmp_path / "p", "--prefix", "docs/", "--json")
    assert json.loads(result.stdout)["units"] == {"pdfs": 1, "text": 1}
    config.write_text(config.read_text().replace("name: manifest-", "name: missing-"))
    missing = cli("manifest", "generate", "-c", config, "-o", tmp_path / "q")
    assert missing.exit_code == 1
    assert "bucket not found" in missing.stderr


def test_refuses_to_overwrite_foreign_files(cli, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "images-0001.json").write_text("{}")
    (out / ".iac-files").touch()  # adopted on purpose: what is in it is still not iac's
    result = cli("manifest", "generate", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert "would overwrite files iac did not write (images-0001.json)" in result.stderr
    assert (out / "images-0001.json").read_text() == "{}"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(3, 2), (3, 2)),
        (jpeg(800, 600), (800, 600)),
        (b"GIF89a" + struct.pack("<HH", 10, 20) + b"\x00" * 8, (10, 20)),
        (b"BM" + b"\x00" * 12 + struct.pack("<IiiHH", 40, 300, -200, 1, 24) + b"\x00" * 24, (300, 200)),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little"),
            (100, 50),
        ),
        (
            b"II*\x00"
            + struct.pack("<I", 8)
            + struct.pack("<H", 2)
            + struct.pack("<HHII", 256, 3, 1, 64)
            + struct.pack("<HHII", 257, 3, 1, 32),
            (64, 32),
        ),
        (b"not an image", None),
    ],
)
def test_image_headers(data: bytes, size: tuple[int, int] | None) -> None:
    assert image_size(data) == size


def test_generation_streams_over_any_iterable(tmp_path: Path) -> None:
    from iac.manifest.generate import generate

    def objects():  # type: ignore[no-untyped-def]
        for i in range(2500):
            yield StoredObject(name=f"img/{i:05d}.png", size=10, content_type="image/png")

    summary = generate(objects(), DOMAIN, tmp_path / "s")
    assert summary.units == {"images": 2500}
    assert summary.files == ["images-0001.json", "images-0002.json", "images-0003.json"]


def test_strict_metadata_measures_video_and_audio_with_ffprobe(cli, gcs_client, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg/ffprobe not found: run `bash tests/install-tools.sh`")
    clip, tone = tmp_path / "clip.mp4", tmp_path / "tone.wav"
    lavfi = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"]
    subprocess.run([*lavfi, "testsrc=duration=2:size=64x48:rate=10", "-pix_fmt", "yuv420p", str(clip)], check=True)
    subprocess.run(
        [*lavfi, "sine=frequency=440:duration=1:sample_rate=8000", "-c:a", "pcm_s16le", str(tone)], check=True
    )
    bucket = gcs_client.create_bucket("manifest-media")
    bucket.blob("media/clip.mp4").upload_from_filename(str(clip), content_type="video/mp4")
    bucket.blob("media/tone.wav").upload_from_filename(str(tone), content_type="audio/wav")
    config = write_config(tmp_path / "iac.yaml", "manifest-media")
    out = tmp_path / "media"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata")
    assert result.exit_code == 0, result.output
    [video] = json.loads((out / "videos-0001.json").read_text())["videos"]
    assert video["videoMetadata"] == {
        "fps": 10.0,
        "duration": 2.0,
        "width": 64,
        "height": 48,
        "file_size": clip.stat().st_size,
        "mime_type": "video/mp4",
    }
    [audio] = json.loads((out / "audio-0001.json").read_text())["audio"]
    assert audio["audioMetadata"] == {
        "duration": 1.0,
        "file_size": tone.stat().st_size,
        "mime_type": "audio/wav",
        "sample_rate": 8000,
        "bit_depth": 16,
        "codec": "pcm_s16le",
        "num_channels": 1,
    }
    assert cli("manifest", "validate", "-c", config, *sorted(out.glob("*.json"))).exit_code == 0


# --- issue 16.19, 16.20 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["./x.jpg", "a/../x.jpg", "a/./x.jpg", "a/..", "a/.", ".."])
def test_an_object_with_a_dot_segment_is_skipped_with_the_reason(tmp_path: Path, name: str) -> None:
    """A URL with a '.' or '..' segment names another object once any URL library reads it."""
    import csv as csv_module

    from iac.manifest.generate import generate

    objects = sorted(
        [StoredObject(name, 10, "image/jpeg"), StoredObject("x.jpg", 10, "image/jpeg")], key=lambda o: o.name
    )
    summary = generate(objects, DOMAIN, tmp_path / "m")
    assert summary.units == {"images": 1}
    assert json.loads((tmp_path / "m" / "images-0001.json").read_text())["images"] == [
        {"objectUrl": url("x.jpg"), "title": "x.jpg"}
    ]
    with (tmp_path / "m" / "skipped.csv").open() as handle:
        [row] = list(csv_module.DictReader(handle))
    assert row["object"] == name
    assert "'.' or '..' path segment" in row["reason"]


def test_names_with_dots_that_are_not_segments_are_kept(tmp_path: Path) -> None:
    from iac.manifest.generate import generate

    names = [".hidden/x.jpg", "a/...jpg", "a/..x.jpg", "a/x..jpg"]
    summary = generate([StoredObject(n, 10, "image/jpeg") for n in names], DOMAIN, tmp_path / "m")
    assert summary.units == {"images": 4}
    assert summary.skipped == 0


def test_skipped_csv_and_the_manifests_have_one_mode(tmp_path: Path) -> None:
    import stat

    from iac.manifest.generate import generate

    objects = [StoredObject("a.jpg", 10, "image/jpeg"), StoredObject("b.exe", 10, "application/x-msdownload")]
    generate(objects, DOMAIN, tmp_path / "m")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "m").iterdir() if p.name != ".iac-files"}
    assert modes == {"images-0001.json": 0o644, "skipped.csv": 0o644}


# --- --strict-metadata --jobs N: read concurrently, written as a serial run writes -----------------------------


@pytest.fixture
def many_images(gcs_client, request: pytest.FixtureRequest) -> str:  # type: ignore[no-untyped-def]
    """A bucket of 150 images (one in 10 with an unreadable header), a PDF, text and a DICOM series."""
    name = f"jobs-{abs(hash(request.node.name)) % 10**8}"
    created = gcs_client.create_bucket(name)
    for i in range(150):
        content = b"not an image header" if i % 10 == 3 else png(100 + i, 50 + i)
        created.blob(f"img/{i:04d}.png").upload_from_string(content, content_type="image/png")
    created.blob("docs/beowulf.pdf").upload_from_string(PDF, content_type="application/pdf")
    created.blob("docs/readme.txt").upload_from_string(b"hello", content_type="text/plain")
    created.blob("scans/a/0001.dcm").upload_from_string(b"DICM", content_type="application/dicom")
    return name


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_jobs_write_the_same_bytes_as_a_serial_run(
    cli, many_images: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path / "iac.yaml", many_images)
    runs = {}
    for jobs in ("1", "4", "32"):
        out = tmp_path / f"jobs-{jobs}"
        with caplog.at_level("WARNING"):
            result = cli(
                "manifest", "generate", "-c", config, "-o", out, "--strict-metadata", "--jobs", jobs,
                "--images-per-file", "7",
            )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "objects/s" not in result.stderr, "no progress line when stderr is not a terminal"
        runs[jobs] = files_of(out)
    assert runs["4"] == runs["1"] and runs["32"] == runs["1"], "same files, same order, same batches"
    assert len([name for name in runs["1"] if name.startswith("images-")]) == 20  # 135 readable images, 7 a file
    with (tmp_path / "jobs-32" / "skipped.csv").open() as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert len(skipped) == 15 and all("image dimensions could not be read" in r for r in skipped.values())
    # 32 reads at a time over one HTTP session: its pool holds them all (no "connection pool is full").
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_below_one_is_a_clear_error(cli, config: Path, tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "m"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata", "--jobs", jobs)
    assert result.exit_code == 1
    assert f"error: --jobs {jobs}: give the number of objects to read at a time, 1 or more" in result.stderr
    assert not out.exists()


def test_a_run_stopped_while_reading_ahead_is_completed_by_the_next(many_images: str, gcs_env: str, tmp_path: Path):
    """Stopped after 60 objects with 8 reads in flight: the next run (serial or not) writes what a clean run does."""
    from iac.manifest.bucket import list_bucket
    from iac.manifest.generate import generate

    def stopped_after(count: int):  # type: ignore[no-untyped-def]
        for index, obj in enumerate(list_bucket(many_images, None, connections=8)):
            if index == count:
                raise KeyboardInterrupt
            yield obj

    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    generate(list_bucket(many_images, None), DOMAIN, clean, strict=True, batch={"images": 7})
    with pytest.raises(KeyboardInterrupt):
        generate(stopped_after(60), DOMAIN, resumed, strict=True, batch={"images": 7}, jobs=8)
    generate(list_bucket(many_images, None, connections=8), DOMAIN, resumed, strict=True, batch={"images": 7}, jobs=8)
    assert files_of(resumed) == files_of(clean)


def test_a_listing_failing_part_way_leaves_what_a_serial_run_leaves(many_images: str, gcs_env: str, tmp_path: Path):
    """What was listed before the failure is written (and recorded) whatever --jobs, so the next run completes it."""
    from iac.errors import IacError
    from iac.manifest.bucket import list_bucket
    from iac.manifest.generate import generate

    def failing_after(count: int):  # type: ignore[no-untyped-def]
        for index, obj in enumerate(list_bucket(many_images, None, connections=8)):
            if index == count:
                raise IacError("the listing failed")
            yield obj

    left = {}
    for jobs in (1, 8):
        out = tmp_path / f"jobs-{jobs}"
        with pytest.raises(IacError):
            generate(failing_after(60), DOMAIN, out, strict=True, batch={"images": 7}, jobs=jobs)
        left[jobs] = files_of(out)
    assert left[8] == left[1]
    assert len([name for name in left[1] if name.startswith("images-")]) == 7  # 54 readable images, 7 a file


def test_a_cut_short_image_header_is_unreadable_and_the_run_goes_on(cli, gcs_client, tmp_path: Path) -> None:
    """Issue 24: a PNG or GIF cut inside its header stopped the whole run (struct.error); an OS/2 bitmap of
    3x2 read as 131075x1572865."""
    os2_bmp = b"BM" + struct.pack("<IHHI", 50, 0, 0, 26) + struct.pack("<IHHHH", 12, 3, 2, 1, 24) + b"\x00" * 24
    gif = b"GIF89a" + struct.pack("<HHBBB", 5, 4, 0, 0, 0) + b";"
    bucket = gcs_client.create_bucket("manifest-cut-headers")
    objects = {"a/os2.bmp": os2_bmp, "a/cut.png": png(3, 2)[:20], "a/cut.gif": gif[:8], "a/whole.gif": gif}
    for name, data in objects.items():
        bucket.blob(name).upload_from_string(data, content_type="application/octet-stream")
    config = write_config(tmp_path / "iac.yaml", "manifest-cut-headers")
    out = tmp_path / "out"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    images = {u["title"]: u["imageMetadata"] for u in json.loads((out / "images-0001.json").read_text())["images"]}
    sizes = {title: (m["width"], m["height"]) for title, m in images.items()}
    assert sizes == {"a/os2.bmp": (3, 2), "a/whole.gif": (5, 4)}
    with (out / "skipped.csv").open() as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(skipped) == {"a/cut.png", "a/cut.gif"}
    unreadable = "image dimensions could not be read: the header is cut short"
    assert all(reason.startswith(unreadable) for reason in skipped.values())
