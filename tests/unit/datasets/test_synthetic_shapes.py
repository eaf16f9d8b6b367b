from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from odspec.datasets import read_coco, read_csv, read_voc, read_yolo
from odspec.datasets.synthetic import (
    PlacedShape,
    make_shapes,
    place_shapes,
    render_shapes,
    shape_mask,
)

ALL_FORMATS = ("voc", "coco", "yolo", "csv")
SMALL = (128, 128)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = make_shapes(tmp_path / "a", 4, SMALL, formats=ALL_FORMATS, seed=3)
    second = make_shapes(tmp_path / "b", 4, SMALL, formats=ALL_FORMATS, seed=3)
    assert first == second
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert sorted(tree(tmp_path / "a")) == sorted(p.as_posix() for p in first.files)


def test_other_seed_gives_other_images_and_image_i_ignores_n(tmp_path: Path) -> None:
    make_shapes(tmp_path / "a", 2, SMALL, seed=0)
    make_shapes(tmp_path / "b", 2, SMALL, seed=1)
    make_shapes(tmp_path / "c", 3, SMALL, seed=0)
    image = "images/shape_0001.jpg"
    assert (tmp_path / "a" / image).read_bytes() != (tmp_path / "b" / image).read_bytes()
    assert (tmp_path / "a" / image).read_bytes() == (tmp_path / "c" / image).read_bytes()


def test_every_reader_reads_back_the_ground_truth(tmp_path: Path) -> None:
    truth = make_shapes(tmp_path, 5, SMALL, classes=("circle", "square", "triangle"), formats=ALL_FORMATS).examples
    images = tmp_path / "images"
    results = {
        "voc": read_voc(images, tmp_path / "annotations", None),
        "coco": read_coco(images, tmp_path / "annotations/instances.json", None),
        "csv": read_csv(images, tmp_path / "annotations", None),
        "yolo": read_yolo(images, tmp_path / "labels", None),
    }
    for name, result in results.items():
        assert result.findings == [], name
        got = [(e.image, e.width, e.height, [b.label for b in e.boxes]) for e in result.examples]
        assert got == [(e.image, e.width, e.height, [b.label for b in e.boxes]) for e in truth], name
        corners = [(b.xmin, b.ymin, b.xmax, b.ymax) for e in result.examples for b in e.boxes]
        expected = [(b.xmin, b.ymin, b.xmax, b.ymax) for e in truth for b in e.boxes]
        assert np.allclose(corners, expected, atol=1e-3), name
    assert results["yolo"].classes_seen == results["coco"].classes_seen == ("circle", "square", "triangle")


def test_shapes_are_separated_sized_and_visible() -> None:
    background = (100, 100, 100)
    for seed in range(20):
        shapes = place_shapes(np.random.default_rng(seed), (256, 256), ("circle", "square"), 4, background)
        assert 1 <= len(shapes) <= 4
        for i, shape in enumerate(shapes):
            assert 30 <= shape.side <= 90
            assert np.linalg.norm(np.subtract(shape.colour, background)) >= 120
            for other in shapes[i + 1 :]:
                apart_x = shape.x + shape.side <= other.x or other.x + other.side <= shape.x
                apart_y = shape.y + shape.side <= other.y or other.y + other.side <= shape.y
                assert apart_x or apart_y


def test_the_side_range_can_be_chosen() -> None:
    rng = np.random.default_rng(3)
    sides = []
    for _ in range(20):
        _image, boxes = render_shapes(rng, (320, 320), ("circle", "square"), 3, sides=(48, 128))
        sides += [max(b.xmax - b.xmin, b.ymax - b.ymin) for b in boxes]
    assert min(sides) >= 48 and max(sides) <= 128 and max(sides) > 90  # beyond the default range's largest


def test_boxes_are_the_tight_extent_of_the_drawn_pixels() -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        _image, boxes = render_shapes(rng, (256, 256), ("circle", "square", "triangle"), 3)
        for box in boxes:
            assert 30 <= box.xmax - box.xmin <= 90 and 30 <= box.ymax - box.ymin <= 90
            assert box.xmin >= 0 and box.xmax <= 256 and box.ymin >= 0 and box.ymax <= 256
    for kind in ("circle", "square", "triangle"):
        mask = np.asarray(shape_mask(PlacedShape(kind, 10, 20, 40, (0, 0, 0)), (100, 100)))
        rows, cols = np.nonzero(mask)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (10, 20, 50, 60), kind


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="classes must be among circle, square, triangle; got \\['star'\\]"):
        make_shapes(tmp_path, 1, classes=("star",))
    with pytest.raises(ValueError, match="formats must be among"):
        make_shapes(tmp_path, 1, formats=("tfrecord",))
    with pytest.raises(ValueError, match="size must be at least 38 pixels a side"):
        make_shapes(tmp_path, 1, size=(20, 200))
    with pytest.raises(ValueError, match="size must be at least 56 pixels a side"):
        make_shapes(tmp_path, 1, size=(50, 200), sides=(48, 128))
    with pytest.raises(ValueError, match=r"sides must be \(smallest, largest\)"):
        make_shapes(tmp_path, 1, sides=(90, 30))
