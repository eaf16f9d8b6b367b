"""Datasets: one reader per annotation format, all producing the model in
:mod:`odspec.datasets.model`. Readers parse and report; they do not judge
(validation and splitting are built on top of :func:`read_dataset`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Optional, get_args

from odspec.datasets.coco import read_coco
from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import AnnotationPaths
from odspec.datasets.summary import DatasetSummary, summarize
from odspec.datasets.tabular import read_csv
from odspec.datasets.voc import read_voc
from odspec.datasets.yolo import read_yolo
from odspec.errors import DatasetError

DatasetFormat = Literal["voc", "coco", "yolo", "csv"]
Reader = Callable[[Path, AnnotationPaths, Optional[list[str]]], ReadResult]
READERS: dict[str, Reader] = {
    "voc": read_voc,
    "coco": read_coco,
    "yolo": read_yolo,
    "csv": read_csv,
}

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
) -> ReadResult:
    """Read a dataset with the reader for ``format``; ``images`` is the root example paths are relative to."""
    reader = READERS.get(format)
    if reader is None:
        choices = ", ".join(get_args(DatasetFormat))
        similar = difflib.get_close_matches(str(format), READERS, n=1)
        hint = f"did you mean '{similar[0]}'? " if similar else ""
        raise DatasetError(f"unknown dataset format '{format}'", hint=f"{hint}use one of: {choices}")
    return reader(Path(images), annotations, classes)
