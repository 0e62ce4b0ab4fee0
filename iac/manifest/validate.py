"""Check an Encord registration file (JSON or CSV) before it is uploaded: every problem, with its place.

This module reads the file and picks the checker: `jsoncheck` for JSON (parsed by `jsonpos`, which keeps
the place of every value), `csvcheck` for CSV.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from iac.files.inputs import REGISTRATION_FILE, InputFileError, read_input
from iac.manifest.csvcheck import check_csv
from iac.manifest.jsoncheck import check_json
from iac.manifest.problems import Problem


def validate_file(path: Path, domain: str | None = None) -> list[Problem]:
    """Every problem in the registration file at `path`, in file order; [] when it is fine.

    JSON or CSV by the extension (.json, .csv); otherwise a file whose first non-blank character is
    '{' or '[' is JSON and anything else CSV. With `domain` (the Direct Access domain), every object
    URL must be https://DOMAIN/... .
    """
    text = _read(path)
    if isinstance(text, Problem):
        return [text]
    where = str(path)
    domain = domain.strip().lower() if domain else None
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in ("{", "["))
    problems = check_json(text, where, domain) if is_json else check_csv(text, where, domain)
    return sorted(problems, key=lambda p: (p.line, p.column))


def _read(path: Path) -> str | Problem:
    try:
        data = read_input(path, REGISTRATION_FILE)
    except FileNotFoundError:
        return Problem(str(path), 0, 0, "", "cannot read the file: it does not exist")
    except IsADirectoryError:
        return Problem(str(path), 0, 0, "", "cannot read the file: it is a directory")
    except InputFileError as exc:  # a device, a FIFO, or over the cap
        return Problem(str(path), 0, 0, "", exc.reason)
    except OSError as exc:
        return Problem(str(path), 0, 0, "", f"cannot read the file: {exc.strerror or exc}")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        return Problem(
            str(path),
            line,
            column,
            "",
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} here); save it as UTF-8",
        )
