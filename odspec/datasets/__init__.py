"""Datasets: one reader per annotation format, all producing the model in
:mod:`odspec.datasets.model`. Readers parse and report; they do not judge
(validation and splitting are built on top of :func:`read_dataset`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from odspec.datasets.coco import read_coco, read_coco_compact
from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import AnnotationPaths
from odspec.datasets.summary import DatasetSummary, summarize
from odspec.datasets.tabular import read_csv
from odspec.datasets.voc import read_voc
from odspec.datasets.yolo import read_yolo
from odspec.errors import DatasetError, suggest

DatasetFormat = Literal["voc", "coco", "yolo", "csv"]
Reader = Callable[[Path, AnnotationPaths, list[str] | None], ReadResult]
READERS: dict[str, Reader] = {
    "voc": read_voc,
    "coco": read_coco,
    "yolo": read_yolo,
    "csv": read_csv,
}
COMPACT_READERS: dict[str, Reader] = {"coco": read_coco_compact}  # examples as CompactExamples

__all__ = [
    "Box",
    "DatasetFormat",
    "DatasetSummary",
    "Example",
    "Finding",
    "ReadResult",
    "read_coco",
    "read_csv",
    "read_dataset",
    "read_voc",
    "read_yolo",
    "summarize",
]


def read_dataset(
    format: DatasetFormat,
    images: Path,
    annotations: AnnotationPaths,
    classes: list[str] | None = None,
    *,
    compact: bool = False,
) -> ReadResult:
    """Read a dataset with the reader for ``format``; ``images`` is the root example paths are relative to.

    ``compact``: the examples may come as a :class:`~odspec.datasets.compact.CompactExamples`
    sequence (equal items, a fraction of the memory) where the format's reader supports it.
    """
    reader = (COMPACT_READERS if compact else READERS).get(format) or READERS.get(format)
    if reader is None:
        choices = ", ".join(get_args(DatasetFormat))
        raise DatasetError(f"unknown dataset format '{format}'{suggest(str(format), READERS)}",
                           hint=f"use one of: {choices}")
    return reader(Path(images), annotations, classes)
