"""Safe YAML loading that remembers where each value came from.

Validation errors must name the file, the field path and the line. PyYAML's safe loader drops
positions, so we compose the node tree once and record the line of every mapping key and
sequence item by its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

LinePath = tuple[str | int, ...]


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[LinePath, int]]:
    """Parse a YAML file safely; return the data and a map from field path to 1-based line."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        node, data = _compose_and_construct(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.reader.ReaderError as exc:
        raise ConfigError(f"{path}: YAML error: character {exc.character!r} at position "
                          f"{exc.position} is not allowed in YAML") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {' '.join(str(exc).split())}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    lines: dict[LinePath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return data, lines


# libyaml's parser when PyYAML was built with it: it parses about ten times faster than the
# pure-Python one. A file it rejects is parsed again by the pure-Python parser, whose messages
# are the ones users see (they name more, e.g. the undefined alias).
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for the lines) and the data built from that same tree."""
    if _FAST_LOADER is not None:
        try:
            return _parse(text, _FAST_LOADER)
        except yaml.YAMLError:
            pass
    return _parse(text, yaml.SafeLoader)


def _parse(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _record_lines(node: yaml.Node, prefix: LinePath, lines: dict[LinePath, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines)


def line_of(lines: dict[LinePath, int], loc: LinePath) -> int | None:
    """The line of the deepest known prefix of `loc` (a missing field points at its parent)."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def format_loc(loc: LinePath) -> str:
    """("arms", 0, "kind") -> "arms[0].kind"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part and all(c.isalnum() or c in "_-@" for c in part):
            out += ("." if out else "") + part
        else:
            out += f"[{str(part)!r}]"  # a key with spaces, dots or control characters
    return out or "(top level)"
