"""The registration files of one run: units batched by kind, each file written to the output directory (and
its ledger) as soon as it is full, and the report of the objects skipped."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from iac.files.output import OutputDirectory
from iac.manifest.formats import CSV_HEADERS

SKIP_REPORT = "skipped.csv"
# The mode of every file one run writes: the registration files and the skip report alike.
FILE_MODE = 0o644
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """`cell`, prefixed with ' when a spreadsheet would read it as a formula."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


class CsvWriter:
    """csv.writer with "\n" line ends that also quotes a field holding a CR: the csv module quotes CR only
    when the line terminator has one, and an unquoted CR ends the row for the readers."""

    def __init__(self, handle: IO[str]) -> None:
        self.minimal = csv.writer(handle, lineterminator="\n")
        self.quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence[str]) -> None:
        (self.quoted if any("\r" in cell for cell in row) else self.minimal).writerow(row)


class BatchFiles:
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
        self.skip_writer = CsvWriter(self.skips)
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
            writer = CsvWriter(text)
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
        self.output.commit({name: self.output.stage(name, content.encode("utf-8"), FILE_MODE)})
        self.written.append(name)

    def close(self) -> list[str]:
        for key in list(self.pending):
            self.flush(key)
        self.skips.close()
        if self.skip_rows:
            self.skips_path.chmod(FILE_MODE)  # created 0600 (mkstemp), like no other file of the run
            self.output.refuse_foreign([SKIP_REPORT])
            self.output.commit({SKIP_REPORT: self.skips_path})
            self.written.append(SKIP_REPORT)
        else:
            self.skips_path.unlink(missing_ok=True)
        self.output.finish(self.written)
        return self.written
