"""What real exports contain beyond the happy path (issue 10 item 7) and the class findings (item 2).

The cases follow what the tools write: CVAT's float corners (opencv/cvat issue #942),
LabelImg's absolute Windows <path> (tzutalin/labelImg pascal_voc_io.py), Windows
line endings and UTF-8 BOMs from Windows editors/Excel, upper-case camera extensions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets.layouts import box_labels, class_findings, detect_layout, read_layout
from odspec.errors import DatasetError
from tests.unit.datasets.layouts.exports import LAYOUTS, coco_doc, jpeg, voc_xml, write


def read(root: Path, classes=None, fmt=None):
    return read_layout(detect_layout(root, fmt), classes)


def test_float_coordinates_and_boxes_past_the_border_are_kept_as_written(tmp_path: Path) -> None:
    write(tmp_path / "a.jpg", jpeg())
    write(tmp_path / "a.xml", voc_xml("a.jpg", [("cat", 1.25, 2.5, 70.75, 50.0)]))
    box = read(tmp_path).examples[0].boxes[0]
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == (1.25, 2.5, 70.75, 50.0)  # the checks judge the border


def test_an_empty_xml_file_is_a_finding_and_an_empty_json_a_refusal(tmp_path: Path) -> None:
    write(tmp_path / "voc" / "a.jpg", jpeg())
    write(tmp_path / "voc" / "a.xml", voc_xml("a.jpg", [("cat", 1, 2, 3, 4)]))
    write(tmp_path / "voc" / "b.xml", "")
    result = read(tmp_path / "voc")
    assert [(Path(f.file).name, f.what) for f in result.findings] == [("b.xml", "empty file")]
    write(tmp_path / "coco" / "result.json", "")
    with pytest.raises(DatasetError) as failed:
        read(tmp_path / "coco")
    assert "is empty" in failed.value.message


def test_unlabelled_images_are_one_finding_per_folder(tmp_path: Path) -> None:
    LAYOUTS["roboflow_voc"][0](tmp_path)
    for name in ("x1.jpg", "x2.JPG", "x3.png", "x4.jpg"):
        write(tmp_path / "train" / name, jpeg())
    result = read(tmp_path)
    left = [f for f in result.findings if "no annotation" in f.what]
    assert [(f.file, f.what, f.action) for f in left] == [
        ("train", "4 images have no annotation (x1.jpg, x2.JPG, x3.png, ...)", "warning: left out")]


def test_upper_case_extensions_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    for name in ("IMG_0001.JPG", "my photo.jpeg", "café ü.png"):
        write(tmp_path / "train" / name, jpeg())
        write(tmp_path / "train" / (Path(name).stem + ".xml"), voc_xml(name, [("cat", 1, 1, 5, 5)]))
    result = read(tmp_path)
    assert sorted(e.image.as_posix() for e in result.examples) == [
        "train/IMG_0001.JPG", "train/café ü.png", "train/my photo.jpeg"]
    assert not [f for f in result.findings if "no annotation" in f.what]


def test_a_windows_path_stands_in_for_a_missing_filename_and_says_so(tmp_path: Path) -> None:
    write(tmp_path / "dog 1.jpg", jpeg())
    xml = voc_xml("", [("dog", 2, 2, 9, 9)], path="C:\\Users\\ann\\Pictures\\dog 1.jpg").replace("<filename></filename>", "")
    write(tmp_path / "dog 1.xml", xml)
    result = read(tmp_path)
    assert [e.image.as_posix() for e in result.examples] == ["dog 1.jpg"]
    assert [f.action for f in result.findings] == ["note: read"]


def test_crlf_and_bom_in_voc_coco_csv_and_labelmap(tmp_path: Path) -> None:
    voc = tmp_path / "voc"
    write(voc / "a.jpg", jpeg())
    write(voc / "a.xml", b"\xef\xbb\xbf" + voc_xml("a.jpg", [("cat", 1, 1, 5, 5)]).replace("><", ">\r\n<").encode())
    assert [b.label for b in read(voc).examples[0].boxes] == ["cat"]
    coco = tmp_path / "coco"
    write(coco / "images" / "b.jpg", jpeg())
    write(coco / "result.json", b"\xef\xbb\xbf" + coco_doc([("images/b.jpg", [("cat", 1, 1, 5, 5)])],
                                                           [{"id": 0, "name": "cat"}]).replace(",", ",\r\n").encode())
    assert [e.image.as_posix() for e in read(coco).examples] == ["images/b.jpg"]
    csv = tmp_path / "csv"
    write(csv / "train" / "c.jpg", jpeg())
    write(csv / "train" / "_annotations.csv", b"\xef\xbb\xbffilename,width,height,class,xmin,ymin,xmax,ymax\r\n"
                                              b"c.jpg,64,48,cat,1,1,5,5\r\n")
    assert [(e.image.as_posix(), e.split) for e in read(csv).examples] == [("train/c.jpg", "train")]


def test_class_findings_one_for_extra_classes_one_for_classes_never_seen() -> None:
    found = class_findings(("person", "car", "bicycle", "bus"), {"car", "bus"}, {"car"}, ["car", "truck", "van"],
                           "export")
    assert [f.what for f in found] == [
        "classes 'person', 'bicycle' declared by the dataset but not in dataset.classes",  # 'bus' has box findings
        "'truck', 'van' never occur in the dataset",
    ]
    assert class_findings(("car",), {"car"}, {"car"}, ["car"], "export") == []


def test_cvat_labelmap_classes_missing_from_the_spec_are_a_finding(tmp_path: Path) -> None:
    LAYOUTS["cvat_voc"][0](tmp_path)
    result = read(tmp_path, ["person", "car"])
    labels = box_labels(result.examples)
    found = class_findings(result.classes_seen, labels, labels, ["person", "car"], str(tmp_path))
    assert [f.what for f in found] == ["class 'bicycle' declared by the dataset but not in dataset.classes"]


@pytest.mark.parametrize("compact", [False, True])
def test_box_labels_of_lists_and_compact_examples(tmp_path: Path, compact: bool) -> None:
    LAYOUTS["roboflow_coco"][0](tmp_path)
    assert box_labels(read_layout(detect_layout(tmp_path), None, compact=compact).examples) == {"cat", "dog"}
