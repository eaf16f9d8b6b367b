from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from odspec.datasets import Box, Example, read_coco
from odspec.datasets.coco import parse_coco
from odspec.errors import DatasetError

ROOT = Path("/data/images")


def coco(images: list[Any], annotations: list[Any], categories: list[Any]) -> dict[str, Any]:
    return {"images": images, "annotations": annotations, "categories": categories}


def image(image_id: Any, name: str, width: Any = 100, height: Any = 80) -> dict[str, Any]:
    return {"id": image_id, "file_name": name, "width": width, "height": height}


def ann(image_id: Any, category_id: Any, bbox: Any, iscrowd: int = 0) -> dict[str, Any]:
    return {"id": 1, "image_id": image_id, "category_id": category_id, "bbox": bbox, "iscrowd": iscrowd}


def test_boxes_are_converted_and_named_by_category() -> None:
    data = coco(
        [image(1, "a.jpg"), image(2, "sub/b.jpg", 0, 0)],
        [ann(1, 7, [10, 20, 30, 40]), ann(1, 3, [0.5, 1, 2, 3], iscrowd=1)],
        [{"id": 3, "name": "dog"}, {"id": 7, "name": "cat"}],
    )
    examples, names, findings = parse_coco(ROOT, data, "i.json", "val")
    assert findings == []
    assert names == ["dog", "cat"]
    assert examples == [
        Example(
            Path("a.jpg"), 100, 80,
            (Box("cat", 10, 20, 40, 60), Box("dog", 0.5, 1, 2.5, 4, iscrowd=True)),
            "i.json", "val",
        ),
        Example(Path("sub/b.jpg"), None, None, (), "i.json", "val"),
    ]


def test_several_files_map_categories_by_name_and_split_by_file_name(make_tree) -> None:
    train = coco([image(1, "t.jpg")], [ann(1, 1, [0, 0, 5, 5])], [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}])
    val = coco([image(1, "v.jpg")], [ann(1, 9, [0, 0, 5, 5])], [{"id": 9, "name": "cat"}])
    root = make_tree({
        "ann/instances_train2017.json": json.dumps(train),
        "ann/instances_val2017.json": json.dumps(val),
        "ann/captions_train2017.json": json.dumps({"annotations": []}),
    })
    result = read_coco(root / "images", root / "ann", ["cat", "dog"])
    assert [(str(e.image), e.split, [b.label for b in e.boxes]) for e in result.examples] == [
        ("t.jpg", "train", ["cat"]),
        ("v.jpg", "val", ["cat"]),
    ]
    assert result.findings == []
    assert result.classes_seen == ("cat", "dog")


def test_files_given_one_by_one(make_tree) -> None:
    data = coco([image(1, "a.jpg")], [], [{"id": 1, "name": "cat"}])
    root = make_tree({"a.json": json.dumps(data), "b.json": json.dumps(data)})
    result = read_coco(root, [root / "a.json", root / "b.json"], None)
    assert [e.source for e in result.examples] == [str(root / "a.json"), str(root / "b.json")]


def test_malformed_json_is_an_error_with_its_place(make_tree) -> None:
    root = make_tree({"ann/instances_test.json": '{\n "images": [\n  {"id": 1,}\n ]\n}'})
    with pytest.raises(DatasetError) as raised:
        read_coco(root / "images", root / "ann", None)
    # Python's own parser names the fault; 3.13 words it differently and places it one column earlier.
    fault = ("3:11: malformed JSON: Illegal trailing comma before end of object (at byte 25)" if sys.version_info >= (3, 13)
             else "3:12: malformed JSON: Expecting property name enclosed in double quotes (at byte 26)")
    assert str(raised.value) == (
        f"{root / 'ann/instances_test.json'}:{fault} (dataset.format is coco: fix or re-export the file; nothing of it was used)")


def test_wrong_document_shapes_are_errors_that_say_what_the_file_holds() -> None:
    with pytest.raises(DatasetError, match=r"^x.json: expected a JSON object with 'images', 'annotations' and "
                                           r"'categories', got a list "):
        parse_coco(ROOT, [1, 2], "x.json")
    with pytest.raises(DatasetError, match=r"^x.json: 'annotations' is missing, 'categories' is missing, "
                                           r"expected a list "):
        parse_coco(ROOT, {"images": []}, "x.json")


def test_bad_entries_are_reported_and_skipped() -> None:
    data = coco(
        [image(1, "a.jpg"), image(2, ""), {"file_name": "c.jpg"}, image(1, "dup.jpg"),
         image(4, "../x.jpg"), image(5, "e.jpg", "wide")],
        [
            ann(1, 1, [1, 2, 3, 4]),
            ann(99, 1, [1, 2, 3, 4]),
            ann(1, 42, [1, 2, 3, 4]),
            ann(1, 1, [1, 2, 3]),
            ann(1, 1, [1, "a", 3, 4]),
            ann(4, 1, [1, 2, 3, 4]),
            "nonsense",
        ],
        [{"id": 1, "name": "cat"}, {"id": 2}, "dog"],
    )
    examples, names, findings = parse_coco(ROOT, data, "x.json")
    assert [str(e.image) for e in examples] == ["a.jpg", "e.jpg"]
    assert examples[0].boxes == (Box("cat", 1, 2, 4, 6),)
    assert names == ["cat"]
    assert [(f.what, f.action) for f in findings] == [
        ("categories[1]: expected an object with 'id' and 'name'", "category skipped"),
        ("categories[2]: expected an object with 'id' and 'name'", "category skipped"),
        ("images[1]: missing 'file_name'", "image skipped"),
        ("images[2]: missing 'id'", "image skipped"),
        ("images[3]: id 1 is used by an earlier image", "image skipped"),
        ("images[4]: image path '../x.jpg' leaves the images folder", "image skipped"),
        ('images[5]: width is "wide", expected a whole number', "size ignored"),
        ("annotations[1]: image_id 99 is not in 'images'", "annotation skipped"),
        ("annotations[2]: category_id 42 is not in 'categories'", "annotation skipped"),
        ("annotations[3]: bbox is [1, 2, 3], expected [x, y, width, height]", "annotation skipped"),
        ('annotations[4].bbox[1]: "a" is not a coordinate (expected a finite number)', "annotation skipped"),
        ("annotations[6]: expected an object", "annotation skipped"),
    ]


@pytest.mark.parametrize("document", [
    coco([image(1, "a.jpg"), image(2, "b.jpg"), image(2, "dup.jpg"), {"file_name": "c.jpg"}, image(5, "../x.jpg")],
         [ann(1, 1, [10, 10, 20.5, 20]), ann(1, 2, [0, 0, 5, 5]), ann(2, 9, [1, 1, 2, 2]), ann(7, 1, [1, 1, 2, 2]),
          ann(1, 1, [1, 1, -2, 2]), ann(2, 1, "wide"), ann(1, 1, [1, 1, 2, 2], iscrowd=1)],
         [{"id": 1, "name": "cat"}, {"id": 2, "name": " dog "}, {"id": 3}]),
    '{"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}], "categories": [{"id": 1, "name": "cat"}],'
    ' "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 1, Infinity, 2]},'
    ' {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 1e999, 2]}]}',
], ids=["bad-entries", "nan-infinity"])
def test_a_file_parsed_whole_and_a_file_streamed_give_the_same_examples_and_findings(
        make_tree, monkeypatch: pytest.MonkeyPatch, document: Any) -> None:
    """Files up to WHOLE_FILE_BYTES are parsed in one go, larger ones streamed: the two must agree on everything."""
    from odspec.datasets import coco as module

    text = document if isinstance(document, str) else json.dumps(document)
    root = make_tree({"ann/instances_train.json": text})
    whole = read_coco(root / "images", root / "ann", None)
    monkeypatch.setattr(module, "WHOLE_FILE_BYTES", -1)
    streamed = read_coco(root / "images", root / "ann", None)
    assert whole.examples and whole.findings  # the document has both, so the comparison compares something
    assert (whole.examples, whole.findings, whole.classes_seen) == (streamed.examples, streamed.findings,
                                                                    streamed.classes_seen)


@pytest.mark.parametrize(("contents", "fault"), [
    ('{"images": [{"id": 1,}], "annotations": [], "categories": []}', "malformed JSON: "),
    (b'{"images": [], "annotations": [], "categories": [{"name": "\xff"}]}', "not UTF-8 text (byte 59)"),
], ids=["trailing-comma", "latin-1"])
def test_a_malformed_file_is_the_same_error_parsed_whole_or_streamed(
        make_tree, monkeypatch: pytest.MonkeyPatch, contents: str | bytes, fault: str) -> None:
    from odspec.datasets import coco as module

    root = make_tree({"ann/instances_test.json": contents})
    messages = []
    for limit in (module.WHOLE_FILE_BYTES, -1):
        monkeypatch.setattr(module, "WHOLE_FILE_BYTES", limit)
        with pytest.raises(DatasetError) as raised:
            read_coco(root / "images", root / "ann", None)
        messages.append(str(raised.value))
    assert fault in messages[0] and messages[0] == messages[1]
