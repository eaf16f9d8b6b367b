from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from odspec.datasets.checks import (
    BOXES_TURNED,
    CheckedExample,
    annotation_frame,
    check_examples,
    decide_frame,
    transform_box,
)
from odspec.datasets.images import ImageInfo, encode_for_record, inspect_image
from odspec.datasets.model import Box, Example, Finding

RAW = (60, 40)
BLOCK = Box("cat", 5, 8, 20, 30)  # pixel columns 5..19, rows 8..29
RAW_BLOCK_TURNED = Box("cat", 10, 5, 32, 20)  # BLOCK once orientation 6 turns the image a quarter clockwise


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def block_image(size: tuple[int, int] = RAW, box: Box = BLOCK) -> Image.Image:
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[int(box.ymin) : int(box.ymax), int(box.xmin) : int(box.xmax)] = 255
    return Image.fromarray(pixels)


def bright_extent(image: Image.Image) -> tuple[int, int, int, int]:
    mask = Image.fromarray(((np.asarray(image.convert("L")) > 128) * 255).astype(np.uint8))
    extent = mask.getbbox()
    assert extent is not None
    return extent


def as_tuple(box: Box) -> tuple[float, float, float, float]:
    return box.xmin, box.ymin, box.xmax, box.ymax


@pytest.mark.parametrize("orientation", range(1, 9))
def test_transform_box_lands_on_the_pixels_pillow_transposes(orientation: int) -> None:
    out = io.BytesIO()
    block_image().save(out, format="PNG", exif=with_orientation(orientation))
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(out.getvalue())))

    moved = transform_box(BLOCK, orientation, *RAW)

    assert as_tuple(moved) == bright_extent(shown)
    assert moved.label == "cat"


def info(orientation: int, size: tuple[int, int] = RAW) -> ImageInfo:
    return ImageInfo("a.jpg", "sha", 100, "JPEG", "RGB", size[0], size[1], orientation, None)


def check(
    example: Example, image: ImageInfo, fallback: str = "rotated"
) -> tuple[list[CheckedExample], list[Finding]]:
    result = check_examples(
        [example],
        {"a.jpg": image},
        ["cat"],
        policy="skip_image",
        max_boxes=10,
        keep_empty=True,
        orientation_fallback=fallback,  # type: ignore[arg-type]
    )
    return result.examples, result.findings


def example(size: tuple[int, int] | None, box: Box = BLOCK) -> Example:
    width, height = size if size is not None else (None, None)
    return Example(Path("a.jpg"), width, height, (box,), "a.xml")


@pytest.mark.parametrize(
    ("orientation", "annotated", "frame"),
    [
        (1, (60, 40), "either"),
        (1, None, "either"),
        (6, (60, 40), "raw"),
        (6, (40, 60), "rotated"),
        (8, (40, None), "rotated"),
        (6, None, "either"),
        (3, (60, 40), "either"),
        (2, (60, 40), "either"),
        (6, (50, 50), None),
        (3, (40, 60), None),
    ],
)
def test_the_annotation_size_decides_the_frame(
    orientation: int, annotated: tuple[int, int] | None, frame: str | None
) -> None:
    assert annotation_frame(example(annotated), info(orientation)) == frame


def test_a_square_rotated_image_cannot_tell() -> None:
    assert annotation_frame(example((40, 40)), info(6, (40, 40))) == "either"


STORED_ONLY = Box("cat", 30, 5, 55, 20)  # x up to 55 fits the stored width (60), not the displayed one (40)
DISPLAYED_ONLY = Box("cat", 2, 3, 30, 50)  # y up to 50 fits the displayed height (60), not the stored one (40)


def turned(orientation: int) -> Finding:
    what = (f"boxes drawn on the stored pixels; EXIF orientation {orientation} turns the image, "
            "so its boxes were turned the same way")
    return Finding("a.jpg", what, BOXES_TURNED)


@pytest.mark.parametrize(
    ("size_says", "fit_raw", "fit_rotated", "frame"),
    [
        ("raw", True, False, "raw"), ("raw", False, True, "ambiguous"), ("raw", True, True, "ambiguous"),
        ("raw", False, False, "raw"),
        ("rotated", True, False, "ambiguous"), ("rotated", False, True, "rotated"), ("rotated", True, True, "rotated"),
        ("rotated", False, False, "rotated"),
        ("either", True, False, "raw"), ("either", False, True, "rotated"), ("either", True, True, "ambiguous"),
        ("either", False, False, "ambiguous"),
    ],
)
def test_the_decision_table(size_says: str, fit_raw: bool, fit_rotated: bool, frame: str) -> None:
    assert decide_frame(size_says, fit_raw, fit_rotated) == frame  # type: ignore[arg-type]


def test_labelimg_style_stored_size_and_stored_boxes_are_turned_with_a_finding() -> None:
    """LabelImg writes the stored pixel size (<size> from the QImage it loads, which ignores EXIF) with stored boxes."""
    [checked], findings = check(example((60, 40), STORED_ONLY), info(6))

    assert findings == [turned(6)]
    assert checked.rotate and (checked.width, checked.height) == (40, 60)
    assert checked.example.boxes == (transform_box(STORED_ONLY, 6, 60, 40),)
    assert (checked.example.width, checked.example.height) == (40, 60)


@pytest.mark.parametrize("orientation", [6, 8])
@pytest.mark.parametrize("fallback", ["rotated", "raw"])
def test_label_studio_style_stored_size_with_displayed_boxes_is_ambiguous(orientation: int, fallback: str) -> None:
    """Label Studio's COCO export (label-studio-converter) writes width/height from the stored file while the
    boxes were drawn on the browser's EXIF-rotated display: size says stored, boxes fit only the displayed image."""
    kept, findings = check(example((60, 40), DISPLAYED_ONLY), info(orientation), fallback)

    which = "displayed" if fallback == "rotated" else "stored"
    other = "raw" if fallback == "rotated" else "rotated"
    what = (f"EXIF orientation {orientation}: the annotation size matches the stored image, the boxes fit only the "
            f"displayed image; which image they were drawn on cannot be told (dataset.orientation_fallback: "
            f"{fallback}; if a preview shows the boxes turned, set dataset.orientation_fallback: {other})")
    assert findings[0] == Finding("a.jpg", what, f"assumed drawn on the {which} image")
    if fallback == "rotated":
        assert findings == findings[:1] and kept[0].example.boxes == (DISPLAYED_ONLY,)
    else:  # honoured: turned from the stored frame, where the box runs past the bottom edge (skip_image)
        assert turned(orientation) in findings and kept == []


def test_boxes_drawn_on_the_displayed_image_are_kept() -> None:
    shown = Box("cat", 2, 3, 30, 50)
    [checked], findings = check(example((40, 60), shown), info(6))

    assert findings == []
    assert checked.example.boxes == (shown,)


@pytest.mark.parametrize(
    ("fallback", "boxes", "action"),
    [
        ("rotated", (BLOCK,), "assumed drawn on the displayed image"),
        ("raw", (RAW_BLOCK_TURNED,), "assumed drawn on the stored image"),
    ],
)
def test_the_fallback_decides_when_the_size_cannot(fallback: str, boxes: tuple[Box, ...], action: str) -> None:
    [checked], findings = check(example(None), info(6), fallback)

    assert checked.example.boxes == boxes
    other = "raw" if fallback == "rotated" else "rotated"
    what = (
        "EXIF orientation 6: the annotation size fits both images, the boxes fit both; which image they were drawn "
        f"on cannot be told (dataset.orientation_fallback: {fallback}; if a preview shows the boxes turned, set "
        f"dataset.orientation_fallback: {other})"
    )
    assert findings == [Finding("a.jpg", what, action)] + ([turned(6)] if fallback == "raw" else [])


def test_no_fallback_note_for_an_image_without_boxes() -> None:
    empty = Example(Path("a.jpg"), None, None, (), "a.xml")

    [checked], findings = check(empty, info(3))

    assert findings == [] and checked.rotate


def test_a_size_matching_neither_frame_skips_the_image() -> None:
    kept, findings = check(example((50, 50)), info(6))

    assert kept == []
    what = "annotation size 50x50 matches neither the stored 60x40 nor the displayed 40x60 (EXIF orientation 6)"
    assert findings == [Finding("a.jpg", what, "image skipped")]


def test_boxes_are_checked_against_the_frame_they_were_drawn_in() -> None:
    # x up to 55 fits the stored width (60) but not the displayed one (40)
    kept, findings = check(example((60, 40), STORED_ONLY), info(6))

    assert findings == [turned(6)] and len(kept) == 1


@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
@pytest.mark.parametrize("annotated_on", ["stored", "displayed"])
def test_a_record_box_covers_the_object_in_the_record_pixels(
    tmp_path: Path, orientation: int, annotated_on: str
) -> None:
    block_image().save(tmp_path / "a.jpg", exif=with_orientation(orientation), quality=95)
    image = inspect_image(tmp_path, "a.jpg")
    if annotated_on == "stored":
        source, fallback = example(RAW), "raw"
    else:
        shown = transform_box(BLOCK, orientation, *RAW)
        source, fallback = example(image.displayed_size, shown), "rotated"
    # 2 and 3 keep the size, so only the fallback can tell; 6 and 8 are told by the size
    [checked], _ = check(source, image, fallback)

    encoded = encode_for_record(tmp_path, checked.image, rotate=checked.rotate)

    pixels = Image.open(io.BytesIO(encoded.data))
    assert (encoded.width, encoded.height) == (checked.width, checked.height) == pixels.size
    [box] = checked.example.boxes
    assert as_tuple(box) == bright_extent(pixels)
