"""`iac manifest generate`: registration files for every object of the Direct Access bucket.

The listing is streamed: at most one batch per kind (and the DICOM series still open) is held in memory,
whatever the number of objects, and each batch file is written as soon as it is full. Objects whose
metadata needs the whole file (videos, audio, PDFs under --strict-metadata) are streamed to a temporary
file, so memory does not grow with their size either.

Under --strict-metadata, up to `jobs` objects are read at a time (a window of the listing read ahead, in
threads), but everything is written in the listing's order by one thread: the files are the same bytes as
a serial run's, and a run stopped half way is completed by the next as before.

The objects come from any listing (`bucket.list_bucket` for the Direct Access bucket); `media` says what
each one is, `batches` writes the files.
"""

from __future__ import annotations

import collections
import itertools
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iac.files.durations import DEFAULT_LOCK_SECONDS
from iac.files.ledger import MANIFEST_GENERATE, Deployment
from iac.files.locks import locked_output
from iac.files.output import OutputDirectory
from iac.manifest.batches import BatchFiles
from iac.manifest.formats import CSV_MAX_ROWS, DEFAULT_BATCH, KIND_KEYS, METADATA
from iac.manifest.media import classify, strict_metadata
from iac.manifest.objects import StoredObject
from iac.manifest.urls import object_url, unaddressable

KINDS = ("images", "videos", "audio", "pdfs", "text", "dicom")
# How far the listing is read ahead of what is written, per job: enough to keep every job busy while the
# next object to write is still being read, and memory bounded whatever the size of the bucket.
_AHEAD_PER_JOB = 4


@dataclass
class Summary:
    files: list[str] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    filtered: int = 0


@dataclass
class Progress:
    """How far a run is, for a progress line: objects listed, read (--strict-metadata) and skipped."""

    listed: int = 0
    read: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Objects listed per second so far."""
        return self.listed / max(time.monotonic() - self.started, 1e-9)


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
    jobs: int = 1,
    ticker: Callable[[Progress], None] | None = None,
    config: Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_SECONDS,
) -> Summary:
    """Write registration files for `objects` (sorted by name, as bucket listings are) into `out_dir`.

    `jobs` objects are read at a time under `strict` (1: one after the other); `ticker`, when given, is
    called with the counts as the run goes (at most every few hundred objects read or listed) and at the end.
    `out_dir` is locked meanwhile (another iac command writing it is waited for up to `lock_timeout`
    seconds); `config` is the config file read, whose own directory may hold other files.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {jobs}")
    with locked_output(out_dir, lock_timeout):
        # Checked before the listing starts: a directory that is not one, or holds other iac files.
        directory = OutputDirectory(out_dir, MANIFEST_GENERATE, deployment, config=config)
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
        output = BatchFiles(directory, fmt, sizes, warn=progress)
        run = Run(domain, output, kind, fmt, strict, jobs, progress, ticker)
        try:
            return run.write(listing)
        except BaseException:
            output.discard()
            raise


@dataclass(frozen=True)
class _Triaged:
    """One listed object and what becomes of it, known from the listing alone (nothing read yet)."""

    obj: StoredObject
    kind: str | None  # None: skipped, for `reason`
    mime: str = ""
    reason: str = ""
    filtered: bool = False  # of a kind --kind leaves out
    reads: bool = False  # its metadata is read from the object (--strict-metadata)


# What reading an object's metadata gave: the metadata, or None and why not.
_Read = tuple[dict[str, Any] | None, str]


class Run:
    """One `generate`: triage each listed object, read the metadata of those that need it (ahead, `jobs`
    at a time), and write every unit, skip and DICOM series in the listing's order."""

    def __init__(
        self,
        domain: str,
        output: BatchFiles,
        kind: str,
        fmt: str,
        strict: bool,
        jobs: int,
        progress: Callable[[str], None],
        ticker: Callable[[Progress], None] | None,
    ) -> None:
        self.domain, self.output, self.kind, self.fmt, self.strict, self.jobs = domain, output, kind, fmt, strict, jobs
        self.progress, self.ticker = progress, ticker
        self.counts = Progress()
        self.summary = Summary()
        self.series = _SeriesCollector()

    def write(self, objects: Iterable[StoredObject]) -> Summary:
        triaged = (self._triage(obj) for obj in self._listed(objects))
        for item, read in self._with_metadata(triaged):
            for done in self.series.close_before(item.obj.name):
                _emit_series(self.output, self.summary, done, self.domain, self.fmt)
            self._record(item, read)
            self._tick(self.counts.read % 100 == 0 and read is not None)
        for done in self.series.close_all():
            _emit_series(self.output, self.summary, done, self.domain, self.fmt)
        self.summary.files = self.output.close()
        self.summary.skipped = self.output.skip_rows
        self._tick(True)
        return self.summary

    def _listed(self, objects: Iterable[StoredObject]) -> Iterator[StoredObject]:
        for obj in objects:
            self.counts.listed += 1
            if self.counts.listed % 10_000 == 0 and self.ticker is None:
                self.progress(f"{self.counts.listed} objects listed")
            self._tick(self.counts.listed % 1000 == 0)
            yield obj

    def _triage(self, obj: StoredObject) -> _Triaged:
        found, mime, reason = classify(obj)
        reason = unaddressable(obj.name) or reason
        if found is None or reason:
            return _Triaged(obj, None, reason=reason)
        if self.kind != "auto" and found != self.kind:
            return _Triaged(obj, found, filtered=True)
        if self.fmt == "csv" and found not in ("images", "videos", "dicom"):
            return _Triaged(obj, None, reason=f"Encord's CSV format has no {found}: use --format json")
        return _Triaged(obj, found, mime, reads=self.strict and found != "dicom")

    def _with_metadata(self, triaged: Iterable[_Triaged]) -> Iterator[tuple[_Triaged, _Read | None]]:
        """Each object with its metadata read (None when it reads none), in the listing's order."""
        if self.jobs == 1 or not self.strict:
            for item in triaged:
                yield item, self._read(item) if item.reads else None
            return
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="iac-metadata")
        ahead: collections.deque[tuple[_Triaged, Future[_Read] | None]] = collections.deque()

        def oldest() -> tuple[_Triaged, _Read | None]:
            first, future = ahead.popleft()
            return first, None if future is None else future.result()

        listing = iter(triaged)
        try:
            while True:
                try:
                    item = next(listing)
                except StopIteration:
                    break
                except Exception:
                    # The listing failed part way: what it listed before is written, as a serial run writes it.
                    while ahead:
                        yield oldest()
                    raise
                ahead.append((item, pool.submit(self._read, item) if item.reads else None))
                while len(ahead) > self.jobs * _AHEAD_PER_JOB:
                    yield oldest()
            while ahead:
                yield oldest()
        finally:
            # Stopped (an error, Ctrl-C): what was not started is not; nothing read ahead is written.
            pool.shutdown(wait=False, cancel_futures=True)

    def _read(self, item: _Triaged) -> _Read:
        assert item.kind is not None
        return strict_metadata(item.kind, item.obj, item.mime)

    def _record(self, item: _Triaged, read: _Read | None) -> None:
        obj = item.obj
        if item.kind is None:
            self._skip(obj.name, item.reason)
            return
        if item.filtered:
            self.summary.filtered += 1
            return
        if item.kind == "dicom":
            self.series.add(obj)
            return
        metadata: dict[str, Any] | None = None
        if read is not None:
            self.counts.read += 1
            metadata, why = read
            if metadata is None:
                self._skip(obj.name, why)
                return
        key = KIND_KEYS[item.kind]
        url = object_url(self.domain, obj.name)
        if self.fmt == "csv":
            self.output.add(key, [url, obj.name])
        else:
            entry: dict[str, Any] = {"objectUrl": url, "title": obj.name}
            if metadata is not None:
                entry[METADATA[key][0]] = metadata
            self.output.add(key, entry)
        self.summary.units[key] = self.summary.units.get(key, 0) + 1

    def _skip(self, name: str, reason: str) -> None:
        self.output.skip(name, reason)
        self.counts.skipped += 1

    def _tick(self, due: bool) -> None:
        if due and self.ticker is not None:
            self.ticker(self.counts)


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
