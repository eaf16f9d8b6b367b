"""`odspec build` of YOLO exports: splits from data.yaml, dataset.names, and the class-order refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.errors import DatasetError
from tests.unit.datasets.layouts.exports import jpeg, write
from tests.unit.datasets.layouts.yolo_exports import YOLO_EXPORTS, line

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


def _spec(folder: Path, classes: list[str], **dataset: object) -> Path:
    spec = minimal_spec(FPNLITE, classes)
    spec["dataset"] = {"path": "export", "classes": classes, **dataset}
    return write_spec(folder, spec)


def test_roboflow_yolov8_builds_with_its_own_splits(tmp_path: Path) -> None:
    YOLO_EXPORTS["roboflow_yolov8"][0](tmp_path / "export")
    result = api.build(_spec(tmp_path, ["cat", "dog"], split={"from_source": True}), workers=1)
    splits = json.loads((result.out_dir / "splits.json").read_text())
    placed = splits.get("images", splits)
    assert {k: v for k, v in placed.items() if "/" in k} == {"train/images/a.jpg": "train", "valid/images/b.jpg": "val"}


def test_reordered_spec_classes_stop_the_build(tmp_path: Path) -> None:
    YOLO_EXPORTS["cvat_yolo"][0](tmp_path / "export")
    with pytest.raises(DatasetError, match=r"file 0=cat, 1=dog; spec 0=dog, 1=cat"):
        api.build(_spec(tmp_path, ["dog", "cat"]), workers=1)


def test_dataset_names_gives_the_standard_tree_its_names(tmp_path: Path) -> None:
    for split in ("train", "val"):
        write(tmp_path / f"export/images/{split}/{split}1.jpg", jpeg())
        write(tmp_path / f"export/labels/{split}/{split}1.txt", line(0, 8, 8, 40, 30))
    with pytest.raises(DatasetError, match="no class-names file"):
        api.build(_spec(tmp_path, ["cat"]), workers=1)
    write(tmp_path / "meta/my.names", "cat\n")
    result = api.build(_spec(tmp_path, ["cat"], names="meta/my.names", split={"from_source": True}), workers=1)
    placed = json.loads((result.out_dir / "splits.json").read_text())
    placed = placed.get("images", placed)
    assert {k: v for k, v in placed.items() if "/" in k} == {"images/train/train1.jpg": "train",
                                                           "images/val/val1.jpg": "val"}
