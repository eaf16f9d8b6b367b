"""A contact sheet of records as the model will see them: pixels, boxes, class names.

It is drawn from the parsed records themselves, not from the annotations, so
it shows what went wrong in conversion (a box in the wrong frame after EXIF
rotation, y and x swapped, a class mapped to the wrong name) before hours of
training do. Output is deterministic: same records, same PNG bytes.
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from odspec.io import atomic_write

Colour = tuple[int, int, int]
Record = Mapping[str, list[Any]]

TILE = 256
PAD = 4
CAPTION = 14
LINE_WIDTH = 2
BACKGROUND: Colour = (255, 255, 255)
TEXT: Colour = (0, 0, 0)
GOLDEN = 0.618033988749895


@dataclass(frozen=True)
class DrawnBox:
    """One box of a record in normalised coordinates (fractions of width and height)."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def class_colours(names: Sequence[str]) -> dict[str, Colour]:
    """A saturated colour per name: sorted names step round the hue circle by the golden ratio.

    Consecutive hues land far apart for any number of classes, and the result
    depends only on the set of names, never on record order.
    """
    colours = {}
    for i, name in enumerate(sorted(set(names))):
        r, g, b = colorsys.hsv_to_rgb((i * GOLDEN) % 1.0, 0.85, 0.95)
        colours[name] = (round(r * 255), round(g * 255), round(b * 255))
    return colours


def record_boxes(record: Record) -> list[DrawnBox]:
    """The boxes of a parsed ``tf.train.Example`` (OD API keys); a negative image has none."""
    columns = [record.get(f"image/object/bbox/{k}", []) for k in ("xmin", "ymin", "xmax", "ymax")]
    labels = [_text(t) for t in record.get("image/object/class/text", [])]
    return [DrawnBox(label, *map(float, coords)) for label, *coords in zip(labels, *columns, strict=False)]


def draw_boxes(image: Image.Image, boxes: Sequence[DrawnBox], colours: Mapping[str, Colour]) -> Image.Image:
    """A copy of ``image`` (as RGB) with each box outlined in its class colour and labelled.

    Box edges are continuous (``xmax`` is one past the last covered column), so
    the outline's outer edge covers exactly the boxed pixels, drawn inwards.
    """
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    width, height = out.size
    for box in boxes:
        x0, x1 = _pixel_span(box.xmin, box.xmax, width)
        y0, y1 = _pixel_span(box.ymin, box.ymax, height)
        colour = colours.get(box.label, TEXT)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=LINE_WIDTH)
        _draw_label(draw, font, box.label, (x0, y0), colour)
    return out


def draw_examples(records: Sequence[Record], *, max_images: int, columns: int = 4, tile: int = TILE) -> Image.Image:
    """The first ``max_images`` records, boxes drawn, tiled ``columns`` wide with each filename below.

    Images larger than ``tile`` are shrunk to fit (never enlarged) before the
    boxes are drawn, so outlines and labels keep the same size on every tile.
    """
    chosen = list(records[: max(0, max_images)])
    colours = class_colours([b.label for r in chosen for b in record_boxes(r)])
    cols = max(1, min(columns, len(chosen)))
    rows = max(1, math.ceil(len(chosen) / cols))
    sheet = Image.new("RGB", (cols * (tile + PAD) + PAD, rows * (tile + CAPTION + PAD) + PAD), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    if not chosen:
        draw.text((PAD, PAD), "no images", fill=TEXT, font=font)
    for i, record in enumerate(chosen):
        x = PAD + (i % cols) * (tile + PAD)
        y = PAD + (i // cols) * (tile + CAPTION + PAD)
        picture = _fit(decode_image(record), tile)
        sheet.paste(draw_boxes(picture, record_boxes(record), colours), (x, y))
        name = _text((record.get("image/filename") or [b"?"])[0])
        draw.text((x, y + tile + 1), _shorten(draw, font, name, tile), fill=TEXT, font=font)
    return sheet


def save_preview(records: Sequence[Record], out_path: Path, *, max_images: int, columns: int = 4) -> None:
    """Write :func:`draw_examples` as a PNG, atomically (Pillow writes no timestamp, so bytes are stable)."""
    out = io.BytesIO()
    draw_examples(records, max_images=max_images, columns=columns).save(out, format="PNG")
    atomic_write(Path(out_path), out.getvalue())


def decode_image(record: Record) -> Image.Image:
    """The record's ``image/encoded`` bytes as an RGB image."""
    with Image.open(io.BytesIO(record["image/encoded"][0])) as image:
        rgb: Image.Image = image.convert("RGB")  # typed here: Pillow's __enter__ returns Self, unknown to 3.10
    return rgb


def _pixel_span(low: float, high: float, size: int) -> tuple[int, int]:
    """First and last pixel covered by the normalised edges ``low``..``high``, kept inside the image."""
    first = min(max(round(low * size), 0), size - 1)
    last = min(max(round(high * size) - 1, first), size - 1)
    return first, last


def _draw_label(draw: ImageDraw.ImageDraw, font: Any, label: str, corner: tuple[int, int], colour: Colour) -> None:
    """The class name on a patch of its colour, above the box when it fits, else just inside it."""
    text = _printable(label)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 2, bottom - top + 2
    x, below = corner
    y = below - h if below - h >= 0 else below + LINE_WIDTH
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    draw.text((x + 1 - left, y + 1 - top), text, fill=TEXT if luminance > 140 else BACKGROUND, font=font)


def _fit(image: Image.Image, tile: int) -> Image.Image:
    """``image`` shrunk to fit a ``tile`` square, aspect kept; small images are left as they are."""
    scale = min(1.0, tile / image.width, tile / image.height)
    if scale == 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def _shorten(draw: ImageDraw.ImageDraw, font: Any, text: str, width: int) -> str:
    """``text`` cut from the left with "..." until it fits ``width``: the end of a path tells files apart."""
    text = _printable(text)
    candidate = text
    while candidate and draw.textlength(candidate, font=font) > width:
        text = text[1:]
        candidate = "..." + text
    return candidate


def _text(value: Any) -> str:
    """Record strings are bytes; decoded leniently, a preview should never fail on a name."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _printable(text: str) -> str:
    """Pillow's built-in bitmap font covers Latin-1 only."""
    return text.encode("latin-1", "replace").decode("latin-1")
