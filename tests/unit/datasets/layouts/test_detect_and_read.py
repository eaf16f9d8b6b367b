"""Detection and reading of every export layout of exports.py, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets.layouts import detect_layout, names_from_labelmap, read_layout
from odspec.errors import DatasetError
from tests.unit.datasets.layouts.catalogue import EXPORTS
from tests.unit.datasets.layouts.exports import LAYOUTS


def _boxes(read):
    return {e.image.as_posix(): [(b.label, b.xmin, b.ymin, b.xmax, b.ymax) for b in e.boxes] for e in read.examples}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_layout_is_detected_and_read_as_the_tool_wrote_it(tmp_path: Path, name: str) -> None:
    builder, fmt, kind = EXPORTS[name]
    root = tmp_path / "my_test_export"  # a split word in the export's own name is not a split
    expected = builder(root)
    layout = detect_layout(root)
    assert (layout.format, layout.kind.startswith(kind)) == (fmt, True), layout.kind
    read = read_layout(layout, list(expected.classes))
    assert _boxes(read) == {k: [tuple(b) for b in v] for k, v in expected.boxes.items()}
    assert {e.image.as_posix(): e.split for e in read.examples} == expected.splits
    assert set(read.classes_seen) <= set(expected.classes)
    for image in _boxes(read):
        assert (root / image).is_file()


@pytest.mark.parametrize("compact", [False, True])
def test_roboflow_dataset_category_is_left_out_with_a_note(tmp_path: Path, compact: bool) -> None:
    LAYOUTS["roboflow_coco"][0](tmp_path)
    read = read_layout(detect_layout(tmp_path), ["cat", "dog"], compact=compact)
    assert read.classes_seen == ("cat", "dog")
    notes = [f for f in read.findings if "pets-xyz" in f.what]
    assert len(notes) == 1 and notes[0].action == "note: left out"


def test_cvat_labelmap_names_the_classes_in_order(tmp_path: Path) -> None:
    LAYOUTS["cvat_voc"][0](tmp_path)
    read = read_layout(detect_layout(tmp_path), None)
    assert read.classes_seen[:3] == ("person", "car", "bicycle")
    assert names_from_labelmap("\ufeff# label:color_rgb:parts:actions\r\nbig truck:1,2,3::\r\n") == ("big truck",)


def test_nothing_recognised_names_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError) as failed:
        detect_layout(tmp_path)
    assert "Roboflow COCO JSON" in failed.value.message and "LabelImg" in failed.value.message


def test_two_formats_at_once_ask_for_dataset_format(tmp_path: Path) -> None:
    LAYOUTS["roboflow_coco"][0](tmp_path)
    LAYOUTS["roboflow_csv"][0](tmp_path)
    with pytest.raises(DatasetError) as failed:
        detect_layout(tmp_path)
    assert "dataset.format" in (failed.value.hint or "")
    assert detect_layout(tmp_path, "csv").format == "csv"
    assert detect_layout(tmp_path, "coco").format == "coco"


def test_detection_is_deterministic(tmp_path: Path) -> None:
    LAYOUTS["roboflow_voc"][0](tmp_path)
    assert detect_layout(tmp_path) == detect_layout(tmp_path)


def test_a_first_category_with_boxes_is_a_real_class(tmp_path: Path) -> None:
    """Only a first category no box uses is Roboflow's project category; one in use stays a class."""
    import json

    LAYOUTS["roboflow_coco"][0](tmp_path)
    doc = tmp_path / "train" / "_annotations.coco.json"
    data = json.loads(doc.read_text())
    data["annotations"][0]["category_id"] = 0
    doc.write_text(json.dumps(data))
    read = read_layout(detect_layout(tmp_path), ["pets-xyz", "cat", "dog"])
    assert read.classes_seen == ("pets-xyz", "cat", "dog")
    assert not [f for f in read.findings if "project category" in f.what]
