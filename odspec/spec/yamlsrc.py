"""YAML loading that remembers where every key and value came from.

PyYAML's composer gives nodes with marks; we build plain Python data from them
and a map from each dotted path to its (line, column), 1-based, so validation
errors can point at the exact spot in the user's file. Only plain data is ever
built: tags beyond the core scalar/collection ones are refused, never constructed,
and sizes are bounded so a hostile file (an alias bomb, deep nesting) fails fast.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

import yaml

from odspec.errors import Problem, SpecError

Loc = tuple[str | int, ...]

MAX_FILE_BYTES = 1 << 20
MAX_NODES = 10_000  # after alias expansion; a real spec has a few hundred
MAX_ALIASES = 1_000
MAX_DEPTH = 64

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + name for name in ("str", "int", "float", "bool", "null")}
_MERGE = _CORE + "merge"


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


class _Position(Protocol):
    """A mark of PyYAML's pure-Python scanner or of its C extension: both have these."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...


class _LimitExceeded(Exception):
    def __init__(self, message: str, mark: _Position | None) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


class _BoundedLoader(yaml.SafeLoader):
    """Composes nodes only (never constructs), counting aliases and depth; remembers explicit tags."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.aliases = 0
        self.nodes = 0
        self.depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        if self.flow_level >= MAX_DEPTH:  # before the scanner's per-level bookkeeping grows quadratic
            raise _LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stub leaves Parser.peek_event untyped
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _LimitExceeded(f"more than {MAX_ALIASES} aliases (*name) in one spec", event.start_mark)
            return super().compose_node(parent, index)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _LimitExceeded(f"more than {MAX_NODES} values in one spec", event.start_mark)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _LimitExceeded(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        explicit = getattr(event, "tag", None)
        if explicit not in (None, "!") and node is not None:
            node.odspec_tag = explicit  # type: ignore[attr-defined]  # our mark on PyYAML's node, read by _check_tag
        return node


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _MERGE and not hasattr(node, "odspec_tag")


class _Builder:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.constructor = yaml.SafeLoader("")
        self.nodes = 0
        self.merging = 0

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._fail(node, loc, f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)")
        if len(loc) > MAX_DEPTH:
            self._fail(node, loc, f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)")
        self.source.values[loc] = _mark(node)
        self._check_tag(node, loc)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode), node  # PyYAML composes no fourth kind of node
        return self._scalar(node, loc)

    def _check_tag(self, node: yaml.Node, loc: Loc) -> None:
        tag = getattr(node, "odspec_tag", None)
        if tag is None:
            return
        by_kind: dict[type[yaml.Node], set[str]] = {yaml.MappingNode: {_CORE + "map"},
                                                    yaml.SequenceNode: {_CORE + "seq"}}
        allowed = by_kind.get(type(node), _SCALAR_TAGS)
        if tag not in allowed:
            self._fail(node, loc, f"YAML tag {_short_tag(tag)!r} is not supported", "write the value itself")

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if node.tag not in _SCALAR_TAGS or node.tag == _CORE + "str":
            return node.value  # implicit timestamps, '=' and '<<' as values stay text
        try:
            return self.constructor.yaml_constructors[node.tag](self.constructor, node)
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            self._fail(node, loc, f"{node.value!r} is not a valid {_short_tag(node.tag)} value")

    def _key(self, node: yaml.Node, loc: Loc) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self._fail(node, loc, "a mapping key must be a plain word, not a list or mapping")
        self._check_tag(node, loc)
        key = self._scalar(node, loc)
        if not isinstance(key, str):
            hint = f"quote it if it is text: '{node.value}'" if node.value else None
            self._fail(node, loc, f"a mapping key must be a word, got {node.value or 'an empty key'}", hint)
        return key

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        pairs = [(k, v) for k, v in node.value if not _is_merge_key(k)]
        merges = [(k, v) for k, v in node.value if _is_merge_key(k)]
        keys = self._unique_keys(pairs, merges, loc)
        result: dict[str, Any] = {}
        for key, (key_node, value_node) in zip(keys, pairs, strict=True):
            at = (*loc, key)
            self.source.keys[at] = _mark(key_node)
            result[key] = self.build(value_node, at)
        for _, value_node in merges:
            self._merge(result, value_node, loc)
        return result

    def _unique_keys(self, pairs: list[Any], merges: list[Any], loc: Loc) -> list[str]:
        """Keys equal once built (``1`` and ``0x1``, ``true`` and ``True``) are duplicates too."""
        if len(merges) > 1:
            line, _ = _mark(merges[0][0])
            self._fail(merges[1][0], (*loc, "<<"), f"duplicate key (first given on line {line})")
        first: dict[tuple[str, Any], yaml.Node] = {}
        for key_node, _ in pairs:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            raw = self._scalar(key_node, loc)
            same = (type(raw).__name__, raw)
            if same in first:
                line, _ = _mark(first[same])
                self._fail(key_node, (*loc, str(raw)), f"duplicate key (first given on line {line})")
            first[same] = key_node
        return [self._key(key_node, loc) for key_node, _ in pairs]

    def _merge(self, result: dict[str, Any], value: yaml.Node, loc: Loc) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: keys written here win, then earlier sources win."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source_node in sources:
            self.nodes += 1
            if self.nodes > MAX_NODES or len(loc) + self.merging > MAX_DEPTH:
                self._fail(source_node, (*loc, "<<"),
                           f"merges nested deeper than {MAX_DEPTH} levels (a recursive alias?)")
            if not isinstance(source_node, yaml.MappingNode):
                self._fail(source_node, (*loc, "<<"), "'<<' merges mappings only, e.g. <<: *defaults")
            self._check_tag(source_node, (*loc, "<<"))
            mine, self.source = self.source, SourceMap(self.source.file)
            self.merging += 1
            try:
                merged = self._mapping(source_node, loc)
            finally:
                scratch, self.source = self.source, mine
                self.merging -= 1
            for key, item in merged.items():
                if key not in result:
                    result[key] = item
                    self._copy_positions(scratch, (*loc, key))

    def _copy_positions(self, scratch: SourceMap, prefix: Loc) -> None:
        size = len(prefix)
        for table, into in ((scratch.values, self.source.values), (scratch.keys, self.source.keys)):
            into.update({loc: pos for loc, pos in table.items() if loc[:size] == prefix})

    def _fail(self, node: yaml.Node, loc: Loc, message: str, hint: str | None = None) -> NoReturn:
        line, col = _mark(node)
        key = ".".join(str(p) for p in loc)
        raise SpecError([Problem(self.source.file, line, col, key, message, hint)])


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def read_spec_text(path: Path) -> str:
    """The file's text, refusing folders, special files, huge files and non-UTF-8 bytes with a located error."""
    name = str(path)

    def fail(message: str, line: int = 1, col: int = 1) -> SpecError:
        return SpecError([Problem(name, line, col, "", message)])

    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise fail("is a folder, not a spec file")
        if not stat.S_ISREG(info.st_mode):
            raise fail("is not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail("file not found") from None
    except OSError as err:
        raise fail(f"cannot read the file: {err.strerror or err}") from None
    _check_size(name, len(raw))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise fail(f"not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8", line, col) from None


def _check_size(name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1 << 20)
        raise SpecError([Problem(name, 1, 1, "", f"the file is larger than {limit} MiB; a spec is a short text file")])


def _compose(name: str, text: str) -> yaml.Node | None:
    try:
        return _BoundedLoader(text).get_single_node()
    except _LimitExceeded as err:
        line, col = (err.mark.line + 1, err.mark.column + 1) if err.mark is not None else (1, 1)
        raise SpecError([Problem(name, line, col, "", f"refused: {err.message}")]) from None
    except yaml.reader.ReaderError as err:
        line, col = _position(text, err.position)
        char = chr(err.character) if isinstance(err.character, int) else err.character
        message = f"not valid YAML: character {char!r} is not allowed in YAML text"
        raise SpecError([Problem(name, line, col, "", message)]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(name, line, col, "", f"not valid YAML: {err.problem or err}")]) from None
    except yaml.YAMLError as err:
        raise SpecError([Problem(name, 1, 1, "", f"not valid YAML: {err}")]) from None


def load_yaml(path: Path, text: str | None = None) -> tuple[Any, SourceMap]:
    """Parse ``path`` (or ``text``, reported as ``path``) into data (None if empty) and its source map."""
    name = str(path)
    if text is None:
        text = read_spec_text(path)
    _check_size(name, len(text.encode("utf-8", "surrogatepass")))
    source = SourceMap(name)
    node = _compose(name, text)
    if node is None:
        return None, source
    return _Builder(source).build(node, ()), source
