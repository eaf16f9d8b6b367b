"""A trial's spec: the user's spec with the trial's values substituted and without the ``tune`` block.

Pure: mapping in, mapping or YAML text out. The same text is each trial's spec, written beside its model
directory (so ``odspec status/export/predict`` work on any trial), and ``tune/best.yaml``, the winner. Paths the
spec gives relative to its own file are rewritten, since the new file lives elsewhere: absolute, or relative to
the folder the new file is written in.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Spec fields whose paths are relative to the spec file (see their descriptions in odspec.spec.models).
SPEC_RELATIVE_PATHS = (
    ("dataset", "path"),
    ("dataset", "images"),
    ("dataset", "annotations"),
    ("dataset", "names"),
    ("model", "pretrained", "checkpoint"),
)


def substitute(data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the spec's raw mapping without ``tune``, each dotted path set to its value.

    Sections a path passes through are created when the spec leaves them out, appended after the keys it
    has, so the spec's own order is kept. The values are copied too: a trial never shares a list with another.
    """
    result = {key: copy.deepcopy(value) for key, value in data.items() if key != "tune"}
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = result
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = copy.deepcopy(value)
    return result


def trial_data(data: Mapping[str, Any], values: Mapping[str, Any], spec_dir: Path,
               relative_to: Path | None = None) -> dict[str, Any]:
    """:func:`substitute`, with the spec's relative paths (from ``spec_dir``) made absolute, or relative to
    ``relative_to`` (``tune/`` for ``best.yaml``, so the committed file does not name one machine's folders)."""
    result = substitute(data, values)
    for loc in SPEC_RELATIVE_PATHS:
        *parents, leaf = loc
        node: Any = result
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            value = node[leaf]
            moved = [_rebase(v, spec_dir, relative_to) for v in value] if isinstance(value, list) else \
                _rebase(value, spec_dir, relative_to)
            node[leaf] = moved
    return result


def _rebase(value: Any, spec_dir: Path, relative_to: Path | None) -> Any:
    if not isinstance(value, str) or Path(value).is_absolute():
        return value  # not a path (the spec's validation says so), or one that holds anywhere
    absolute = Path(os.path.normpath(Path(spec_dir).absolute() / value))
    if relative_to is None:
        return str(absolute)
    return Path(os.path.relpath(absolute, Path(relative_to).absolute())).as_posix()


def spec_text(data: Mapping[str, Any], header: str | None = None) -> str:
    """Block-style YAML in the mapping's key order; ``header`` (one line or several) becomes ``#`` comments."""
    body = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    if not header:
        return body
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + body


def trial_spec_text(data: Mapping[str, Any], values: Mapping[str, Any], spec_dir: Path,
                    relative_to: Path | None = None, header: str | None = None) -> str:
    """The spec a trial trains (or ``best.yaml``): :func:`trial_data` as :func:`spec_text`."""
    return spec_text(trial_data(data, values, spec_dir, relative_to), header)



_MISSING = object()


def current_values(data: Mapping[str, Any], spec: Any, paths: list[str]) -> dict[str, Any]:
    """What the spec gives each dotted path: as written in ``data``, else the validated ``spec``'s value (a
    default), as plain data. A path that has neither is left out."""
    values: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        found = _walk(data, parts, lambda node, part: node.get(part, _MISSING) if isinstance(node, Mapping)
                      else _MISSING)
        if found is _MISSING:
            found = _walk(spec, parts, lambda node, part: getattr(node, part, _MISSING))
            if found is not _MISSING:
                found = _plain(found)
        if found is not _MISSING:
            values[path] = found
    return values


def _walk(node: Any, parts: list[str], step: Any) -> Any:
    for part in parts:
        if node is _MISSING or node is None:
            return _MISSING
        node = step(node, part)
    return node


def _plain(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
