from __future__ import annotations

from pathlib import Path

from odspec.datasets import Box, Example, Finding, read_voc
from odspec.datasets.voc import parse_voc_xml

ROOT = Path("/data/images")


def voc(filename: str = "a.jpg", objects: str = "", size: str = "") -> str:
    """A LabelImg-style annotation with the given pieces."""
    return (
        "<annotation>\n"
        "\t<folder>images</folder>\n"
        f"\t<filename>{filename}</filename>\n"
        f"\t<path>C:\\Users\\me\\images\\{filename}</path>\n"
        f"{size}{objects}"
        "</annotation>\n"
    )


def obj(name: str = "cat", box: tuple[str, ...] = ("1", "2", "30", "40"), extra: str = "") -> str:
    coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=False))  # short: a missing coordinate
    return f"\t<object><name>{name}</name>{extra}<bndbox>{coords}</bndbox></object>\n"


SIZE = "\t<size><width>640</width><height>480</height><depth>3</depth></size>\n"


def test_labelimg_annotation_is_read_with_flags_and_size() -> None:
    flags = "<pose>Left</pose><truncated>1</truncated><difficult>1</difficult>"
    text = voc("a.jpg", obj("cat", extra=flags) + obj("dog", ("5.5", "6", "7", "8")), SIZE)
    example, findings = parse_voc_xml(ROOT, text.encode(), "ann/a.xml", "train")
    assert findings == []
    assert example == Example(
        Path("a.jpg"),
        640,
        480,
        (
            Box("cat", 1, 2, 30, 40, difficult=True, truncated=True, pose="Left"),
            Box("dog", 5.5, 6, 7, 8),
        ),
        "ann/a.xml",
        "train",
    )


def test_missing_size_is_none_and_zero_size_means_unknown() -> None:
    example, _ = parse_voc_xml(ROOT, voc(objects=obj()).encode(), "a.xml")
    zero = "<size><width>0</width><height>0</height></size>"
    zeroed, findings = parse_voc_xml(ROOT, voc(size=zero).encode(), "a.xml")
    assert example is not None and (example.width, example.height) == (None, None)
    assert zeroed is not None and (zeroed.width, zeroed.height) == (None, None)
    assert findings == []


def test_malformed_xml_reports_the_line() -> None:
    text = "<annotation>\n<filename>a.jpg</filename>\n<object><name>cat</object>\n</annotation>"
    example, findings = parse_voc_xml(ROOT, text.encode(), "ann/a.xml")
    assert example is None
    assert [str(f) for f in findings] == ["ann/a.xml:3: malformed XML: mismatched tag (file skipped)"]


def test_wrong_root_and_missing_filename_skip_the_file() -> None:
    _, wrong = parse_voc_xml(ROOT, b"<svg/>", "x.xml")
    _, nameless = parse_voc_xml(ROOT, b"<annotation><filename> </filename></annotation>", "y.xml")
    assert wrong == [Finding("x.xml", "root element is <svg>, expected <annotation>", "file skipped")]
    assert nameless == [Finding("y.xml", "missing <filename>", "file skipped")]


def test_bad_objects_are_skipped_one_by_one() -> None:
    objects = (
        "\t<object><pose>Left</pose></object>\n"
        "\t<object><name>cat</name></object>\n"
        + obj("dog", ("1", "2", "3"))
        + obj("cow", ("1", "abc", "3", "4"))
        + obj("eel", ("1", "2", "3", "nan"))
        + obj("fox")
    )
    example, findings = parse_voc_xml(ROOT, voc(objects=objects).encode(), "a.xml")
    assert example is not None and [b.label for b in example.boxes] == ["fox"]
    assert [f.what for f in findings] == [
        "object 1: missing <name>",
        "object 2 ('cat'): missing <bndbox>",
        "object 3 ('dog'): missing <bndbox><ymax>",
        "object 4 ('cow'): <ymin> is 'abc', expected a number",
        "object 5 ('eel'): <ymax> is 'nan', expected a number",
    ]
    assert {f.action for f in findings} == {"object skipped"}


def test_bad_size_is_ignored_with_a_finding() -> None:
    size = "<size><width>640px</width><height>480</height></size>"
    example, findings = parse_voc_xml(ROOT, voc(size=size).encode(), "a.xml")
    assert example is not None and example.width is None and example.height is None
    assert findings == [Finding("a.xml", "<size><width> is '640px', expected a whole number", "size ignored")]


def test_filenames_leaving_the_images_folder_are_not_followed() -> None:
    for name in ("../secret.jpg", "sub/../../x.jpg", "/etc/passwd"):
        example, findings = parse_voc_xml(ROOT, voc(name).encode(), "a.xml")
        assert example is None
        assert findings == [
            Finding("a.xml", f"image path '{name}' leaves the images folder", "example skipped")
        ]


def test_absolute_filename_inside_the_root_becomes_relative() -> None:
    example, findings = parse_voc_xml(ROOT, voc("/data/images/sub/a.jpg").encode(), "a.xml")
    assert findings == [] and example is not None
    assert example.image == Path("sub/a.jpg")


def test_folder_reading_with_voc_split_files(make_tree) -> None:
    root = make_tree({
        "VOC/Annotations/000001.xml": voc("000001.jpg", obj("cat")),
        "VOC/Annotations/000002.xml": voc("000002.jpg", obj("dog")),
        "VOC/Annotations/000003.xml": voc("000003.jpg"),
        "VOC/Annotations/notes.txt": "not an annotation",
        "VOC/ImageSets/Main/train.txt": "000001\n\n",
        "VOC/ImageSets/Main/val.txt": "000002\n000001\n000009\n",
        "VOC/ImageSets/Main/trainval.txt": "000001\n000002\n",
        "VOC/ImageSets/Main/cat_train.txt": "000001  1\n",
    })
    result = read_voc(root / "VOC/JPEGImages", root / "VOC/Annotations", ["cat"])
    assert [(str(e.image), e.split) for e in result.examples] == [
        ("000001.jpg", "train"),
        ("000002.jpg", "val"),
        ("000003.jpg", None),
    ]
    val = str(root / "VOC/ImageSets/Main/val.txt")
    train = str(root / "VOC/ImageSets/Main/train.txt")
    assert result.findings == [
        Finding(val, f"'000001' is also listed in {train}:1", "kept in train", 2),
        Finding(val, "'000009' has no annotation file", "ignored", 3),
    ]
    assert result.classes_seen == ("cat", "dog")


def test_trainval_counts_as_train_when_alone(make_tree) -> None:
    root = make_tree({
        "Annotations/1.xml": voc("1.jpg"),
        "Annotations/2.xml": voc("2.jpg"),
        "ImageSets/Main/trainval.txt": "1\n",
        "ImageSets/Main/test.txt": "2\n",
    })
    result = read_voc(root / "JPEGImages", root / "Annotations", None)
    assert [e.split for e in result.examples] == ["train", "test"]


def test_malformed_file_in_a_folder_does_not_stop_the_others(make_tree) -> None:
    root = make_tree({"ann/a.xml": voc("a.jpg", obj()), "ann/b.xml": "<annotation>\n<filename>"})
    result = read_voc(root / "images", [root / "ann"], None)
    assert [str(e.image) for e in result.examples] == ["a.jpg"]
    assert [str(f) for f in result.findings] == [
        f"{root / 'ann/b.xml'}:2: malformed XML: no element found (file skipped)"
    ]
