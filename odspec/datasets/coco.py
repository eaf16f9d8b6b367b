"""COCO object-detection JSON (``images``, ``annotations``, ``categories``).

Boxes are labelled with their category's *name*; category ids only link
annotations to categories inside one file, so several files may number their
categories differently. ``bbox`` is ``[x, y, width, height]`` in pixels.
Each file's split comes from its name (see
:func:`odspec.datasets.paths.split_from_filename`): ``instances_val2017.json``
is ``val``. A folder contributes its ``instances_*.json`` files, or every
``*.json`` when there is none (so captions/keypoints files are left alone).
Boxes are held as columns of numbers (see :class:`odspec.datasets.compact.CompactExamples`).
A file up to ``WHOLE_FILE_BYTES`` is parsed in one go by Python's json (fast; its objects are freed
once the file is read); a larger one is streamed, never held whole.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ijson

from odspec.datasets.compact import CompactExamples
from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import (
    AnnotationPaths,
    as_path_list,
    expand_annotation_paths,
    image_path_in_root,
    ordered_unique,
    outside_root_what,
    split_from_filename,
)
from odspec.datasets.values import finite_float, whole_number
from odspec.errors import DatasetError

CocoId = int | str
# Files up to this size are parsed whole by Python's json (about 10x their size in objects while parsing, so at
# most ~150 MB); larger ones are streamed. Both give the same examples and findings: the streaming parser refuses
# NaN and Infinity, and the file is then parsed whole anyway (_load_lenient), each such number a finding.
WHOLE_FILE_BYTES = 16 * 1024 * 1024


def read_coco(
    root: Path, annotations: AnnotationPaths, classes: list[str] | None = None
) -> ReadResult:
    """Read one or several COCO files; ``classes`` is unused (boxes carry category names)."""
    read = read_coco_compact(root, annotations, classes)
    return ReadResult(list(read.examples), read.findings, read.classes_seen)


def read_coco_compact(
    root: Path, annotations: AnnotationPaths, classes: list[str] | None = None
) -> ReadResult:
    """:func:`read_coco` with the examples as :class:`CompactExamples`, built one at a time when used.

    A file larger than ``WHOLE_FILE_BYTES`` is streamed (ijson), one top-level list at a time, and
    boxes are kept as columns of numbers, so memory holds a few dozen bytes per box, not the whole
    JSON document (a COCO-2017-sized file is gigabytes as Python objects).
    """
    examples = CompactExamples()
    findings: list[Finding] = []
    names: list[str] = []
    for path in coco_files(annotations):
        with path.open("rb") as head:
            empty = not head.read(64).strip()
        if empty:
            raise DatasetError(f"{path} is empty: no COCO document", hint=COCO_HINT)
        split = split_from_filename(path)
        read = None
        if path.stat().st_size > WHOLE_FILE_BYTES:  # smaller: one pass of the C parser, not four of ijson's events
            with contextlib.suppress(ijson.JSONError):  # raised while scanning, before any example was added
                read = stream_coco(root, path, split, examples)
        declared, problems = read or _parse_lists(root, _load_lenient(path), str(path), split, examples)
        names.extend(declared)
        findings.extend(problems)
    return ReadResult(examples, findings, ordered_unique(names))


def stream_coco(root: Path, path: Path, split: str | None, into: CompactExamples) -> tuple[list[str], list[Finding]]:
    """:func:`parse_coco` for a file, without loading it whole; its examples are added to ``into``."""
    kinds = _top_level_kinds(path)
    check_document_shape(str(path), kinds)
    return _parse_lists(root, {k: _items(path, k) for k in _KEYS}, str(path), split, into)


def check_document_shape(source: str, kinds: Mapping[str, str]) -> None:
    """A document that is not an object of the three lists is not COCO: a DatasetError naming what it is."""
    found = kinds.get("")
    if found != "start_map":
        raise DatasetError(f"{source}: expected a JSON object with 'images', 'annotations' and 'categories', "
                           f"got {_KINDS.get(found or '', 'nothing')}", hint=COCO_HINT)
    wrong = [f"'{k}' is {_KINDS.get(kinds.get(k, ''), 'missing')}" for k in _KEYS if kinds.get(k) != "start_array"]
    if wrong:
        raise DatasetError(f"{source}: {', '.join(wrong)}, expected a list", hint=COCO_HINT)


def _top_level_kinds(path: Path) -> dict[str, str]:
    """Top-level key -> the event its value starts with; ``""``: the document's own first event."""
    kinds: dict[str, str] = {}
    with path.open("rb") as handle:
        events = ijson.parse(handle)
        first = next(events, None)
        kinds[""] = first[1] if first is not None else ""
        if first is None or first[1] != "start_map":
            for _ in events:  # still read to the end, so malformed JSON is reported as such
                pass
            return kinds
        key = None
        for prefix, event, value in events:
            if prefix == "" and event == "map_key":
                key = value
            elif key is not None and prefix == key and key not in kinds:
                kinds[key] = event
    return kinds


def _items(path: Path, key: str) -> Iterator[Any]:
    with path.open("rb") as handle:
        yield from ijson.items(handle, f"{key}.item", use_float=True)


def _load_lenient(path: Path) -> dict[str, Any]:
    """A file the strict streaming parser refused, read whole by Python's parser.

    That one accepts ``NaN``, ``Infinity`` and ``1e999``, so each becomes a finding
    for its own box; anything it refuses too is malformed, reported with its place.
    """
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}:{err.lineno}:{err.colno}: malformed JSON: {err.msg} (at byte {err.pos})",
                           hint=COCO_HINT) from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text (byte {err.start})", hint=COCO_HINT) from None
    kinds = {"": _kind_of(data)}
    if isinstance(data, dict):
        kinds.update({k: _kind_of(v) for k, v in data.items() if k in _KEYS})
    check_document_shape(str(path), kinds)
    document: dict[str, Any] = data  # an object: checked just above
    return document


def _kind_of(value: Any) -> str:
    """The ijson event a parsed value starts with."""
    if isinstance(value, dict):
        return "start_map"
    if isinstance(value, list):
        return "start_array"
    return {str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def coco_files(annotations: AnnotationPaths) -> list[Path]:
    """Files given, plus ``instances_*.json`` (else ``*.json``) of folders given."""
    files: list[Path] = []
    for path in as_path_list(annotations):
        instances = sorted(path.glob("instances_*.json")) if path.is_dir() else []
        pattern = "instances_*.json" if instances else "*.json"
        files.extend(f for f, _ in expand_annotation_paths(path, pattern))
    return files


_KEYS = ("images", "annotations", "categories")
_KINDS = {"start_map": "an object", "start_array": "a list", "string": "a string", "number": "a number",
          "boolean": "a boolean", "null": "null", "": "missing"}
COCO_HINT = "dataset.format is coco: fix or re-export the file; nothing of it was used"


def parse_coco(
    root: Path, data: Any, source: str, split: str | None = None
) -> tuple[list[Example], list[str], list[Finding]]:
    """Examples, declared category names and findings of one parsed COCO document (DatasetError if it is not one)."""
    kinds = {"": _kind_of(data)}
    if isinstance(data, dict):
        kinds.update({k: _kind_of(v) for k, v in data.items() if k in _KEYS})
    check_document_shape(source, kinds)
    examples = CompactExamples()
    names, findings = _parse_lists(root, data, source, split, examples)
    return list(examples), names, findings


def _parse_lists(root: Path, lists: Mapping[str, Iterable[Any]], source: str, split: str | None,
                 into: CompactExamples) -> tuple[list[str], list[Finding]]:
    categories, findings = _coco_categories(lists["categories"], source)
    images, skipped, image_findings = _coco_images(root, lists["images"], source, split, into)
    findings += image_findings
    findings += _coco_boxes(lists["annotations"], images, skipped, categories, source, into)
    return list(categories.values()), findings


def _coco_categories(items: Iterable[Any], source: str) -> tuple[dict[CocoId, str], list[Finding]]:
    categories: dict[CocoId, str] = {}
    findings: list[Finding] = []
    for index, item in enumerate(items):
        key = _id(item.get("id")) if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        if key is None or not isinstance(name, str) or not name.strip():
            what = f"categories[{index}]: expected an object with 'id' and 'name'"
            findings.append(Finding(source, what, "category skipped"))
        else:
            categories[key] = name.strip()
    return categories, findings


def _coco_images(
    root: Path, items: Iterable[Any], source: str, split: str | None, into: CompactExamples
) -> tuple[dict[CocoId, int], set[CocoId], list[Finding]]:
    """Usable images (added to ``into``) by id, ids of images dropped (their boxes go silently), findings."""
    images: dict[CocoId, int] = {}
    skipped: set[CocoId] = set()
    findings: list[Finding] = []
    for index, item in enumerate(items):
        parsed = _coco_image(root, item, index)
        if isinstance(parsed, str):
            findings.append(Finding(source, parsed, "image skipped"))
            key = _id(item.get("id")) if isinstance(item, dict) else None
            if key is not None and key not in images:
                skipped.add(key)
            continue
        key, (image, width, height), size_problem = parsed
        if key in images:
            what = f"images[{index}]: id {json.dumps(key)} is used by an earlier image"
            findings.append(Finding(source, what, "image skipped"))
            continue
        if size_problem:
            findings.append(Finding(source, size_problem, "size ignored"))
        images[key] = into.add_image(image.as_posix(), width, height, source, split)
    return images, skipped - set(images), findings


def _coco_image(
    root: Path, item: Any, index: int
) -> str | tuple[CocoId, tuple[Path, int | None, int | None], str | None]:
    where = f"images[{index}]"
    if not isinstance(item, dict):
        return f"{where}: expected an object"
    key = _id(item.get("id"))
    if key is None:
        return f"{where}: missing 'id'"
    name = item.get("file_name")
    if not isinstance(name, str) or not name.strip():
        return f"{where}: missing 'file_name'"
    image = image_path_in_root(root, name)
    if image is None:
        return f"{where}: {outside_root_what(name)}"
    width, height, problem = _coco_size(item, where)
    return key, (image, width, height), problem


def _coco_size(item: dict[str, Any], where: str) -> tuple[int | None, int | None, str | None]:
    """Recorded size; both are dropped if either is not a whole number, 0 means unknown."""
    sizes: list[int | None] = []
    for key in ("width", "height"):
        raw = item.get(key)
        value = whole_number(raw)
        if raw is not None and value is None:
            return None, None, f"{where}: {key} is {json.dumps(raw)}, expected a whole number"
        sizes.append(value or None)
    return sizes[0], sizes[1], None


def _coco_boxes(
    items: Iterable[Any],
    images: dict[CocoId, int],
    skipped: set[CocoId],
    categories: dict[CocoId, str],
    source: str,
    into: CompactExamples,
) -> list[Finding]:
    """Attach each annotation's box to its image; returns the findings."""
    findings: list[Finding] = []
    for index, item in enumerate(items):
        problem = _coco_box(item, index, images, skipped, categories, into)
        if problem:
            findings.append(Finding(source, problem, "annotation skipped"))
    return findings


def _coco_box(
    item: Any,
    index: int,
    images: dict[CocoId, int],
    skipped: set[CocoId],
    categories: dict[CocoId, str],
    into: CompactExamples,
) -> str | None:
    where = f"annotations[{index}]"
    if not isinstance(item, dict):
        return f"{where}: expected an object"
    image_id, category_id = _id(item.get("image_id")), _id(item.get("category_id"))
    if image_id in skipped:
        return None
    if image_id is None or image_id not in images:
        return f"{where}: image_id {json.dumps(item.get('image_id'))} is not in 'images'"
    if category_id is None or category_id not in categories:
        return f"{where}: category_id {json.dumps(item.get('category_id'))} is not in 'categories'"
    bbox = item.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        return f"{where}: bbox is {json.dumps(bbox)}, expected [x, y, width, height]"
    read = [finite_float(v) for v in bbox]
    bad = next((i for i, n in enumerate(read) if n is None), None)
    if bad is not None:
        return f"{where}.bbox[{bad}]: {json.dumps(bbox[bad])} is not a coordinate (expected a finite number)"
    x, y, w, h = [n for n in read if n is not None]  # all four, as just checked
    crowd = item.get("iscrowd", 0) in (1, True)
    into.add_box(images[image_id], Box(categories[category_id], x, y, x + w, y + h, iscrowd=crowd))
    return None


def _id(value: Any) -> CocoId | None:
    """Ids are integers in COCO, strings in some exporters; anything else is missing."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return value
