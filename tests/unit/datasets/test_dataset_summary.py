from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets import Box, Example, Finding, read_dataset, summarize
from odspec.errors import DatasetError


def example(name: str, labels: list[str], split: str | None = None) -> Example:
    boxes = tuple(Box(label, 0, 0, 1, 1) for label in labels)
    return Example(Path(name), 10, 10, boxes, "a.xml", split)


def test_summary_counts_against_the_spec_classes() -> None:
    examples = [
        example("a.jpg", ["cat", "cat", "fox"], "train"),
        example("b.jpg", ["dog"], "val"),
        example("c.jpg", [], "train"),
        example("d.jpg", ["cow"]),
    ]
    summary = summarize(examples, ["dog", "cat", "eel"])
    assert summary.images == 4
    assert summary.boxes == 5
    assert summary.boxes_per_class == {"dog": 1, "cat": 2, "eel": 0, "fox": 1, "cow": 1}
    assert summary.images_per_class == {"dog": 1, "cat": 1, "eel": 0, "fox": 1, "cow": 1}
    assert summary.max_boxes_per_image == 3
    assert summary.images_without_boxes == 1
    assert summary.unknown_classes == ("fox", "cow")
    assert summary.images_per_split == {"train": 2, "val": 1}


def test_summary_of_nothing_and_without_a_class_list() -> None:
    empty = summarize([])
    assert (empty.images, empty.boxes, empty.max_boxes_per_image, empty.boxes_per_class) == (0, 0, 0, {})
    assert summarize([example("a.jpg", ["cat"])]).unknown_classes == ()


def test_finding_text_has_the_error_shape() -> None:
    assert str(Finding("a.xml", "missing <filename>", "file skipped")) == "a.xml: missing <filename> (file skipped)"
    assert str(Finding("a.txt", "bad", "line skipped", 3)) == "a.txt:3: bad (line skipped)"


def test_read_dataset_dispatches_and_rejects_unknown_formats(make_tree) -> None:
    root = make_tree({"ann/x.csv": "filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,1,1,cat,0,0,1,1\n"})
    assert [e.image for e in read_dataset("csv", root, root / "ann", ["cat"]).examples] == [Path("a.jpg")]
    with pytest.raises(DatasetError) as err:
        read_dataset("yolov8", root, root, None)  # type: ignore[arg-type]
    assert str(err.value) == "unknown dataset format 'yolov8', did you mean 'yolo'? (use one of: voc, coco, yolo, csv)"
