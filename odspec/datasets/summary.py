"""Counts over examples that the spec's settings and checks are based on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from odspec.datasets.model import Example
from odspec.datasets.paths import ordered_unique


@dataclass(frozen=True)
class DatasetSummary:
    """What a dataset holds, computed from examples only (no I/O).

    Class counts list the spec's classes first, in spec order and including
    those with no box, then other labels in order of first use.
    ``max_boxes_per_image`` bounds the OD API's ``max_number_of_boxes``.
    ``images_per_split`` counts only examples whose source named a split.
    """

    images: int
    boxes: int
    boxes_per_class: dict[str, int]
    images_per_class: dict[str, int]
    max_boxes_per_image: int
    images_without_boxes: int
    unknown_classes: tuple[str, ...]
    images_per_split: dict[str, int]


def summarize(examples: Sequence[Example], classes: Sequence[str] | None = None) -> DatasetSummary:
    """Summarise ``examples`` against the spec's class list (``None``: every label is known)."""
    labels = ordered_unique(b.label for e in examples for b in e.boxes)
    order = ordered_unique([*(classes or []), *labels])
    per_box = Counter(b.label for e in examples for b in e.boxes)
    per_image = Counter(label for e in examples for label in {b.label for b in e.boxes})
    splits = Counter(e.split for e in examples if e.split is not None)
    return DatasetSummary(
        images=len(examples),
        boxes=sum(per_box.values()),
        boxes_per_class={name: per_box[name] for name in order},
        images_per_class={name: per_image[name] for name in order},
        max_boxes_per_image=max((len(e.boxes) for e in examples), default=0),
        images_without_boxes=sum(1 for e in examples if not e.boxes),
        unknown_classes=tuple(n for n in labels if classes is not None and n not in classes),
        images_per_split=dict(sorted(splits.items())),
    )
