"""Check a registration file's CSV against Encord's format: every problem, at its row and cell."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass

from iac.manifest import formats
from iac.manifest.problems import Problem, quoted, suggest
from iac.manifest.urls import url_problems
from iac.words import plural

_CREATE_VIDEO = "create video"
_OBJECT_URL = "objecturl"
_TITLE_HEADINGS = {kind: headings[1].lower() for kind, headings in formats.CSV_HEADERS.items() if len(headings) > 1}


def _accepted_headers() -> dict[tuple[str, ...], str]:
    accepted: dict[tuple[str, ...], str] = {(_OBJECT_URL,): "videos"}  # the single-column form: videos
    for kind, headings in formats.CSV_HEADERS.items():
        lower = tuple(heading.lower() for heading in headings)
        accepted[lower] = kind
        if _CREATE_VIDEO not in lower:
            # A file mixing kinds gives every header the Create video column (Encord's own example).
            accepted[(*lower, _CREATE_VIDEO)] = kind
    return accepted


_ACCEPTED = _accepted_headers()
_KNOWN_HEADINGS = {heading.lower(): heading for headings in formats.CSV_HEADERS.values() for heading in headings}
_HEADER_LIST = " | ".join(",".join(headings) for headings in formats.CSV_HEADERS.values())
_HEADER_HELP = (
    f"The header rows Encord accepts: {_HEADER_LIST} (each may end with Create video; "
    "a lone ObjectUrl column means videos)."
)


@dataclass(frozen=True)
class _Header:
    line: int
    kind: str | None  # None: not a header Encord accepts
    width: int
    names: tuple[str, ...]  # the headings as written, trimmed
    lower: tuple[str, ...]

    def index(self, heading: str) -> int | None:
        return self.lower.index(heading) if heading in self.lower else None


def _physical_lines(text: str) -> list[str]:
    return io.StringIO(text, newline="").readlines()


def _cell_columns(line: str) -> list[int]:
    """The 1-based column where each cell of a one-line CSV record starts."""
    columns = [1]
    quoted = False
    for offset, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            columns.append(offset + 2)
    return columns


_FIELD_END = re.compile(r"[,\r\n]")


def unclosed_quote(text: str) -> int | None:
    """The offset of a quote that opens a value and is never closed, or None.

    Python's csv module (not strict) reads such a value to the end of the file without a word: the rows after
    it vanish into one cell. A quote opens a value only at its start; `""` inside a quoted value is a quote.
    """
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] == '"':  # a quoted value: find its closing quote
            close = pos + 1
            while True:
                close = text.find('"', close)
                if close < 0:
                    return pos
                if text.startswith('""', close):
                    close += 2
                    continue
                break
            pos = close + 1
        found = _FIELD_END.search(text, pos)  # the rest of the value (a quote inside it is a character)
        if found is None:
            return None
        pos = found.end()
    return None


def check_csv(text: str, path: str, domain: str | None) -> list[Problem]:
    """The problems of the CSV registration file `text` (read from `path`): headers, rows, URLs, size."""
    problems: list[Problem] = []
    lines = _physical_lines(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: _Header | None = None
    headerless_reported = False
    data_rows = 0
    first_over_limit = 0
    previous_end = 0
    last_start = 0  # the line the last record read starts on
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(path, reader.line_num, 0, f"row {reader.line_num}", f"not valid CSV: {exc}"))
            last_start = 0
            break
        start, end = previous_end + 1, reader.line_num
        previous_end, last_start = end, start
        if not row:
            continue
        problem = _RowReporter(path, start, lines[start - 1] if start == end else None, problems)
        lower = tuple(cell.strip().lower() for cell in row)
        if any(cell in _KNOWN_HEADINGS for cell in lower):
            header = _check_header(row, lower, start, problem)
            continue
        data_rows += 1
        if data_rows == formats.CSV_MAX_ROWS + 1:
            first_over_limit = start
        if header is None:
            if not headerless_reported:
                headerless_reported = True
                problem(None, f"row {start}", _missing_header(row))
            continue
        _check_row(row, header, start, domain, problem)
    if last_start:
        _check_last_quote(text, lines, last_start, path, problems)
    if first_over_limit:
        files = math.ceil(data_rows / formats.CSV_MAX_ROWS)
        problems.append(
            Problem(
                path,
                first_over_limit,
                0,
                f"row {first_over_limit}",
                f"the file has {data_rows:,} data rows; Encord accepts at most {formats.CSV_MAX_ROWS:,} in one CSV "
                f"file: split it into {files} files, each starting with its header row",
            )
        )
    if header is not None and not data_rows:
        problems.append(
            Problem(path, header.line, 0, f"row {header.line} (header)", "no data rows: the file registers nothing")
        )
    elif not problems and header is None and not data_rows:
        problems.append(
            Problem(path, 0, 0, "", f"the file is empty: it needs a header row and data rows. {_HEADER_HELP}")
        )
    return problems


def _check_last_quote(text: str, lines: list[str], start_line: int, path: str, problems: list[Problem]) -> None:
    """A quote never closed can only open in the last record read (it runs to the end of the file), which
    starts at line `start_line`."""
    offset = sum(len(line) for line in lines[: start_line - 1])
    opened = unclosed_quote(text[offset:])
    if opened is None:
        return
    line, column = start_line, opened + 1
    for physical in lines[start_line - 1 :]:
        if column <= len(physical):
            break
        column -= len(physical)
        line += 1
    problems.append(
        Problem(
            path,
            line,
            column,
            f"row {line}",
            "this quote opens a value that is never closed: everything after it, to the end of the file, would be "
            'read as one value; close it (a quote inside a quoted value is written twice: "")',
        )
    )


class _RowReporter:
    """Reports the problems of one CSV record, at the column of a cell when the record is on one line."""

    def __init__(self, path: str, line: int, text: str | None, problems: list[Problem]) -> None:
        self.path = path
        self.line = line
        self.text = text  # the record's line; None when it spans several
        self.problems = problems

    def __call__(self, cell: int | None, where: str, message: str) -> None:
        columns = _cell_columns(self.text) if self.text is not None and cell is not None else []
        column = columns[cell] if cell is not None and cell < len(columns) else 0
        self.problems.append(Problem(self.path, self.line, column, where, message))


def _missing_header(row: list[str]) -> str:
    message = "the file does not start with a header row"
    if len(row) == 1 and any(sep in row[0] for sep in ";\t") and _OBJECT_URL in row[0].lower():
        message += " separated by commas: this one seems to use ';' or tabs; Encord's CSV needs commas"
    return f"{message}. {_HEADER_HELP}"


def _check_header(row: list[str], lower: tuple[str, ...], line: int, problem: _RowReporter) -> _Header:
    names = tuple(cell.strip() for cell in row)
    kind = _ACCEPTED.get(lower)
    header = _Header(line, kind, len(row), names, lower)
    if kind is not None:
        return header
    where = f"row {line} (header)"
    bad = False
    for cell, (name, heading) in enumerate(zip(names, lower, strict=True)):
        if heading not in _KNOWN_HEADINGS:
            bad = True
            problem(
                cell,
                where,
                f"unknown heading {quoted(name)} in the header row{suggest(name, _KNOWN_HEADINGS.values())} "
                + _HEADER_HELP,
            )
        elif lower.index(heading) != cell:
            bad = True
            problem(cell, where, f"the heading {quoted(name)} appears twice in the header row")
    if not bad:
        same = [key for key in _ACCEPTED if sorted(key) == sorted(lower)]
        if same:
            order = ",".join(_KNOWN_HEADINGS[heading] for heading in same[0])
            message = f"the columns are not in the order Encord documents: write the header as {order}"
        else:
            message = _incomplete_header(lower)
        problem(None, where, message)
    return header


def _incomplete_header(lower: tuple[str, ...]) -> str:
    """Why a header row of known headings, each once, is still not one Encord accepts."""
    named = sorted(kind for kind, title in _TITLE_HEADINGS.items() if title in lower)
    if len(named) > 1:
        return (
            f"the header row mixes the headings of {' and '.join(named)}: give each kind its own header row, "
            "starting a new one where the kind changes"
        )
    if named:
        expected = formats.CSV_HEADERS[named[0]]
        missing = ", ".join(heading for heading in expected if heading.lower() not in lower)
        return f"the header row lacks {missing}: the header for {named[0]} is {','.join(expected)}"
    return f"the header row has no title column. {_HEADER_HELP}"


def _check_row(row: list[str], header: _Header, line: int, domain: str | None, problem: _RowReporter) -> None:
    where = f"row {line}"
    if len(row) != header.width:
        hint = (
            "is there an unquoted comma in a value? Put such values in double quotes"
            if len(row) > header.width
            else "add the missing cells (an empty cell is fine: a trailing comma)"
        )
        problem(
            None,
            where,
            f"this row has {plural(len(row), 'column')} but its header (row {header.line}) has {header.width}: {hint}",
        )
    url_index = header.index(_OBJECT_URL)
    if url_index is not None:
        at = f"{where}, column {header.names[url_index]}"
        url = row[url_index] if url_index < len(row) else ""
        if not url.strip():
            problem(url_index, at, "ObjectUrl is empty: every row needs the URL of its file")
        else:
            for message in url_problems(url, domain):
                problem(url_index, at, message)
    create_index = header.index(_CREATE_VIDEO)
    if create_index is not None and create_index < len(row):
        value = row[create_index].strip().lower()
        if value not in ("", "true", "false"):
            problem(
                create_index,
                f"{where}, column {header.names[create_index]}",
                f"Create video must be true, false or blank, not {quoted(row[create_index])}",
            )
    if header.kind == "image_groups":
        title_index = header.index(_TITLE_HEADINGS["image_groups"])
        if title_index is not None and not (title_index < len(row) and row[title_index].strip()):
            problem(
                title_index,
                f"{where}, column {header.names[title_index]}",
                "the image group title is empty: it is required, as it says which group the file belongs to",
            )
