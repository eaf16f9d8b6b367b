"""YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them
and a map from each dotted path to its (line, column), 1-based, so validation
errors can point at the exact spot in the user's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odspec.errors import Problem, SpecError

Loc = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each path's value starts in the file (and its key, for mappings)."""

    file: str
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
        """The nearest known position for ``loc``: itself, else its closest parent."""
        loc = tuple(loc)
        while True:
            table = (self.keys, self.values) if at_key else (self.values, self.keys)
            for positions in table:
                if loc in positions:
                    return positions[loc]
            if not loc:
                return (1, 1)
            loc = loc[:-1]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.source.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.constructor.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                self._fail(key_node, loc, "a mapping key must be a plain word")
            if key in result:
                line, _ = self.source.keys[(*loc, key)]
                self._fail(key_node, (*loc, key), f"duplicate key (first given on line {line})")
            self.source.keys[(*loc, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*loc, key))
        return result

    def _fail(self, node: yaml.Node, loc: Loc, message: str) -> None:
        line, col = _mark(node)
        key = ".".join(str(p) for p in loc)
        raise SpecError([Problem(self.source.file, line, col, key, message)])


def load_yaml(path: Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse ``path`` (or ``text``, reported as ``path``) into data and its source map."""
    name = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError([Problem(name, 1, 1, "", "file not found")]) from None
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError([Problem(name, 1, 1, "", f"cannot read the file: {err}")]) from None
    source = SourceMap(name)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(name, line, col, "", f"not valid YAML: {err.problem or err}")]) from None
    if node is None:
        return {}, source
    return _Builder(source).build(node, ()), source
