"""YAML reading that remembers where each value came from, so errors can point at a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iac.errors import ConfigError

Location = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDocument:
    """A parsed YAML file: its data and the line (1-based) of every key and list item."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int:
        """The line of `location`, or of its nearest enclosing key when it is absent (a missing field)."""
        for end in range(len(location), 0, -1):
            line = self.lines.get(location[:end])
            if line is not None:
                return line
        return 1

    def where(self, location: Location) -> str:
        """`file:line: dotted.path` for messages."""
        return f"{self.path}:{self.line_of(location)}: {dotted(location)}"


def dotted(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse `path`; a missing file, bad encoding or bad syntax is a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: no such config file (create one with `iac init {path}`, or choose one with -c FILE)"]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a config file"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse `text` (the content of `path`, or what it is about to become) with line numbers."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "1"
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{path}:{line}: YAML syntax error: {what}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML syntax error: {exc}"]) from None
    finally:
        loader.dispose()

    document = YamlDocument(path=path, data=None)
    if root is None:
        return document
    document.data = _to_python(loader, root, (), document)
    return document


def _to_python(loader: yaml.SafeLoader, node: yaml.Node, location: Location, doc: YamlDocument) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    [f"{doc.path}:{key_node.start_mark.line + 1}: YAML merge keys (<<) are not supported"]
                )
            key = loader.construct_object(key_node)
            where = (*location, str(key))
            if not isinstance(key, str):
                raise ConfigError(
                    [f"{doc.path}:{key_node.start_mark.line + 1}: {dotted(where)}: keys must be strings, got {key!r}"]
                )
            if key in result:
                first = doc.lines[where]
                raise ConfigError(
                    [
                        f"{doc.path}:{key_node.start_mark.line + 1}: {dotted(where)}: given twice "
                        f"(first on line {first}); YAML would silently keep only the last one: remove one"
                    ]
                )
            doc.lines[where] = key_node.start_mark.line + 1
            result[key] = _to_python(loader, value_node, where, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            where = (*location, index)
            doc.lines[where] = item.start_mark.line + 1
            items.append(_to_python(loader, item, where, doc))
        return items
    return loader.construct_object(node, deep=True)
