"""tf.train.Example records built from our own descriptors: content, determinism, TF byte-equality."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from google.protobuf import descriptor_pool

from odspec.records import example as ex
from odspec.records.example import detection_example, parse_example


def content(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for one image with two boxes; ``overrides`` replace any of them."""
    values: dict[str, Any] = {
        "encoded": b"\xff\xd8not really a jpeg\xff\xd9",
        "image_format": "jpeg",
        "width": 640,
        "height": 480,
        "filename": "images/cat.jpg",
        "source_id": "images/cat.jpg",
        "sha256": "ab" * 32,
        "boxes": [(0.1, 0.2, 0.5, 0.6), (0.0, 0.25, 1.0, 0.75)],
        "class_texts": ["cat", "dog"],
        "class_ids": [1, 2],
        "difficult": [False, True],
        "truncated": [True, False],
        "views": ["Frontal", ""],
    }
    return {**values, **overrides}


def test_round_trip_gives_the_od_api_keys_and_values() -> None:
    parsed = parse_example(detection_example(**content()))
    assert parsed["image/encoded"] == [b"\xff\xd8not really a jpeg\xff\xd9"]
    assert parsed["image/format"] == [b"jpeg"]
    assert parsed["image/width"] == [640]
    assert parsed["image/height"] == [480]
    assert parsed["image/filename"] == [b"images/cat.jpg"]
    assert parsed["image/source_id"] == [b"images/cat.jpg"]
    assert parsed["image/key/sha256"] == [b"ab" * 32]
    assert parsed["image/object/bbox/xmin"] == pytest.approx([0.1, 0.0], abs=1e-7)
    assert parsed["image/object/bbox/ymin"] == pytest.approx([0.2, 0.25], abs=1e-7)
    assert parsed["image/object/bbox/xmax"] == pytest.approx([0.5, 1.0], abs=1e-7)
    assert parsed["image/object/bbox/ymax"] == pytest.approx([0.6, 0.75], abs=1e-7)
    assert parsed["image/object/class/text"] == [b"cat", b"dog"]
    assert parsed["image/object/class/label"] == [1, 2]
    assert parsed["image/object/difficult"] == [0, 1]
    assert parsed["image/object/truncated"] == [1, 0]
    assert parsed["image/object/view"] == [b"Frontal", b""]
    assert sorted(parsed) == sorted([
        "image/encoded", "image/format", "image/width", "image/height", "image/filename", "image/source_id",
        "image/key/sha256", "image/object/bbox/xmin", "image/object/bbox/ymin", "image/object/bbox/xmax",
        "image/object/bbox/ymax", "image/object/class/text", "image/object/class/label",
        "image/object/difficult", "image/object/truncated", "image/object/view",
    ])


def test_image_without_boxes_keeps_every_key_with_empty_lists() -> None:
    parsed = parse_example(detection_example(**content(
        image_format="png", boxes=[], class_texts=[], class_ids=[], difficult=[], truncated=[], views=[])))
    assert parsed["image/format"] == [b"png"]
    assert len(parsed) == 16
    assert parsed["image/object/bbox/xmin"] == []
    assert parsed["image/object/class/label"] == []


def test_text_is_utf8() -> None:
    parsed = parse_example(detection_example(**content(filename="bilder/Müller 猫.jpg", class_texts=["Käfer", "狗"])))
    assert parsed["image/filename"] == ["bilder/Müller 猫.jpg".encode()]
    assert parsed["image/object/class/text"] == ["Käfer".encode(), "狗".encode()]


def test_bytes_are_deterministic_with_features_in_key_order() -> None:
    data = detection_example(**content())
    assert detection_example(**content()) == data
    keys = sorted(parse_example(data))
    positions = [data.index(key.encode()) for key in keys]
    assert positions == sorted(positions)


def test_bytes_are_the_same_in_another_process() -> None:
    code = textwrap.dedent("""
        import hashlib, sys
        from odspec.records.example import detection_example
        data = detection_example(encoded=b"x" * 100, image_format="png", width=3, height=2, filename="a.png",
            source_id="a.png", sha256="00", boxes=[(0.1, 0.2, 0.3, 0.4)], class_texts=["a"], class_ids=[1],
            difficult=[False], truncated=[False], views=[""])
        print(hashlib.sha256(data).hexdigest(), "tensorflow" in sys.modules)
    """)
    here = detection_example(encoded=b"x" * 100, image_format="png", width=3, height=2, filename="a.png",
                             source_id="a.png", sha256="00", boxes=[(0.1, 0.2, 0.3, 0.4)], class_texts=["a"],
                             class_ids=[1], difficult=[False], truncated=[False], views=[""])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [hashlib.sha256(here).hexdigest(), "False"]


def test_messages_live_in_a_private_pool() -> None:
    assert ex.Example.DESCRIPTOR.full_name == "tensorflow.Example"
    assert ex.Example.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName(ex.Example.DESCRIPTOR.file.name)


def test_descriptor_matches_tensorflow_field_numbers_and_packing() -> None:
    feature = ex.Feature.DESCRIPTOR
    assert [(f.name, f.number) for f in feature.fields] == [("bytes_list", 1), ("float_list", 2), ("int64_list", 3)]
    assert feature.oneofs_by_name["kind"].fields == list(feature.fields)
    assert ex.FloatList.DESCRIPTOR.fields[0].GetOptions().packed is True
    assert ex.Int64List.DESCRIPTOR.fields[0].GetOptions().packed is True
    assert ex.Features.DESCRIPTOR.fields_by_name["feature"].message_type.GetOptions().map_entry is True
    assert ex.Example.DESCRIPTOR.fields_by_name["features"].number == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_format": "gif"}, "image_format must be one of jpeg, png, got 'gif'"),
        ({"width": 0}, "image size must be positive, got 0x480"),
        ({"class_ids": [1]}, "every per-box list must have 2 items (one per box), got class_ids=1"),
        ({"views": [], "difficult": [True]}, "got difficult=1, views=0"),
        ({"class_ids": [0, 1]}, "class ids are label-map ids and start at 1 (0 is background), got 0"),
        ({"boxes": [(0.1, 0.2, 0.5, 0.6), (0.5, 0.2, 0.4, 0.6)]}, "box 1 must be normalised"),
        ({"boxes": [(0.1, 0.2, 0.5, 1.5), (0.0, 0.0, 1.0, 1.0)]}, "box 0 must be normalised"),
        ({"boxes": [(float("nan"), 0.2, 0.5, 0.6), (0.0, 0.0, 1.0, 1.0)]}, "box 0 must be normalised"),
    ],
)
def test_invalid_content_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        detection_example(**content(**overrides))


@pytest.mark.odapi
def test_bytes_equal_tensorflows_own_example() -> None:
    import tensorflow as tf

    values = content()
    boxes = values["boxes"]

    def floats(column: int) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=[box[column] for box in boxes]))

    def texts(items: list[str]) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[item.encode() for item in items]))

    def ints(items: list[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=items))

    theirs = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[values["encoded"]])),
        "image/format": texts(["jpeg"]),
        "image/height": ints([480]),
        "image/width": ints([640]),
        "image/filename": texts([values["filename"]]),
        "image/source_id": texts([values["source_id"]]),
        "image/key/sha256": texts([values["sha256"]]),
        "image/object/bbox/xmin": floats(0),
        "image/object/bbox/ymin": floats(1),
        "image/object/bbox/xmax": floats(2),
        "image/object/bbox/ymax": floats(3),
        "image/object/class/text": texts(values["class_texts"]),
        "image/object/class/label": ints(values["class_ids"]),
        "image/object/difficult": ints([0, 1]),
        "image/object/truncated": ints([1, 0]),
        "image/object/view": texts(values["views"]),
    }))
    ours = detection_example(**values)
    assert ours == theirs.SerializeToString(deterministic=True)
    assert tf.train.Example.FromString(ours) == theirs
    # Both descriptor sets loaded in one process: ours still builds and parses.
    assert parse_example(detection_example(**values)) == parse_example(ours)


@pytest.mark.odapi
def test_empty_box_lists_equal_tensorflows_own_example() -> None:
    import tensorflow as tf

    values = content(boxes=[], class_texts=[], class_ids=[], difficult=[], truncated=[], views=[])
    ours = tf.train.Example.FromString(detection_example(**values))
    assert ours.features.feature["image/object/bbox/xmin"].WhichOneof("kind") == "float_list"
    assert ours.features.feature["image/object/class/label"].WhichOneof("kind") == "int64_list"
    parsed = tf.io.parse_single_example(detection_example(**values), {
        "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
    })
    assert parsed["image/object/bbox/xmin"].values.shape == (0,)
    assert int(parsed["image/width"]) == 640


def random_content(rng: random.Random) -> dict[str, Any]:
    count = rng.choice([0, 1, 2, 5, 40])
    text = lambda: "".join(rng.choice("abcü✓/ _") for _ in range(rng.choice([0, 1, 7, 130])))  # noqa: E731
    boxes = []
    for _ in range(count):
        x0, x1 = sorted(rng.random() for _ in range(2))
        y0, y1 = sorted(rng.random() for _ in range(2))
        boxes.append((x0, y0, x1, y1))
    return content(
        encoded=bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 127, 128, 300]))) * rng.choice([1, 60]),
        image_format=rng.choice(ex.IMAGE_FORMATS), width=rng.choice([1, 127, 128, 16384, 2**31 - 1]),
        height=rng.choice([1, 300, 2**40]), filename=text(), source_id=text(), sha256=text(), boxes=boxes,
        class_texts=[text() for _ in boxes], class_ids=[rng.choice([1, 127, 128, 2**62]) for _ in boxes],
        difficult=[rng.random() < 0.5 for _ in boxes], truncated=[rng.random() < 0.5 for _ in boxes],
        views=[text() for _ in boxes])


def test_hand_written_parts_are_protobufs_own_bytes() -> None:
    rng = random.Random(7)
    for _ in range(300):
        values = random_content(rng)
        head, image, rest = ex.detection_example_parts(**values)
        assert image is values["encoded"]  # passed through, not copied
        assert head + image + rest == detection_example(**values)


def test_hand_written_parts_check_their_input_like_the_message() -> None:
    with pytest.raises(ValueError, match="class ids are label-map ids"):
        ex.detection_example_parts(**content(class_ids=[0, 1]))
