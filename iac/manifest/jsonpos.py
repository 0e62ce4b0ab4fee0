"""A JSON parser that keeps the place (line, column) of every value and key.

The standard library's parser gives no positions and silently keeps the last of two equal keys. This one
tolerates trailing commas (each one is reported) so that the problems after them are found too; any other
syntax error stops the parse with that one error.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import NoReturn

from iac.manifest.problems import Problem


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
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS: tuple[tuple[str, bool | None], ...] = (("true", True), ("false", False), ("null", None))
_NOT_JSON_WORDS = {"True": "true", "False": "false", "TRUE": "true", "FALSE": "false", "None": "null", "NULL": "null"}


# The longest number read (Python refuses to convert integers of more than 4,300 digits; no value of a
# registration file comes near either).
_MAX_NUMBER_LENGTH = 1000


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
            key_where = member_path(where, key)
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
        match = JSON_NUMBER.match(self.text, start)
        if not match:
            self._fail(start, where, f"invalid number: '-' must be followed by digits, found {self._found(start + 1)}")
        end = match.end()
        after = self._peek(end)
        if after.isdigit():
            self._fail(start, where, "invalid number: JSON numbers have no leading zeros (write 7, not 07)")
        if after in (".", "e", "E"):
            self._fail(end, where, f"invalid number: '{after}' must be followed by digits")
        if end - start > _MAX_NUMBER_LENGTH:
            digits = sum(char.isdigit() for char in match.group())
            self._fail(
                start,
                where,
                f"a number of {digits:,} digits: no value of a registration file is that long (the longest read is "
                f"{_MAX_NUMBER_LENGTH:,} characters); check what wrote this file",
            )
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


def member_path(where: str, key: str) -> str:
    """The path of member `key` inside the value at `where`: images[0].objectUrl, or ["odd key"] when needed."""
    if _WORD.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(key)}]"
