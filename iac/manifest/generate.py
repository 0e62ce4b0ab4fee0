"""`iac manifest generate`: registration files for every object of the Direct Access bucket.

The listing is streamed: at most one batch per kind (and the DICOM series still open) is held in memory,
whatever the number of objects, and each batch file is written as soon as it is full. Objects whose
metadata needs the whole file (videos, audio, PDFs under --strict-metadata) are streamed to a temporary
file, so memory does not grow with their size either.

The objects come from any listing (`bucket.list_bucket` for the Direct Access bucket); `media` says what
each one is, `batches` writes the files.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iac.files import DEFAULT_LOCK_SECONDS, MANIFEST_GENERATE, Deployment, OutputDirectory, locked_output
from iac.manifest.batches import BatchFiles
from iac.manifest.formats import CSV_MAX_ROWS, DEFAULT_BATCH, KIND_KEYS, METADATA
from iac.manifest.media import classify, strict_metadata
from iac.manifest.objects import StoredObject
from iac.manifest.urls import object_url, unaddressable

KINDS = ("images", "videos", "audio", "pdfs", "text", "dicom")


@dataclass
class Summary:
    files: list[str] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    filtered: int = 0


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
    config: Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_SECONDS,
) -> Summary:
    """Write registration files for `objects` (sorted by name, as bucket listings are) into `out_dir`.

    `out_dir` is locked meanwhile (another iac command writing it is waited for up to `lock_timeout`
    seconds); `config` is the config file read, whose own directory may hold other files."""
    with locked_output(out_dir, lock_timeout):
        # Checked before the listing starts: a directory that is not one, or holds other iac files.
        directory = OutputDirectory(out_dir, MANIFEST_GENERATE, deployment, config=config)
        # The first object is listed before anything is written: a listing that cannot start (no
        # credentials, no such bucket, no permission) leaves the file system as it was.
        listing = iter(objects)
        first = next(listing, None)
        if first is not None:
            listing = itertools.chain([first], listing)
        directory.open()
        sizes = dict(DEFAULT_BATCH)
        sizes.update(batch or {})
        if fmt == "csv":
            sizes = {key: min(size, CSV_MAX_ROWS) for key, size in sizes.items()}
        output = BatchFiles(directory, fmt, sizes, warn=progress)
        try:
            return _generate(listing, domain, output, kind, fmt, strict, progress)
        except BaseException:
            output.discard()
            raise


def _generate(
    objects: Iterable[StoredObject],
    domain: str,
    output: BatchFiles,
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
        reason = unaddressable(obj.name) or reason
        if found is None or reason:
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


def _emit_series(output: BatchFiles, summary: Summary, series: _Series, domain: str, fmt: str) -> None:
    title = series.folder or "(bucket root)"
    if fmt == "csv":
        for name in series.names:
            output.add("dicom_series", [object_url(domain, name), title])
    else:
        unit: dict[str, Any] = {"title": title}
        unit.update({f"objectUrl_{i}": object_url(domain, name) for i, name in enumerate(series.names)})
        output.add("dicom_series", unit)
    summary.units["dicom_series"] = summary.units.get("dicom_series", 0) + 1
