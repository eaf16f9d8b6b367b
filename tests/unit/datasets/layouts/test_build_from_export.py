"""`odspec build` of a spec whose dataset is an export's root (``dataset.path``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.errors import DatasetError, SpecError
from tests.unit.datasets.layouts.exports import LAYOUTS, jpeg, write

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


def export_spec(folder: Path, layout: str, classes: list[str], **dataset: object) -> Path:
    LAYOUTS[layout][0](folder / "export")
    spec = minimal_spec(FPNLITE, classes)
    spec["dataset"] = {"path": "export", "classes": classes, **dataset}
    return write_spec(folder, spec)


def test_roboflow_coco_builds_with_its_own_splits(tmp_path: Path) -> None:
    spec = export_spec(tmp_path, "roboflow_coco", ["cat", "dog"], split={"from_source": True})
    result = api.build(spec, workers=1)
    splits = json.loads((result.out_dir / "splits.json").read_text())
    placed = splits.get("images", splits)
    assert {k: v for k, v in placed.items() if "/" in k} == {"train/a.jpg": "train", "train/b.jpg": "train",
                                                           "valid/c.jpg": "val", "test/d.jpg": "test"}
    assert not any("pets-xyz" in str(f) and "not in" in str(f) for f in result.findings)
    assert any("pets-xyz" in str(f) and "left out" in str(f) for f in result.findings)


def test_a_new_split_folder_makes_the_no_op_check_fail(tmp_path: Path) -> None:
    spec = export_spec(tmp_path, "roboflow_voc", ["cat", "dog"])
    api.build(spec, workers=1)
    assert all(c.change == "unchanged" for c in api.build(spec, workers=1).changes)
    write(tmp_path / "export" / "extra" / "e.jpg", jpeg())
    write(tmp_path / "export" / "extra" / "e.xml", LAYOUTS and
          "<annotation><filename>e.jpg</filename><size><width>64</width><height>48</height></size></annotation>")
    assert not all(c.change == "unchanged" for c in api.build(spec, workers=1).changes)


def test_from_source_refuses_images_without_a_source_split(tmp_path: Path) -> None:
    spec = export_spec(tmp_path, "cvat_coco", ["car", "person"], split={"from_source": True})
    with pytest.raises(DatasetError) as failed:
        api.build(spec, workers=1)
    message = failed.value.message
    assert "1 of 2 images" in message and "images/default/f1.jpg" in message and "instances_default.json" in message


def test_from_source_refusal_in_the_explicit_form_too(tmp_path: Path) -> None:
    LAYOUTS["labelimg"][0](tmp_path / "shots")
    spec = minimal_spec(FPNLITE, ["cat"])
    spec["dataset"] = {"format": "voc", "images": "shots", "annotations": "shots", "classes": ["cat"],
                       "split": {"from_source": True}}
    with pytest.raises(DatasetError) as failed:
        api.build(write_spec(tmp_path, spec), workers=1)
    assert "2 of 2 images" in failed.value.message and "ImageSets/Main" in failed.value.message


def test_a_missing_or_unrecognised_path_is_a_spec_problem_at_dataset_path(tmp_path: Path) -> None:
    spec = minimal_spec(FPNLITE, ["cat"])
    spec["dataset"] = {"path": "nowhere", "classes": ["cat"]}
    with pytest.raises(SpecError) as failed:
        api.validate(write_spec(tmp_path, spec), check_data=False)
    assert "dataset.path" in str(failed.value) and "no folder" in str(failed.value)
    (tmp_path / "nowhere").mkdir()
    (tmp_path / "nowhere" / "readme.txt").write_text("x")
    with pytest.raises(SpecError) as failed:
        api.validate(write_spec(tmp_path, spec), check_data=False)
    assert "dataset.path" in str(failed.value) and "looked for" in str(failed.value)


def test_a_spec_class_that_never_occurs_is_a_finding_in_the_report(tmp_path: Path) -> None:
    spec = export_spec(tmp_path, "roboflow_voc", ["cat", "dog", "bird"])
    result = api.build(spec, workers=1)
    assert [f.what for f in result.findings if "never occur" in f.what] == ["'bird' never occurs in the dataset"]
    assert "never occurs" in (result.out_dir / "report.json").read_text()
