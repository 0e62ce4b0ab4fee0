"""Check an Encord registration file (JSON or CSV) before it is uploaded: every problem, with its place.

The JSON is read by a small parser of our own, because the standard library's gives no positions and
silently keeps the last of two equal keys. It tolerates trailing commas (each one is reported) so that
the problems after them are found too; any other syntax error stops the check with that one error.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import difflib
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from iac.manifest import formats


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registration file, and where."""

    path: str  # the file, as given
    line: int  # 1-based; 0 when the problem is about the whole file
    column: int  # 1-based; 0 when not known
    where: str  # a JSON path like images[3].objectUrl, a CSV place like "row 12, column ObjectUrl", or ""
    message: str  # what is wrong and what to do

    def __str__(self) -> str:
        location = self.path
        if self.line:
            location += f":{self.line}"
            if self.column:
                location += f":{self.column}"
        return ": ".join(part for part in (location, self.where, self.message) if part)


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
    problems = _validate_json(text, where, domain) if is_json else _validate_csv(text, where, domain)
    return sorted(problems, key=lambda p: (p.line, p.column))


def _read(path: Path) -> str | Problem:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Problem(str(path), 0, 0, "", "cannot read the file: it does not exist")
    except IsADirectoryError:
        return Problem(str(path), 0, 0, "", "cannot read the file: it is a directory")
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


# ---------------------------------------------------------------------------------------------------
# JSON: a position-tracking parser


@dataclass(frozen=True)
class JsonObject:
    """A JSON object; its members in file order, repeated keys included."""

    members: tuple[JsonMember, ...]
    line: int
    column: int


@dataclass(frozen=True)
class JsonMember:
    key: str
    line: int  # where the key starts
    column: int
    value: JsonNode


@dataclass(frozen=True)
class JsonArray:
    items: tuple[JsonNode, ...]
    line: int
    column: int


@dataclass(frozen=True)
class JsonScalar:
    value: str | int | float | bool | None
    line: int
    column: int


JsonNode = JsonObject | JsonArray | JsonScalar

_MAX_DEPTH = 200
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_BLANKS = frozenset(" \t\n\r")
_PLAIN_STRING = re.compile(r'"([^"\\\x00-\x1f]*)"')
_STRING_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS: tuple[tuple[str, bool | None], ...] = (("true", True), ("false", False), ("null", None))
_NOT_JSON_WORDS = {"True": "true", "False": "false", "TRUE": "true", "FALSE": "false", "None": "null", "NULL": "null"}


class _SyntaxError(Exception):
    def __init__(self, pos: int, where: str, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.where = where
        self.message = message


def parse_json(text: str, path: str) -> tuple[JsonNode | None, list[Problem]]:
    """Parse `text`; the tree (None after a syntax error) and the problems found while parsing.

    Trailing commas and repeated keys are problems but not fatal; any other syntax error ends the
    parse with that one problem.
    """
    parser = _Parser(text, path)
    try:
        root = parser.document()
    except _SyntaxError as exc:
        line, column = parser.at(exc.pos)
        parser.problems.append(Problem(path, line, column, exc.where, exc.message))
        return None, parser.problems
    return root, parser.problems


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.problems: list[Problem] = []
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self._open: list[int] = []  # positions of the '{' and '[' not yet closed

    def at(self, pos: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._line_starts, pos) - 1
        return index + 1, pos - self._line_starts[index] + 1

    def _problem(self, pos: int, where: str, message: str) -> None:
        line, column = self.at(pos)
        self.problems.append(Problem(self.path, line, column, where, message))

    def _fail(self, pos: int, where: str, message: str) -> NoReturn:
        raise _SyntaxError(pos, where, message)

    def _skip(self, pos: int) -> int:
        text = self.text
        if text[pos : pos + 1] not in _BLANKS:  # the common cases first: no whitespace, or one space
            return pos
        if text[pos] == " " and text[pos + 1 : pos + 2] not in _BLANKS:
            return pos + 1
        match = _WHITESPACE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def _peek(self, pos: int) -> str:
        return self.text[pos : pos + 1]

    def document(self) -> JsonNode:
        pos = self._skip(0)
        if pos == len(self.text):
            self._fail(pos, "", 'the file is empty: expected a JSON object like {"images": [...]}')
        root, end = self._value(pos, "", 0)
        pos = self._skip(end)
        if pos < len(self.text):
            line, _ = self.at(end - 1)
            char = self.text[pos]
            if char in "}]":
                hint = f"one '{char}' too many? The JSON document already ended on line {line}"
            else:
                hint = f"the JSON document ended on line {line}; a file holds one JSON object: merge them"
            self._fail(pos, "", f"unexpected {_show(char)} after the end of the JSON document: {hint}")
        return root

    def _value(self, pos: int, where: str, depth: int) -> tuple[JsonNode, int]:
        char = self._peek(pos)
        line, column = self.at(pos)
        if char == "{":
            return self._object(pos, where, depth)
        if char == "[":
            return self._array(pos, where, depth)
        if char == '"':
            string, end = self._string(pos, where)
            return JsonScalar(string, line, column), end
        if char == "-" or char.isdigit():
            number, end = self._number(pos, where)
            return JsonScalar(number, line, column), end
        for word, literal in _LITERALS:
            if self.text.startswith(word, pos):
                return JsonScalar(literal, line, column), pos + len(word)
        self._fail(pos, where, self._no_value(pos))

    def _object(self, start: int, where: str, depth: int) -> tuple[JsonObject, int]:
        if depth >= _MAX_DEPTH:
            self._fail(start, "", f"the JSON is nested more than {_MAX_DEPTH} levels deep")
        self._open.append(start)
        line, column = self.at(start)
        members: list[JsonMember] = []
        seen: dict[str, tuple[int, int]] = {}
        pos = self._skip(start + 1)
        if self._peek(pos) == "}":
            self._open.pop()
            return JsonObject((), line, column), pos + 1
        while True:
            if self._peek(pos) != '"':
                self._fail(pos, where, self._no_key(pos))
            key_pos = pos
            key, pos = self._string(pos, where)
            key_where = _join(where, key)
            key_line, key_column = self.at(key_pos)
            pos = self._skip(pos)
            if self._peek(pos) != ":":
                self._fail(pos, key_where, f"expected ':' after the key \"{key}\", found {self._found(pos)}")
            value, end = self._value(self._skip(pos + 1), key_where, depth + 1)
            if key in seen:
                first_line, first_column = seen[key]
                if first_line == key_line:
                    both = f"line {key_line}, columns {first_column} and {key_column}"
                else:
                    both = f"lines {first_line} and {key_line}"
                self._problem(
                    key_pos,
                    key_where,
                    f'the key "{key}" is given twice in the same object ({both}); JSON parsers silently keep '
                    "the last one; the first is lost: merge the two into one",
                )
            else:
                seen[key] = (key_line, key_column)
            members.append(JsonMember(key, key_line, key_column, value))
            pos, closed = self._after_element(end, where, "}")
            if closed:
                break
        self._open.pop()
        return JsonObject(tuple(members), line, column), pos + 1

    def _array(self, start: int, where: str, depth: int) -> tuple[JsonArray, int]:
        if depth >= _MAX_DEPTH:
            self._fail(start, "", f"the JSON is nested more than {_MAX_DEPTH} levels deep")
        self._open.append(start)
        line, column = self.at(start)
        items: list[JsonNode] = []
        pos = self._skip(start + 1)
        if self._peek(pos) == "]":
            self._open.pop()
            return JsonArray((), line, column), pos + 1
        while True:
            item, end = self._value(pos, f"{where}[{len(items)}]", depth + 1)
            items.append(item)
            pos, closed = self._after_element(end, where, "]")
            if closed:
                break
        self._open.pop()
        return JsonArray(tuple(items), line, column), pos + 1

    def _after_element(self, end: int, where: str, closer: str) -> tuple[int, bool]:
        """After a member or item: where the next one starts, or where `closer` is (True).

        A comma right before the closer is reported and tolerated, so later problems are found too.
        """
        pos = self._skip(end)
        char = self._peek(pos)
        if char == ",":
            comma = pos
            pos = self._skip(pos + 1)
            if self._peek(pos) == closer:
                self._trailing_comma(comma, where, closer)
                return pos, True
            return pos, False
        if char == closer:
            return pos, True
        self._fail(pos, where, self._no_separator(pos, end, closer))

    def _trailing_comma(self, comma: int, where: str, closer: str) -> None:
        self._problem(
            comma,
            where,
            f"trailing comma before '{closer}': JSON allows no comma after the last "
            f"{'member' if closer == '}' else 'item'}; remove it",
        )

    def _string(self, start: int, where: str) -> tuple[str, int]:
        plain = _PLAIN_STRING.match(self.text, start)
        if plain:
            return plain.group(1), plain.end()
        chunks: list[str] = []
        pos = start + 1
        while True:
            chunk = _STRING_CHUNK.match(self.text, pos)
            assert chunk is not None  # the pattern matches the empty string
            chunks.append(chunk.group())
            pos = chunk.end()
            char = self._peek(pos)
            if char == '"':
                return "".join(chunks), pos + 1
            if char == "":
                self._fail(start, where, "this string is never closed: its closing '\"' is missing")
            if char == "\n" or char == "\r":
                self._fail(pos, where, "a string runs past the end of the line: is its closing '\"' missing?")
            if char != "\\":
                self._fail(pos, where, f"control character U+{ord(char):04X} inside a string: write it escaped")
            escape = self._peek(pos + 1)
            if escape in _ESCAPES:
                chunks.append(_ESCAPES[escape])
                pos += 2
            elif escape == "u":
                code, pos = self._unicode_escape(pos, where)
                chunks.append(code)
            else:
                self._fail(
                    pos,
                    where,
                    f"invalid escape '\\{escape}' in a string: JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and "
                    "\\uXXXX; write a backslash as \\\\",
                )

    def _unicode_escape(self, pos: int, where: str) -> tuple[str, int]:
        digits = self.text[pos + 2 : pos + 6]
        if not _HEX4.fullmatch(digits):
            self._fail(pos, where, "invalid escape in a string: \\u needs four hex digits, like \\u00e9")
        code = int(digits, 16)
        pos += 6
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", pos):
            low_digits = self.text[pos + 2 : pos + 6]
            if _HEX4.fullmatch(low_digits) and 0xDC00 <= int(low_digits, 16) < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low_digits, 16) - 0xDC00)
                pos += 6
        return chr(code), pos

    def _number(self, start: int, where: str) -> tuple[int | float, int]:
        match = _NUMBER.match(self.text, start)
        if not match:
            self._fail(start, where, f"invalid number: '-' must be followed by digits, found {self._found(start + 1)}")
        end = match.end()
        after = self._peek(end)
        if after.isdigit():
            self._fail(start, where, "invalid number: JSON numbers have no leading zeros (write 7, not 07)")
        if after in (".", "e", "E"):
            self._fail(end, where, f"invalid number: '{after}' must be followed by digits")
        if match.group(1) or match.group(2):
            return float(match.group()), end
        return int(match.group()), end

    # Messages for the syntax errors, each with the likely cause.

    def _found(self, pos: int) -> str:
        return "the end of the file" if pos >= len(self.text) else _show(self.text[pos])

    def _end_of_file(self) -> str:
        if not self._open:
            return "unexpected end of the file"
        line, column = self.at(self._open[-1])
        return (
            f"unexpected end of the file: the '{self.text[self._open[-1]]}' at line {line}, column {column} "
            "is never closed"
        )

    def _no_value(self, pos: int) -> str:
        if pos >= len(self.text):
            return self._end_of_file()
        char = self.text[pos]
        word = _WORD.match(self.text, pos)
        if char == "'":
            return 'strings must be in double quotes ("..."), not single quotes'
        if char in "/#":
            return "JSON has no comments: remove this one"
        if word and word.group() in _NOT_JSON_WORDS:
            return f"'{word.group()}' is not JSON: write {_NOT_JSON_WORDS[word.group()]}"
        if word and word.group() in ("NaN", "Infinity"):
            return f"'{word.group()}' is not JSON: JSON numbers are finite"
        if word:
            return f"'{word.group()}' is not a JSON value: put strings in double quotes"
        if char in ",}]":
            return f"a value is missing before {_show(char)}"
        return f"expected a value (a string, number, object, list, true, false or null), found {_show(char)}"

    def _no_key(self, pos: int) -> str:
        if pos >= len(self.text):
            return self._end_of_file()
        char = self.text[pos]
        word = _WORD.match(self.text, pos)
        if char == "'":
            return 'keys must be in double quotes ("..."), not single quotes'
        if char in "/#":
            return "JSON has no comments: remove this one"
        if word:
            return f'keys must be strings in double quotes: write "{word.group()}"'
        if char == ",":
            return "two commas in a row: a member is missing or one comma is too many"
        return f"expected a key in double quotes, found {_show(char)}"

    def _no_separator(self, pos: int, value_end: int, closer: str) -> str:
        if pos >= len(self.text):
            return self._end_of_file()
        char = self.text[pos]
        expected = f"expected ',' or '{closer}'"
        if char in "}]":
            line, column = self.at(self._open[-1])
            return (
                f"{expected}, found {_show(char)}: the '{self.text[self._open[-1]]}' at line {line}, "
                f"column {column} is still open"
            )
        if char in "\"{[-'" or char.isalnum():
            line, _ = self.at(value_end - 1)
            return f"{expected}, found {_show(char)}: is a comma missing after the value on line {line}?"
        if char in "/#":
            return "JSON has no comments: remove this one"
        return f"{expected}, found {_show(char)}"


def _show(char: str) -> str:
    return f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def _join(where: str, key: str) -> str:
    if _WORD.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key)}]"


# ---------------------------------------------------------------------------------------------------
# JSON: the registration format

_SINGLE_FILE_KEYS = frozenset(formats.KIND_KEYS.values()) - formats.MULTI_FILE_KEYS
_CREATE_VIDEO_OPTIONAL = frozenset({"images", "videos", "dicom_series"})  # optional there; required for image_groups
_NUMBERED_URL = re.compile(r"objectUrl_([0-9]+)")
# Per kind: the metadata key and the expected type of each field (a type, or a tuple of types).
_METADATA: dict[str, tuple[str, dict[str, object]]] = {
    kind: (key, dict(fields)) for kind, (key, fields) in formats.METADATA.items() if isinstance(fields, dict)
}
_METADATA_KINDS = {key: kind for kind, (key, _) in _METADATA.items()}
# Names people use for a kind key, beyond near-misses difflib finds.
_KIND_ALIASES = {**formats.KIND_KEYS, "image_sequences": "image_groups", "dicom_files": "dicom_series"}
_WHAT_NAMES = {
    "image_groups": "it names the image group (or image sequence)",
    "dicom_series": "it names the DICOM series",
}


def _validate_json(text: str, path: str, domain: str | None) -> list[Problem]:
    root, problems = parse_json(text, path)
    if root is None:
        return problems
    checker = _JsonChecker(path, domain)
    checker.top_level(root)
    return problems + checker.problems


def _describe(node: JsonNode) -> str:
    if isinstance(node, JsonObject):
        return "an object"
    if isinstance(node, JsonArray):
        return "a list"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {_quote(value)}"
    return f"the number {value}"


def _quote(value: str, limit: int = 80) -> str:
    shown = value if len(value) <= limit else value[: limit - 3] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _suggest(key: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    choices = sorted(choices)
    by_lower = {choice.lower(): choice for choice in choices}
    if aliases and key in aliases:
        return f"; did you mean '{aliases[key]}'?"
    if key.lower() in by_lower:
        return f"; did you mean '{by_lower[key.lower()]}'?"
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _type_name(expected: object) -> str:
    if expected is bool:
        return "true or false"
    if expected is int:
        return "an integer"
    if expected is str:
        return "a string"
    return "a number"


def _has_type(value: object, expected: object) -> bool:
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if isinstance(expected, type | tuple):
        return isinstance(value, expected)
    return False


def url_problems(url: str, domain: str | None) -> list[str]:
    """What is wrong with one object URL (none: []): whitespace, not http(s), not on `domain`."""
    found: list[str] = []
    space = re.search(r"\s", url)
    if space:
        name = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}.get(
            space.group(), f"the whitespace character U+{ord(space.group()):04X}"
        )
        found.append(
            f"the object URL {_quote(url)} contains whitespace ({name} at character {space.start() + 1}); "
            "Encord rejects object URLs with whitespace: percent-encode it (a space is %20)"
        )
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or ""), parts.port
    except ValueError:
        scheme, host, port = "", "", None
    placeholder = bool(re.search(r"<[^>]*>", url))
    if domain:
        expected = f"https://{domain}/"
        if scheme == "https" and host == domain and port is None and parts.path not in ("", "/"):
            return found
        if placeholder:
            hint = "; it looks like a placeholder: put the real URL"
        elif scheme == "http" and host == domain:
            hint = "; use https"
        elif host.endswith(("storage.googleapis.com", "storage.cloud.google.com")):
            hint = "; this points at the bucket directly: Direct Access files are fetched through the domain"
        elif scheme == "https" and host == domain and port is None:
            hint = "; it must name a file after the domain"
        else:
            hint = ""
        found.append(f"the object URL {_quote(url)} is not on the Direct Access domain: expected {expected}...{hint}")
    elif scheme not in ("http", "https") or not host:
        if placeholder:
            what = "looks like a placeholder, not an http(s) URL: put the real https URL of the file"
        elif scheme in ("gs", "s3"):
            what = f"is not an http(s) URL: the browser cannot fetch {scheme}:// URLs; use the https URL of the object"
        else:
            what = "is not an http(s) URL: give the full URL the browser fetches, like https://HOST/path/file"
        found.append(f"the object URL {_quote(url)} {what}")
    return found


class _JsonChecker:
    def __init__(self, path: str, domain: str | None) -> None:
        self.path = path
        self.domain = domain
        self.problems: list[Problem] = []

    def add(self, at: JsonNode | JsonMember, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, at.line, at.column, where, message))

    def top_level(self, root: JsonNode) -> None:
        if not isinstance(root, JsonObject):
            self.add(root, "", f'the top level must be an object like {{"images": [...]}}, not {_describe(root)}')
            return
        known = sorted(formats.TOP_LEVEL_KEYS)
        kinds = sorted(formats.KIND_KEYS.values())
        registers = False
        for member in root.members:
            if member.key in formats.FLAG_KEYS:
                if not _has_type(_scalar(member.value), formats.FLAG_KEYS[member.key]):
                    self.add(
                        member.value,
                        member.key,
                        f'"{member.key}" must be true or false (without quotes), not {_describe(member.value)}',
                    )
            elif member.key in formats.MULTI_FILE_KEYS or member.key in _SINGLE_FILE_KEYS:
                registers = True
                self.units(member)
            else:
                registers = True  # probably a misspelt kind: its own problem says so
                self.add(
                    member,
                    _join("", member.key),
                    f'unknown top-level key "{member.key}"{_suggest(member.key, known, _KIND_ALIASES)} '
                    f"(the keys are {', '.join(known)})",
                )
        if not registers:
            self.add(root, "", f"nothing to register: add a list of files under one of {', '.join(kinds)}")

    def units(self, member: JsonMember) -> None:
        kind, value = member.key, member.value
        example = (
            '{"title": "...", "objectUrl_0": "..."}' if kind in formats.MULTI_FILE_KEYS else '{"objectUrl": "..."}'
        )
        if not isinstance(value, JsonArray):
            self.add(value, kind, f'"{kind}" must be a list of objects like [{example}], not {_describe(value)}')
            return
        for index, item in enumerate(value.items):
            where = f"{kind}[{index}]"
            if not isinstance(item, JsonObject):
                self.add(item, where, f"each item of {kind} must be an object like {example}, not {_describe(item)}")
            elif kind in formats.MULTI_FILE_KEYS:
                self.multi_file(kind, item, where)
            else:
                self.single_file(kind, item, where)

    def single_file(self, kind: str, item: JsonObject, where: str) -> None:
        metadata_key = _METADATA[kind][0] if kind in _METADATA else None
        allowed = {"objectUrl", "title", "clientMetadata"} | ({metadata_key} if metadata_key else set())
        if kind in _CREATE_VIDEO_OPTIONAL:
            allowed.add("createVideo")
        has_url = False
        for member in item.members:
            at = _join(where, member.key)
            if member.key == "objectUrl":
                has_url = True
                self.url(member.value, at)
            elif member.key == "title":
                self.title(member.value, at)
            elif member.key == "clientMetadata":
                self.client_metadata(member.value, at)
            elif member.key == "createVideo" and "createVideo" in allowed:
                self.create_video(member.value, at)
            elif member.key == metadata_key:
                self.metadata(kind, member.value, at)
            else:
                self.unknown_unit_key(kind, member, at, allowed)
        if not has_url:
            self.add(item, where, f'"objectUrl" is missing: each item of {kind} needs the URL of its file')

    def multi_file(self, kind: str, item: JsonObject, where: str) -> None:
        allowed = {"objectUrl_0", "objectUrl_1", "title", "createVideo", "clientMetadata"}
        numbered: dict[int, JsonMember] = {}
        plain: JsonMember | None = None
        has_title = has_create = False
        for member in item.members:
            at = _join(where, member.key)
            number = _NUMBERED_URL.fullmatch(member.key)
            if number and str(int(number.group(1))) == number.group(1):
                numbered.setdefault(int(number.group(1)), member)
                self.url(member.value, at)
            elif number:
                self.add(
                    member,
                    at,
                    f'"{member.key}": numbers have no leading zeros; write "objectUrl_{int(number.group(1))}"',
                )
            elif member.key == "objectUrl":
                plain = member
                self.url(member.value, at)
            elif member.key == "title":
                has_title = True
                self.title(member.value, at)
            elif member.key == "createVideo":
                has_create = True
                self.create_video(member.value, at)
            elif member.key == "clientMetadata":
                self.client_metadata(member.value, at)
            else:
                self.unknown_unit_key(kind, member, at, allowed)
        if plain is not None:
            fix = "rename it" if numbered else 'rename it to "objectUrl_0"'
            self.add(
                plain,
                _join(where, "objectUrl"),
                f'items of {kind} list their files as "objectUrl_0", "objectUrl_1", ..., not "objectUrl": {fix}',
            )
        elif not numbered:
            self.add(
                item,
                where,
                f'"objectUrl_0" is missing: each item of {kind} lists its files as objectUrl_0, objectUrl_1, ...',
            )
        if numbered:
            self.gaps(numbered, where)
        if not has_title:
            self.add(item, where, f'"title" is missing: each item of {kind} needs a title ({_WHAT_NAMES[kind]})')
        if kind == "image_groups" and not has_create:
            self.add(
                item,
                where,
                '"createVideo" is missing: it is required for image_groups: false for an image group, true for an '
                "image sequence (the default, true, makes a video and needs write access to the bucket)",
            )

    def gaps(self, numbered: dict[int, JsonMember], where: str) -> None:
        present = sorted(numbered)
        total = present[-1] + 1 - len(present)
        if not total:
            return
        missing: list[int] = []  # the first few
        previous = -1
        for index in present:
            for gap in range(previous + 1, index):
                if len(missing) == 5:
                    break
                missing.append(gap)
            previous = index
        names = ", ".join(f"objectUrl_{i}" for i in missing)
        if total > len(missing):
            names += f" and {total - len(missing)} more"
        verb = "is" if total == 1 else "are"
        after = numbered[min(i for i in present if i > missing[0])]
        self.add(
            after,
            where,
            f"{names} {verb} missing: the files must be numbered objectUrl_0 to objectUrl_{present[-1]} without gaps",
        )

    def unknown_unit_key(self, kind: str, member: JsonMember, at: str, allowed: set[str]) -> None:
        key = member.key
        own = _METADATA[kind][0] if kind in _METADATA else None
        if key in _METADATA_KINDS:
            takes = f'take "{own}"' if own else "take no file metadata"
            message = f'"{key}" is the metadata of {_METADATA_KINDS[key]}; items of {kind} {takes}'
        elif _NUMBERED_URL.fullmatch(key):
            message = (
                f'numbered keys like "{key}" are for image_groups and dicom_series; '
                f'items of {kind} have one "objectUrl"'
            )
        elif key in formats.FLAG_KEYS:
            message = f'"{key}" is a top-level flag, not a key of each item: move it next to "{kind}"'
        elif key == "createVideo":
            message = f'"createVideo" does not apply to {kind}: remove it'
        else:
            known = ", ".join(sorted(allowed))
            message = f'unknown key "{key}" in an item of {kind}{_suggest(key, allowed)} (the keys are {known})'
        self.add(member, at, message)

    def url(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if not isinstance(value, str):
            self.add(node, where, f"the object URL must be a string, not {_describe(node)}")
            return
        if not value:
            self.add(node, where, "the object URL is empty")
            return
        for message in url_problems(value, self.domain):
            self.add(node, where, message)

    def title(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if not isinstance(value, str):
            self.add(node, where, f"the title must be a string, not {_describe(node)}")
        elif not value.strip():
            self.add(node, where, "the title is empty: give a name")

    def create_video(self, node: JsonNode, where: str) -> None:
        value = _scalar(node)
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            self.add(
                node,
                where,
                f"createVideo must be the JSON boolean {value.strip().lower()} without quotes, not {_describe(node)}",
            )
        else:
            self.add(node, where, f"createVideo must be true or false, not {_describe(node)}")

    def client_metadata(self, node: JsonNode, where: str) -> None:
        if not isinstance(node, JsonObject):
            self.add(node, where, f'clientMetadata must be an object like {{"key": "value"}}, not {_describe(node)}')

    def metadata(self, kind: str, node: JsonNode, where: str) -> None:
        key, fields = _METADATA[kind]
        listing = ", ".join(fields)
        if not isinstance(node, JsonObject):
            self.add(node, where, f"{key} must be an object with {listing}, not {_describe(node)}")
            return
        seen: set[str] = set()
        for member in node.members:
            at = _join(where, member.key)
            if member.key not in fields:
                self.add(
                    member,
                    at,
                    f'unknown field "{member.key}" in {key}{_suggest(member.key, fields)} ({key} has {listing})',
                )
                continue
            seen.add(member.key)
            expected = fields[member.key]
            if not _has_type(_scalar(member.value), expected):
                hint = ""
                value = _scalar(member.value)
                if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
                    hint = f": write {value.strip()} without quotes"
                elif isinstance(value, bool) and expected is not bool:
                    hint = ": true and false are not numbers"
                self.add(
                    member.value,
                    at,
                    f"{key}.{member.key} must be {_type_name(expected)}, not {_describe(member.value)}{hint}",
                )
        for field, expected in fields.items():
            if field not in seen:
                self.add(node, where, f'{key} is missing "{field}" ({_type_name(expected)})')


def _scalar(node: JsonNode) -> object:
    """The Python value of a scalar node; a marker object for objects and lists (matching no type)."""
    return node.value if isinstance(node, JsonScalar) else node


# ---------------------------------------------------------------------------------------------------
# CSV

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


def _validate_csv(text: str, path: str, domain: str | None) -> list[Problem]:
    problems: list[Problem] = []
    lines = _physical_lines(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: _Header | None = None
    headerless_reported = False
    data_rows = 0
    first_over_limit = 0
    previous_end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(path, reader.line_num, 0, f"row {reader.line_num}", f"not valid CSV: {exc}"))
            break
        start, end = previous_end + 1, reader.line_num
        previous_end = end
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
                f"unknown heading {_quote(name)} in the header row{_suggest(name, _KNOWN_HEADINGS.values())} "
                + _HEADER_HELP,
            )
        elif lower.index(heading) != cell:
            bad = True
            problem(cell, where, f"the heading {_quote(name)} appears twice in the header row")
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
            f"this row has {len(row)} column{'s' if len(row) != 1 else ''} but its header (row {header.line}) "
            f"has {header.width}: {hint}",
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
                f"Create video must be true, false or blank, not {_quote(row[create_index])}",
            )
    if header.kind == "image_groups":
        title_index = header.index(_TITLE_HEADINGS["image_groups"])
        if title_index is not None and not (title_index < len(row) and row[title_index].strip()):
            problem(
                title_index,
                f"{where}, column {header.names[title_index]}",
                "the image group title is empty: it is required, as it says which group the file belongs to",
            )
