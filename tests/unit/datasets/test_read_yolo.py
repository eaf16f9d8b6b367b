from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets import Box, Finding, read_yolo
from odspec.datasets.yolo import parse_names_yaml, parse_yolo_labels
from odspec.errors import DatasetError


def test_normalised_boxes_are_denormalised_with_the_image_size() -> None:
    boxes, findings = parse_yolo_labels("1 0.5 0.25 0.2 0.1\n\n0 0.1 0.1 0.2 0.2\n", ["cat", "dog"], (200, 100), "a.txt")
    assert findings == []
    assert boxes[0].label == "dog"
    assert (boxes[0].xmin, boxes[0].ymin, boxes[0].xmax, boxes[0].ymax) == pytest.approx((80, 20, 120, 30))
    assert (boxes[1].xmin, boxes[1].ymin, boxes[1].xmax, boxes[1].ymax) == pytest.approx((0, 0, 40, 20))


def test_malformed_lines_are_skipped_with_their_number() -> None:
    text = "0 0.5 0.5 0.1\n2 0.5 0.5 0.1 0.1\nx 0.5 0.5 0.1 0.1\n0.5 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 0.3\n-1 0.5 0.5 0.1 0.1\n"
    boxes, findings = parse_yolo_labels(text, ["cat", "dog"], (10, 10), "a.txt")
    assert boxes == []
    shape = "expected 'class x_center y_center width height'"
    assert findings == [
        Finding("a.txt", f"{shape}, got '0 0.5 0.5 0.1'", "line skipped", 1),
        Finding("a.txt", "class index 2 is not in the class list (0..1)", "line skipped", 2),
        Finding("a.txt", f"{shape}, got 'x 0.5 0.5 0.1 0.1'", "line skipped", 3),
        Finding("a.txt", "class index 0.5 is not in the class list (0..1)", "line skipped", 4),
        Finding("a.txt", f"{shape}, got '0 0.5 0.5 0.1 0.1 0.3'", "line skipped", 5),
        Finding("a.txt", "class index -1 is not in the class list (0..1)", "line skipped", 6),
    ]


def test_images_and_labels_layout_with_classes_txt(make_tree, encode_image) -> None:
    root = make_tree({
        "ds/images/train/a.jpg": encode_image(200, 100, "JPEG"),
        "ds/images/val/b.png": encode_image(50, 40),
        "ds/labels/train/a.txt": "1 0.5 0.5 0.5 0.5\n",
        "ds/labels/val/b.txt": "",
        "ds/labels/classes.txt": "cat\ndog\n\n",
    })
    result = read_yolo(root / "ds/images", root / "ds/labels", None)
    assert result.findings == []
    assert result.classes_seen == ("cat", "dog")
    a, b = result.examples
    assert (a.image, a.width, a.height, a.split) == (Path("train/a.jpg"), 200, 100, "train")
    assert a.boxes == (Box("dog", 50, 25, 150, 75),)
    assert (b.image, b.width, b.height, b.boxes, b.split) == (Path("val/b.png"), 50, 40, (), "val")


def test_labels_beside_images_with_classes_txt_as_labelimg_saves_them(make_tree, encode_image) -> None:
    root = make_tree({"imgs/a.png": encode_image(10, 20), "imgs/a.txt": "0 0.5 0.5 1 1\n", "imgs/classes.txt": "cat\n"})
    result = read_yolo(root / "imgs", root / "imgs", ["cat"])
    assert [(e.image, e.boxes) for e in result.examples] == [(Path("a.png"), (Box("cat", 0, 0, 10, 20),))]


def test_roboflow_layout_with_data_yaml(make_tree, encode_image) -> None:
    root = make_tree({
        "ds/data.yaml": "nc: 2\nnames: {0: cat, 1: dog}\n",
        "ds/valid/images/a.jpg": encode_image(10, 10, "JPEG"),
        "ds/valid/labels/a.txt": "1 0.5 0.5 0.2 0.2\n",
    })
    result = read_yolo(root / "ds", [root / "ds/valid/labels"], None)
    assert [(e.image, e.split, e.boxes[0].label) for e in result.examples] == [(Path("valid/images/a.jpg"), "val", "dog")]


def test_label_without_image_and_unreadable_image(make_tree) -> None:
    root = make_tree({
        "images/bad.jpg": b"not an image",
        "labels/bad.txt": "0 0.5 0.5 0.1 0.1\n",
        "labels/lost.txt": "0 0.5 0.5 0.1 0.1\n",
        "labels/classes.txt": "cat\n",
    })
    result = read_yolo(root / "images", root / "labels", ["cat"])
    assert result.examples == []
    bad, lost = (str(root / "labels" / n) for n in ("bad.txt", "lost.txt"))
    image = root / "images/bad.jpg"
    assert result.findings == [
        Finding(bad, f"cannot read the size of image bad.jpg: cannot identify image file '{image}'", "example skipped"),
        Finding(lost, "no image for this label in the images folder (looked for lost.*)", "example skipped"),
    ]


def test_several_matching_images_use_the_first(make_tree, encode_image) -> None:
    root = make_tree({"i/a.jpg": encode_image(8, 8, "JPEG"), "i/a.png": encode_image(8, 8), "l/a.txt": "", "l/classes.txt": "cat"})
    result = read_yolo(root / "i", root / "l", ["cat"])
    assert result.examples[0].image == Path("a.jpg")
    assert result.findings == [Finding(str(root / "l/a.txt"), "several images match this label: a.jpg, a.png", "using a.jpg")]


def test_no_class_names_anywhere_is_an_error(make_tree) -> None:
    root = make_tree({"images/x.txt": ""})
    with pytest.raises(DatasetError) as err:
        read_yolo(root / "images", root / "images", None)
    places = f"{root / 'images'}"
    expected = (
        "YOLO labels hold class ids only, and no class-names file (classes.txt, obj.names, data.yaml) "
        f"was found in {places} or their parents, so which id is which class is unknown "
        "(add classes.txt (one name per line, line 1 being id 0) beside the labels, "
        "or set dataset.names to the export's names file)"
    )
    assert str(err.value) == expected
    with pytest.raises(DatasetError) as err:  # the spec's classes no longer stand in for the ids' names
        read_yolo(root / "images", root / "images", ["cat"])
    assert str(err.value) == expected


def test_missing_images_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"images folder .* does not exist"):
        read_yolo(tmp_path / "nope", tmp_path, ["cat"])


def test_names_yaml_forms() -> None:
    path = Path("data.yaml")
    assert parse_names_yaml("names: [a, b]", path) == ["a", "b"]
    assert parse_names_yaml("names: {1: b, 0: a}", path) == ["a", "b"]
    with pytest.raises(DatasetError) as err:
        parse_names_yaml("names: {0: a, 2: c}", path)
    assert err.value.message == "data.yaml: names: keys [0, 2] are not 0..1"


def test_exif_rotated_image_is_denormalised_by_its_displayed_size(tmp_path: Path) -> None:
    from PIL import Image

    from odspec.datasets.yolo import read_image_size

    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x20, displayed 20x40
    Image.new("RGB", (40, 20)).save(tmp_path / "turned.jpg", exif=exif)
    Image.new("RGB", (40, 20)).save(tmp_path / "plain.jpg")
    assert read_image_size(tmp_path, Path("turned.jpg")) == (20, 40)
    assert read_image_size(tmp_path, Path("plain.jpg")) == (40, 20)
