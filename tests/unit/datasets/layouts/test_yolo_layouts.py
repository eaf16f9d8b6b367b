"""YOLO-family layouts: detection, reading, class names files and the class-order refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets import read_yolo
from odspec.datasets.layouts import detect_layout, read_layout
from odspec.datasets.yolo import parse_yolo_labels
from odspec.datasets.yolo_layouts import detect_yolo
from odspec.errors import DatasetError
from tests.unit.datasets.layouts.exports import jpeg, write
from tests.unit.datasets.layouts.yolo_exports import YOLO_EXPORTS, H, W, line


def _boxes(read):
    return {e.image.as_posix(): [(b.label, b.xmin, b.ymin, b.xmax, b.ymax) for b in e.boxes] for e in read.examples}


@pytest.mark.parametrize("name", sorted(YOLO_EXPORTS))
def test_each_yolo_export_is_detected_and_read_as_the_tool_wrote_it(tmp_path: Path, name: str) -> None:
    builder, kind = YOLO_EXPORTS[name]
    root = tmp_path / "export"  # not tmp_path: its name ("test_each_...") would be read as the split "test"
    expected = builder(root)
    layout = detect_layout(root)
    assert (layout.format, layout.kind) == ("yolo", kind)
    assert layout.names_file is not None and layout.names_file.is_file()
    read = read_layout(layout, list(expected.classes))
    got = _boxes(read)
    assert got.keys() == expected.boxes.keys()
    for image, boxes in expected.boxes.items():
        assert [b[0] for b in got[image]] == [b[0] for b in boxes]
        assert [b[1:] for b in got[image]] == [pytest.approx(b[1:]) for b in boxes]
    assert {e.image.as_posix(): e.split for e in read.examples} == expected.splits
    assert read.classes_seen == expected.classes


def test_a_folder_that_is_no_yolo_export_is_none(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg", jpeg())
    write(tmp_path / "a.xml", "<annotation/>")
    assert detect_yolo(tmp_path) is None


def test_data_yaml_pointing_at_a_missing_folder_says_which_key_and_where(tmp_path: Path) -> None:
    write(tmp_path / "data.yaml", "train: ../train/images\nval: ../valid/images\nnames: [cat]\n")
    write(tmp_path / "train/images/a.jpg", jpeg())
    write(tmp_path / "train/labels/a.txt", "")
    with pytest.raises(DatasetError) as err:
        detect_yolo(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'data.yaml'}: val: ../valid/images is not there (looked at "
                                     f"{(tmp_path / '../valid/images').resolve()}, {tmp_path / 'valid/images'})")
    assert "fix val: in data.yaml" in str(err.value)


def test_data_yaml_image_list_and_background_images(tmp_path: Path) -> None:
    """CVAT's Ultralytics export: data.yaml ``train: train.txt`` listing ``images/train/x.jpg`` (docs.cvat.ai)."""
    write(tmp_path / "data.yaml", "path: ./\ntrain: train.txt\nnames:\n  0: cat\n")
    write(tmp_path / "train.txt", "images/train/a.jpg\n./images/train/b.jpg\n")
    write(tmp_path / "images/train/a.jpg", jpeg())
    write(tmp_path / "images/train/b.jpg", jpeg())
    write(tmp_path / "labels/train/a.txt", line(0, 8, 8, 40, 30))
    read = read_layout(detect_layout(tmp_path), ["cat"])
    assert {e.image.as_posix(): (len(e.boxes), e.split) for e in read.examples} == {
        "images/train/a.jpg": (1, "train"), "images/train/b.jpg": (0, "train")}
    assert [(f.what, f.action) for f in read.findings] == [
        ("1 listed images have no label file", "kept as negatives (no boxes), as Ultralytics counts them as backgrounds")]


def test_images_without_labels_are_negatives_with_one_finding_per_folder(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path / f"images/{name}.JPG", jpeg())
    write(tmp_path / "labels/a.txt", line(0, 8, 8, 40, 30))
    write(tmp_path / "labels/classes.txt", "cat\n")
    read = read_yolo(tmp_path / "images", tmp_path / "labels", ["cat"])
    assert sorted((e.image.as_posix(), len(e.boxes)) for e in read.examples) == [("a.JPG", 1), ("b.JPG", 0), ("c.JPG", 0)]
    assert [(f.file, f.what) for f in read.findings] == [(str(tmp_path / "images"), "2 images have no label file")]


def _names_file(root: Path, kind: str, names: list[str]) -> Path:
    text = {
        "classes.txt": "".join(f"{n}\n" for n in names),
        "obj.names": "".join(f"{n}\r\n" for n in names),
        "data.yaml list": f"names: [{', '.join(names)}]\n",
        "data.yaml mapping": "names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)),
    }[kind]
    path = root / ("data.yaml" if kind.startswith("data.yaml") else kind)
    write(path, "\ufeff" + text)  # a BOM, as Windows editors write it
    return path


@pytest.mark.parametrize("kind", ["classes.txt", "obj.names", "data.yaml list", "data.yaml mapping"])
def test_a_spec_reordering_the_names_files_classes_is_refused_with_both_orders(tmp_path: Path, kind: str) -> None:
    path = _names_file(tmp_path, kind, ["cat", "dog", "bird"])
    write(tmp_path / "a.jpg", jpeg())
    write(tmp_path / "a.txt", line(1, 8, 8, 40, 30))
    with pytest.raises(DatasetError) as err:
        read_yolo(tmp_path, tmp_path, ["dog", "cat", "bird"], names_file=path)
    assert str(err.value) == (
        f"the spec's classes are in another order than the YOLO names file {path} gives their ids: "
        "file 0=cat, 1=dog, 2=bird; spec 0=dog, 1=cat, 2=bird. Reading would silently give boxes the wrong class "
        f"(write classes: [cat, dog, bird] (the file's order) in the spec; or, if the spec's order is the one the "
        f"labels were made with, fix {path.name})")
    read = read_yolo(tmp_path, tmp_path, ["cat", "dog", "bird"], names_file=path)
    assert read.classes_seen == ("cat", "dog", "bird")
    assert [b.label for e in read.examples for b in e.boxes] == ["dog"]


def test_a_subset_in_the_files_order_maps_by_name(tmp_path: Path) -> None:
    write(tmp_path / "classes.txt", "cat\ndog\nbird\n")
    write(tmp_path / "a.jpg", jpeg())
    write(tmp_path / "a.txt", line(2, 8, 8, 40, 30) + line(0, 1, 1, 5, 5))
    read = read_yolo(tmp_path, tmp_path, ["cat", "bird"])
    assert [b.label for e in read.examples for b in e.boxes] == ["bird", "cat"]
    with pytest.raises(DatasetError, match="another order"):
        read_yolo(tmp_path, tmp_path, ["bird", "cat"])


def test_nc_disagreeing_with_names_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "data.yaml", "nc: 3\nnames: [cat, dog]\n")
    write(tmp_path / "a.txt", "")
    with pytest.raises(DatasetError, match=r"nc: 3 but names: lists 2 classes \(make nc: 2"):
        read_yolo(tmp_path, tmp_path, None)


def test_float_ids_crlf_bom_and_polygons_are_read_like_ultralytics() -> None:
    text = "\ufeff0.0 0.5 0.5 0.25 0.5\r\n1 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\r\n"
    boxes, findings = parse_yolo_labels(text.lstrip("\ufeff"), ["cat", "dog"], (W, H), "a.txt")
    assert [(b.label, b.xmin, b.ymin, b.xmax, b.ymax) for b in boxes] == [
        ("cat", pytest.approx(24), pytest.approx(12), pytest.approx(40), pytest.approx(36)),
        ("dog", pytest.approx(16), pytest.approx(12), pytest.approx(48), pytest.approx(36))]
    assert [(f.what, f.action) for f in findings] == [(
        "1 lines are segmentation polygons (Ultralytics' segment format), lines 2",
        "box taken from each polygon's extent, as Ultralytics' segments2boxes")]


def test_a_bom_in_a_label_file_is_not_a_bad_line(tmp_path: Path) -> None:
    write(tmp_path / "classes.txt", "cat\n")
    write(tmp_path / "ä b.jpg", jpeg())
    write(tmp_path / "ä b.txt", "\ufeff0 0.5 0.5 0.5 0.5\r\n")
    read = read_yolo(tmp_path, tmp_path, ["cat"])
    assert read.findings == [] and [len(e.boxes) for e in read.examples] == [1]


def test_the_standard_tree_without_names_is_refused_until_dataset_names_is_set(tmp_path: Path) -> None:
    write(tmp_path / "images/train/a.jpg", jpeg())
    write(tmp_path / "labels/train/a.txt", line(0, 8, 8, 40, 30))
    layout = detect_layout(tmp_path)
    assert (layout.kind, [p.split for p in layout.parts]) == ("Ultralytics YOLO tree (images/<split>, labels/<split>)", ["train"])
    with pytest.raises(DatasetError, match=r"no class-names file .* set dataset\.names"):
        read_layout(layout, ["cat"])
