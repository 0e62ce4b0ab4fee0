"""`iac manifest generate` when things are not as they should be: no credentials, PDFs that can't be
trusted, large videos, and object names a spreadsheet would run as formulas (issue #10, items 5 to 7)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from iac.manifest.generate import generate
from iac.manifest.objects import StoredObject
from iac.manifest.urls import object_url
from test_manifest_generate import pdf

DOMAIN = "encord-directaccess.acme.com"


def url(name: str) -> str:
    return object_url(DOMAIN, name)


def write_config(path: Path, bucket: str) -> Path:
    path.write_text(
        f"project: my-gcp-project\ndomain: {DOMAIN}\nbucket: {{name: {bucket}, create: false, origin_region: eu}}\n"
        "allowlist: [39.42.20.11/32]\n"
    )
    return path


# --- no credentials -------------------------------------------------------------------------------------


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def no_google(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """No credentials anywhere, no emulator, no metadata server; every connection attempt beyond 127.0.0.1
    is refused and recorded (the list returned), so nothing can reach a Google endpoint or hang on one."""
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud application-default file
    closed = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # google-auth compares with "true"
    monkeypatch.setenv("GCE_METADATA_HOST", closed)
    monkeypatch.setenv("GCE_METADATA_IP", closed)
    # google-auth reads NO_GCE_CHECK and GCE_METADATA_HOST when it is imported: set what it read, too.
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", closed)

    attempts: list[object] = []
    connect = socket.socket.connect
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not (isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1", "localhost")):
            attempts.append(address)
            raise OSError(f"test: no network beyond 127.0.0.1 ({address!r})")
        connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            attempts.append(host)
            raise socket.gaierror(f"test: no name lookups ({host!r})")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return attempts


def test_no_credentials_is_one_message_and_creates_nothing(cli, tmp_path: Path, no_google: list[object]) -> None:
    config = write_config(tmp_path / "iac.yaml", "some-bucket")
    out = tmp_path / "manifests"
    result = cli("manifest", "generate", "-c", config, "-o", out)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: gs://some-bucket: ")
    assert "missing-key.json was not found" in line  # google-auth's own reason
    for hint in (
        "Application Default Credentials",
        "gcloud auth application-default login",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "STORAGE_EMULATOR_HOST",
    ):
        assert hint in line
    assert not out.exists(), "nothing is created when the bucket cannot be listed"
    assert no_google == [], "no connection beyond 127.0.0.1 was attempted"


def test_a_listing_that_fails_at_once_creates_nothing(cli, gcs_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path / "iac.yaml", "no-such-bucket")
    out = tmp_path / "nested" / "manifests"
    result = cli("manifest", "generate", "-c", config, "-o", out)
    assert result.exit_code == 1
    assert "gs://no-such-bucket: bucket not found" in result.stderr
    assert not (tmp_path / "nested").exists()


# --- PDFs: the page count is read, never guessed ----------------------------------------------------------


def _with_incremental_update(original: bytes) -> bytes:
    """`original` with an incremental update appended: new versions of two page objects and a new xref
    section pointing at them (the old objects stay in the file, as after any "save" of an editor)."""
    from pypdf import PdfWriter

    writer = PdfWriter(io.BytesIO(original), incremental=True)
    writer.pages[0].rotate(90)
    writer.pages[1].rotate(90)
    data = io.BytesIO()
    writer.write(data)
    return data.getvalue()


def _encrypted(original: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(original)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    data = io.BytesIO()
    writer.write(data)
    return data.getvalue()


@pytest.fixture
def pdf_bucket(gcs_client, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:  # type: ignore[no-untyped-def]
    three = pdf(3)
    updated = _with_incremental_update(three)
    assert updated.startswith(three) and updated.count(b"/Type /Page\n") == 5  # what a text match counts
    files = {
        "docs/updated.pdf": updated,
        "docs/truncated.pdf": three[: three.index(b"xref")],  # the page objects are there, the rest is not
        "docs/not-a-pdf.pdf": b"%PDF-1.7\n" + b"\x00garbage" * 64,
        "docs/locked.pdf": _encrypted(three, "secret"),
        "docs/owner-only.pdf": _encrypted(pdf(2), ""),  # opens without a password, as in any viewer
    }
    bucket = gcs_client.create_bucket("manifest-pdfs")
    for name, data in files.items():
        bucket.blob(name).upload_from_string(data, content_type="application/pdf")
    return write_config(tmp_path / "iac.yaml", "manifest-pdfs"), files


def test_pdf_page_count_is_read_not_guessed(cli, pdf_bucket: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    config, files = pdf_bucket
    out = tmp_path / "pdfs"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata")
    assert result.exit_code == 0, result.output
    pdfs = {unit["title"]: unit for unit in json.loads((out / "pdfs-0001.json").read_text())["pdfs"]}
    assert pdfs == {
        "docs/owner-only.pdf": {
            "objectUrl": url("docs/owner-only.pdf"),
            "title": "docs/owner-only.pdf",
            "pdfMetadata": {"fileSize": len(files["docs/owner-only.pdf"]), "numPages": 2},
        },
        "docs/updated.pdf": {
            "objectUrl": url("docs/updated.pdf"),
            "title": "docs/updated.pdf",
            "pdfMetadata": {"fileSize": len(files["docs/updated.pdf"]), "numPages": 3},
        },
    }
    with (out / "skipped.csv").open(newline="") as handle:
        skipped = {row["object"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(skipped) == {"docs/truncated.pdf", "docs/not-a-pdf.pdf", "docs/locked.pdf"}
    assert skipped["docs/locked.pdf"] == "PDF is encrypted with a password: its page count cannot be read"
    for name in ("docs/truncated.pdf", "docs/not-a-pdf.pdf"):
        assert skipped[name].startswith("PDF could not be read: "), skipped[name]
    assert result.stderr == "", "pypdf's own log messages do not reach the terminal"
    assert cli("manifest", "validate", "-c", config, *sorted(out.glob("*.json"))).exit_code == 0


# --- videos: streamed to a temporary file, never held in memory -------------------------------------------


def _clip(path: Path) -> Path:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.fail("ffmpeg/ffprobe not found: run `bash tests/install-tools.sh`")
    lavfi = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"]
    subprocess.run([*lavfi, "testsrc=duration=2:size=64x48:rate=10", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_video_is_streamed_to_a_private_temporary_file(
    cli,
    gcs_client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    from google.cloud.storage import Blob

    clip = _clip(tmp_path / "clip.mp4")
    bucket = gcs_client.create_bucket("manifest-stream")
    bucket.blob("media/clip.mp4").upload_from_filename(str(clip), content_type="video/mp4")
    bucket.blob("media/doc.pdf").upload_from_string(pdf(4), content_type="application/pdf")
    config = write_config(tmp_path / "iac.yaml", "manifest-stream")

    whole: list[str] = []
    ranged = Blob.download_as_bytes

    def download_as_bytes(self: Blob, *args: Any, **kwargs: Any) -> bytes:
        if kwargs.get("end") is None:
            whole.append(self.name)
        return ranged(self, *args, **kwargs)

    seen: list[tuple[str, int]] = []
    real_run = subprocess.run

    def ffprobe_run(command: list[str], *args: Any, **kwargs: Any) -> Any:
        if command[0] == "ffprobe":
            probed = Path(command[-1])
            seen.append((str(probed.parent), probed.parent.stat().st_mode & 0o777))
        return real_run(command, *args, **kwargs)

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(Blob, "download_as_bytes", download_as_bytes)
    monkeypatch.setattr(subprocess, "run", ffprobe_run)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    out = tmp_path / "out"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--strict-metadata")
    assert result.exit_code == 0, result.output
    [video] = json.loads((out / "videos-0001.json").read_text())["videos"]
    assert video["videoMetadata"]["duration"] == 2.0
    assert video["videoMetadata"]["file_size"] == clip.stat().st_size
    [document] = json.loads((out / "pdfs-0001.json").read_text())["pdfs"]
    assert document["pdfMetadata"]["numPages"] == 4
    assert whole == [], "no object is read whole into memory"
    [(directory, mode)] = seen
    assert Path(directory).parent == scratch and mode == 0o700, "a private directory in the temporary directory"
    assert list(scratch.iterdir()) == [], "the temporary copies are removed"


def test_objects_of_other_listings_are_read_whole_and_counted_right(tmp_path: Path) -> None:
    # A StoredObject without `copy_to` (another listing, a test) is read in one piece, and counted the same.
    updated = _with_incremental_update(pdf(3))
    objects = [StoredObject("a.pdf", len(updated), "application/pdf", read=lambda limit: updated[:limit])]
    summary = generate(objects, DOMAIN, tmp_path / "o", strict=True)
    assert summary.units == {"pdfs": 1}
    assert json.loads((tmp_path / "o" / "pdfs-0001.json").read_text())["pdfs"][0]["pdfMetadata"]["numPages"] == 3


def test_no_room_for_the_temporary_copy_is_one_message(tmp_path: Path) -> None:
    import errno

    from iac.errors import IacError

    def full_disk(handle: Any) -> None:
        handle.write(b"\x00" * 1024)
        raise OSError(errno.ENOSPC, "No space left on device")

    objects = [StoredObject("big.pdf", 10**8, "application/pdf", copy_to=full_disk)]
    with pytest.raises(IacError, match=r"big.pdf: no room for a temporary copy .* set TMPDIR"):
        generate(objects, DOMAIN, tmp_path / "full", strict=True)


# --- CSV injection ----------------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+SUM(1,2)", "@x", "-2+3", "\tTAB", "%2Bnot-a-formula"]


def test_skip_report_neutralises_formulas(cli, gcs_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bucket = gcs_client.create_bucket("manifest-formulas")
    for name in FORMULAS:
        bucket.blob(name).upload_from_string(b"x", content_type="application/zip")
    config = write_config(tmp_path / "iac.yaml", "manifest-formulas")
    out = tmp_path / "f"
    result = cli("manifest", "generate", "-c", config, "-o", out)
    assert result.exit_code == 0, result.output
    with (out / "skipped.csv").open(newline="") as handle:
        names = [row["object"] for row in csv.DictReader(handle)]
    assert sorted(names) == sorted(
        ['\'=HYPERLINK("http://x","y")', "'+SUM(1,2)", "'@x", "'-2+3", "'\tTAB", "%2Bnot-a-formula"]
    )


def test_skip_report_neutralises_a_leading_carriage_return(tmp_path: Path) -> None:
    # Google Cloud Storage refuses CR and LF in object names; other listings may not.
    objects = [StoredObject("\r=1+1", 1, "application/zip"), StoredObject("ok.zip", 1, "application/zip")]
    generate(objects, DOMAIN, tmp_path / "cr")
    with (tmp_path / "cr" / "skipped.csv").open(newline="") as handle:
        assert [row["object"] for row in csv.DictReader(handle)] == ["'\r=1+1", "ok.zip"]


def test_csv_manifest_keeps_titles_and_warns(cli, gcs_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    images = ["=1+1.png", "+plus.jpg", "-minus.png", "@at.png", "\ttab.png", "plain.png"]
    bucket = gcs_client.create_bucket("manifest-titles")
    for name in images:
        bucket.blob(name).upload_from_string(b"x", content_type="image/png")
    for name in ("=scan/0001.dcm", "=scan/0002.dcm"):
        bucket.blob(name).upload_from_string(b"DICM", content_type="application/dicom")
    config = write_config(tmp_path / "iac.yaml", "manifest-titles")
    out = tmp_path / "t"
    result = cli("manifest", "generate", "-c", config, "-o", out, "--format", "csv")
    assert result.exit_code == 0, result.output
    with (out / "images-0001.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert sorted(title for _, title in rows) == sorted(images), "Encord's data is written as is"
    with (out / "dicom_series-0001.csv").open(newline="") as handle:
        assert [title for _, title in list(csv.reader(handle))[1:]] == ["=scan", "=scan"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 6, result.stderr  # five images and the one DICOM series
    for title in [*images[:5], "=scan"]:
        assert sum(repr(title) in line for line in warnings) == 1, (title, warnings)
    assert all("a spreadsheet" in line for line in warnings)
    assert any(line.startswith("warning: dicom_series-0001.csv: ") for line in warnings)

    # JSON files are not opened in spreadsheets: no warning there.
    quiet = cli("manifest", "generate", "-c", config, "-o", tmp_path / "j")
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
