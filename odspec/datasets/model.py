"""The format-independent dataset model every reader produces.

Readers only parse: a box that is inverted, outside its image or of a class the
spec does not list is still returned as written, so that the validation layer
can report every problem at once and decide what is fatal. Problems that stop a
reader from understanding part of a file become :class:`Finding` objects.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Per-image records without a __dict__ (a fraction of the memory). Python 3.11 is the first
# whose frozen slotted dataclasses pickle, which the worker processes need.
SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 11) else {}


@dataclass(frozen=True, **SLOTS)
class Box:
    """One labelled box in absolute pixel coordinates (x to the right, y down).

    Coordinates are continuous pixel edges: a box covering pixel columns 10..49
    has ``xmin=10, xmax=50``. Values are kept exactly as the source wrote them
    (VOC's 1-based convention is not corrected, as in the OD API's own tools).
    """

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False
    truncated: bool = False
    pose: str = "Unspecified"
    iscrowd: bool = False


@dataclass(frozen=True, **SLOTS)
class Example:
    """One image and its boxes.

    ``image`` is relative to the images folder and never leaves it.
    ``width``/``height`` are what the annotation records (YOLO: read from the
    image header), ``None`` when the format records nothing. An example with no
    boxes is a negative (background) image.
    """

    image: Path
    width: int | None
    height: int | None
    boxes: tuple[Box, ...]
    source: str
    split: str | None = None


@dataclass(frozen=True, **SLOTS)
class Finding:
    """A problem met while reading, and what the reader did about it.

    ``action`` says what was dropped ("file skipped", "object skipped", ...);
    the validation layer decides whether that is acceptable.
    """

    file: str
    what: str
    action: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.what} ({self.action})"


@dataclass(frozen=True)
class ReadResult:
    """What a reader returns.

    ``classes_seen`` lists the class names the source declares, in its own
    order (COCO ``categories``, YOLO ``classes.txt``/``data.yaml``), or, for
    formats that declare none (VOC, CSV), the labels in order of first use.
    It is what a spec without ``classes:`` would fall back to.
    """

    examples: Sequence[Example]  # a list, or CompactExamples from the compact readers
    findings: list[Finding]
    classes_seen: tuple[str, ...]
