"""The CSV of the TF Object Detection tutorial: one row per box.

Header ``filename,width,height,class,xmin,ymin,xmax,ymax`` (any order, extra
columns ignored, names compared case-insensitively). Rows are grouped by
``filename`` within a file; a row whose ``class`` and coordinates are all
empty records an image without boxes. The split comes from the file name
(``train_labels.csv`` -> ``train``, see
:func:`odspec.datasets.paths.split_from_filename`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import (
    AnnotationPaths,
    expand_annotation_paths,
    image_path_in_root,
    ordered_unique,
    outside_root_what,
    split_from_filename,
)
from odspec.datasets.values import finite_float, whole_number

COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
COORDINATES = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class CsvRow:
    """One parsed row; ``box`` is ``None`` for an image without boxes."""

    image: Path
    width: int | None
    height: int | None
    box: Box | None


@dataclass
class CsvImage:
    """Rows of one image collected so far, with the line its size came from."""

    row: CsvRow
    line: int
    boxes: list[Box] = field(default_factory=list)


def read_csv(
    root: Path, annotations: AnnotationPaths, classes: list[str] | None = None
) -> ReadResult:
    """Read tutorial CSV files; ``classes`` is accepted for a uniform signature and unused."""
    examples: list[Example] = []
    findings: list[Finding] = []
    for path, _ in expand_annotation_paths(annotations, "*.csv"):
        text = path.read_text(encoding="utf-8-sig")
        found, problems = parse_csv(root, text, str(path), split_from_filename(path))
        examples.extend(found)
        findings.extend(problems)
    labels = ordered_unique(b.label for e in examples for b in e.boxes)
    return ReadResult(examples, findings, labels)


def parse_csv(
    root: Path, text: str, source: str, split: str | None = None
) -> tuple[list[Example], list[Finding]]:
    """Examples of one CSV document, in order of first appearance of each filename."""
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [Finding(source, f"missing columns: {', '.join(missing)}", "file skipped", 1)]
    images: dict[Path, CsvImage] = {}
    findings: list[Finding] = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        parsed = parse_csv_row(root, dict(zip(header, values, strict=False)), len(header), len(values))
        if isinstance(parsed, str):
            findings.append(Finding(source, parsed, "row skipped", reader.line_num))
            continue
        findings.extend(_add_row(images, parsed, reader.line_num, source))
    examples = [
        Example(i.row.image, i.row.width, i.row.height, tuple(i.boxes), source, split)
        for i in images.values()
    ]
    return examples, findings


def parse_csv_row(
    root: Path, row: dict[str, str], expected: int, got: int
) -> CsvRow | str:
    """One row, or the text of what is wrong with it."""
    if got != expected:
        return f"expected {expected} columns, got {got}"
    cells = {k: v.strip() for k, v in row.items()}
    if not cells["filename"]:
        return "filename is empty"
    image = image_path_in_root(root, cells["filename"])
    if image is None:
        return outside_root_what(cells["filename"])
    sizes = [whole_number(cells[k]) if cells[k] else None for k in ("width", "height")]
    for key, size in zip(("width", "height"), sizes, strict=True):
        if cells[key] and size is None:
            return f"{key} is '{cells[key]}', expected a whole number"
    box = _csv_box(cells)
    if isinstance(box, str):
        return box
    return CsvRow(image, sizes[0] or None, sizes[1] or None, box)


def _csv_box(cells: dict[str, str]) -> Box | str | None:
    if not cells["class"] and not any(cells[k] for k in COORDINATES):
        return None
    if not cells["class"]:
        return "class is empty"
    numbers: list[float] = []
    for key in COORDINATES:
        number = finite_float(cells[key])
        if number is None:
            return f"{key} is '{cells[key]}', expected a number"
        numbers.append(number)
    xmin, ymin, xmax, ymax = numbers
    return Box(cells["class"], xmin, ymin, xmax, ymax)


def _add_row(images: dict[Path, CsvImage], row: CsvRow, line: int, source: str) -> list[Finding]:
    """Group ``row`` with earlier rows of its image; a size that differs is reported."""
    group = images.setdefault(row.image, CsvImage(row, line))
    if row.box is not None:
        group.boxes.append(row.box)
    first = group.row
    if (row.width, row.height) == (first.width, first.height):
        return []
    what = (
        f"{row.image} is {_size(row)} here but {_size(first)} on line {group.line}"
    )
    return [Finding(source, what, "first size kept", line)]


def _size(row: CsvRow) -> str:
    return f"{row.width or '?'}x{row.height or '?'}"
