from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from odspec.datasets.preview import (
    CAPTION,
    LINE_WIDTH,
    PAD,
    TILE,
    DrawnBox,
    class_colours,
    draw_boxes,
    draw_examples,
    record_boxes,
    save_preview,
)

GREY = (128, 128, 128)


BoxRow = tuple[str, float, float, float, float]


def record(name: str, size: tuple[int, int], boxes: list[BoxRow], fmt: str = "PNG") -> dict[str, list]:
    """A parsed record as the OD API keys hold it: lists of bytes and floats."""
    out = io.BytesIO()
    Image.new("RGB", size, GREY).save(out, format=fmt)
    return {
        "image/encoded": [out.getvalue()],
        "image/filename": [name.encode()],
        "image/object/bbox/xmin": [b[1] for b in boxes],
        "image/object/bbox/ymin": [b[2] for b in boxes],
        "image/object/bbox/xmax": [b[3] for b in boxes],
        "image/object/bbox/ymax": [b[4] for b in boxes],
        "image/object/class/text": [b[0].encode() for b in boxes],
    }


def assert_outline(image: Image.Image, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """The box covering pixels 20..59 in x and 20..59 in y (of a 100x80 image at ``origin``) is outlined inwards."""
    ox, oy = origin
    px = image.getpixel
    for offset in range(LINE_WIDTH):
        assert px((ox + 59 - offset, oy + 40)) == colour  # right edge
        assert px((ox + 20 + offset, oy + 40)) == colour  # left edge
        assert px((ox + 40, oy + 59 - offset)) == colour  # bottom edge
    assert px((ox + 59 - LINE_WIDTH, oy + 40)) == GREY  # inside
    assert px((ox + 60, oy + 40)) == GREY  # outside, right
    assert px((ox + 19, oy + 40)) == GREY  # outside, left
    assert px((ox + 40, oy + 60)) == GREY  # outside, below


def test_boxes_land_on_the_covered_pixels() -> None:
    picture = Image.new("RGB", (100, 80), GREY)
    colours = {"cat": (255, 0, 0)}
    drawn = draw_boxes(picture, [DrawnBox("cat", 0.2, 0.25, 0.6, 0.75)], colours)
    assert_outline(drawn, (0, 0), (255, 0, 0))
    assert picture.getpixel((59, 40)) == GREY  # the input is not drawn on


def test_the_label_sits_above_the_box_in_the_class_colour() -> None:
    drawn = draw_boxes(Image.new("RGB", (100, 80), GREY), [DrawnBox("cat", 0.2, 0.25, 0.6, 0.75)], {"cat": (255, 0, 0)})
    assert drawn.getpixel((20, 19)) == (255, 0, 0)
    assert drawn.getpixel((20, 2)) == GREY  # a short patch, not a column


def test_the_contact_sheet_places_the_first_tile_at_the_padding() -> None:
    records = [record("a.png", (100, 80), [("cat", 0.2, 0.25, 0.6, 0.75)])]
    sheet = draw_examples(records, max_images=4)
    assert sheet.size == (TILE + 2 * PAD, TILE + CAPTION + 2 * PAD)
    assert_outline(sheet, (PAD, PAD), class_colours(["cat"])["cat"])


def test_tiles_fill_rows_of_the_given_width_and_stop_at_max_images() -> None:
    records = [record(f"{i}.png", (100, 80), []) for i in range(7)]
    sheet = draw_examples(records, max_images=5, columns=2)
    assert sheet.size == (2 * (TILE + PAD) + PAD, 3 * (TILE + CAPTION + PAD) + PAD)
    third_row = PAD + 2 * (TILE + CAPTION + PAD)
    assert sheet.getpixel((PAD + 10, third_row + 10)) == GREY
    assert sheet.getpixel((2 * PAD + TILE + 10, third_row + 10)) == (255, 255, 255)


def test_large_images_are_shrunk_to_the_tile_with_boxes_scaled() -> None:
    records = [record("big.jpg", (1024, 512), [("dog", 0.5, 0.5, 1.0, 1.0)], fmt="JPEG")]
    sheet = draw_examples(records, max_images=1, tile=128)
    colour = class_colours(["dog"])["dog"]
    # 1024x512 becomes 128x64: the box covers x 64..127, y 32..63
    assert sheet.getpixel((PAD + 127, PAD + 48)) == colour
    assert sheet.getpixel((PAD + 96, PAD + 63)) == colour
    assert sheet.getpixel((PAD + 96, PAD + 64)) == (255, 255, 255)


def test_colours_are_distinct_and_depend_only_on_the_names() -> None:
    names = ["cat", "dog", "fox", "owl", "eel"]
    colours = class_colours(names)
    assert len(set(colours.values())) == len(names)
    assert class_colours([*reversed(names), "cat"]) == colours


def test_record_boxes_read_the_standard_keys() -> None:
    parsed = record_boxes(record("a.png", (10, 10), [("cat", 0.1, 0.2, 0.3, 0.4)]))
    assert parsed == [DrawnBox("cat", 0.1, 0.2, 0.3, 0.4)]
    assert record_boxes({"image/encoded": [b""]}) == []


def test_output_is_deterministic_and_saved_as_png(tmp_path: Path) -> None:
    records = [
        record("a/b/c.png", (100, 80), [("cat", 0.2, 0.25, 0.6, 0.75)]),
        record("d.jpg", (300, 200), [("dog", 0.0, 0.0, 1.0, 1.0), ("cat", 0.1, 0.1, 0.2, 0.9)], fmt="JPEG"),
        record("negative.png", (50, 50), []),
    ]
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    save_preview(records, first, max_images=8)
    save_preview(list(records), second, max_images=8)
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.format == "PNG"
        assert image.size == (3 * (TILE + PAD) + PAD, TILE + CAPTION + 2 * PAD)


def test_no_records_still_give_an_image() -> None:
    assert draw_examples([], max_images=4).size == (TILE + 2 * PAD, TILE + CAPTION + 2 * PAD)


def test_long_and_non_latin_filenames_do_not_break_the_caption() -> None:
    records = [record("très/" + "long_" * 40 + "名前.png", (20, 20), [("猫", 0.0, 0.0, 1.0, 1.0)])]
    sheet = draw_examples(records, max_images=1)
    assert sheet.size == (TILE + 2 * PAD, TILE + CAPTION + 2 * PAD)
