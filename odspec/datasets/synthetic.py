"""A deterministic dataset of solid shapes on noisy backgrounds.

Small enough to bundle, and easy enough that a detector trained from scratch
in CI reaches a clear mAP in a few hundred steps. Each image is drawn from its
own generator seeded by ``(seed, index)``, so the same arguments always give
byte-identical files and image ``i`` does not depend on ``n_images``. Boxes
are the exact extent of the drawn pixels (continuous edges: a shape filling
columns 10..49 has ``xmin=10, xmax=50``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from odspec.datasets import encode
from odspec.datasets.model import Box, Example

SHAPES = ("circle", "square", "triangle")
FORMATS = ("voc", "coco", "yolo", "csv")
SIDE_RANGE = (30, 90)
MARGIN = 4
GAP = 10
MIN_CONTRAST = 120.0
Rng = np.random.Generator


@dataclass(frozen=True)
class PlacedShape:
    """A shape's kind, the square it is drawn in, and its colour."""

    kind: str
    x: int
    y: int
    side: int
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class SyntheticDataset:
    """The examples drawn (ground truth) and every file written, relative to the output folder."""

    examples: tuple[Example, ...]
    files: tuple[Path, ...]


def make_shapes(
    out_dir: Path,
    n_images: int,
    size: tuple[int, int] = (256, 256),
    classes: Sequence[str] = ("circle", "square"),
    seed: int = 0,
    formats: Sequence[str] = ("voc",),
    max_boxes: int = 3,
    jpeg_quality: int = 90,
    sides: tuple[int, int] = SIDE_RANGE,
) -> SyntheticDataset:
    """Write ``images/*.jpg`` and the annotations of each format under ``out_dir``.

    Layout: VOC ``annotations/<stem>.xml``; COCO ``annotations/instances.json``;
    CSV ``annotations/labels.csv``; YOLO ``labels/<stem>.txt`` + ``labels/classes.txt``.
    Each shape's square side is drawn from ``sides`` (smallest, largest) in pixels.
    Existing files of the same names are overwritten; others are left alone.
    """
    examples, files = build_shapes(n_images, size, classes, seed, formats, max_boxes, jpeg_quality, sides)
    for relative, data in files.items():
        target = Path(out_dir) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return SyntheticDataset(tuple(examples), tuple(files))


def build_shapes(
    n_images: int,
    size: tuple[int, int],
    classes: Sequence[str],
    seed: int,
    formats: Sequence[str],
    max_boxes: int,
    jpeg_quality: int,
    sides: tuple[int, int] = SIDE_RANGE,
) -> tuple[list[Example], dict[Path, bytes]]:
    """The dataset in memory: examples and ``{relative path: bytes}``."""
    _check_arguments(size, classes, formats, max_boxes, sides)
    files: dict[Path, bytes] = {}
    examples: list[Example] = []
    for index in range(n_images):
        image, boxes = render_shapes(np.random.default_rng([seed, index]), size, classes, max_boxes, sides)
        name = Path(f"shape_{index:04d}.jpg")
        files[Path("images") / name] = jpeg_bytes(image, jpeg_quality)
        examples.append(Example(name, size[0], size[1], boxes, "synthetic"))
    files.update(annotation_files(examples, classes, formats))
    return examples, files


def annotation_files(
    examples: Sequence[Example], classes: Sequence[str], formats: Sequence[str]
) -> dict[Path, bytes]:
    """The annotation files of each requested format."""
    files: dict[Path, bytes] = {}
    if "voc" in formats:
        for e in examples:
            files[Path("annotations") / f"{e.image.stem}.xml"] = encode.voc_xml(e).encode()
    if "coco" in formats:
        files[Path("annotations/instances.json")] = encode.coco_json(examples, classes).encode()
    if "csv" in formats:
        files[Path("annotations/labels.csv")] = encode.csv_text(examples).encode()
    if "yolo" in formats:
        for e in examples:
            files[Path("labels") / f"{e.image.stem}.txt"] = encode.yolo_txt(e, classes).encode()
        files[Path("labels/classes.txt")] = encode.classes_txt(classes).encode()
    return files


def render_shapes(
    rng: Rng, size: tuple[int, int], classes: Sequence[str], max_boxes: int, sides: tuple[int, int] = SIDE_RANGE
) -> tuple[Image.Image, tuple[Box, ...]]:
    """One image and its tight boxes."""
    background = _background_colour(rng)
    image = noisy_background(rng, size, background)
    boxes = []
    for shape in place_shapes(rng, size, classes, max_boxes, background, sides):
        mask = shape_mask(shape, size)
        image.paste(shape.colour, mask=mask)
        left, top, right, bottom = mask.getbbox() or (0, 0, 0, 0)
        boxes.append(Box(shape.kind, float(left), float(top), float(right), float(bottom)))
    return image, tuple(boxes)


def place_shapes(
    rng: Rng,
    size: tuple[int, int],
    classes: Sequence[str],
    max_boxes: int,
    background: tuple[int, int, int],
    sides: tuple[int, int] = SIDE_RANGE,
) -> list[PlacedShape]:
    """1..max_boxes shapes whose squares are at least ``GAP`` pixels apart."""
    width, height = size
    biggest = min(sides[1], width - 2 * MARGIN, height - 2 * MARGIN)
    placed: list[PlacedShape] = []
    for _ in range(int(rng.integers(1, max_boxes + 1))):
        for _attempt in range(100):
            side = int(rng.integers(sides[0], biggest + 1))
            x = int(rng.integers(MARGIN, width - MARGIN - side + 1))
            y = int(rng.integers(MARGIN, height - MARGIN - side + 1))
            if all(_apart(x, y, side, other) for other in placed):
                kind = classes[int(rng.integers(len(classes)))]
                placed.append(PlacedShape(kind, x, y, side, _shape_colour(rng, background)))
                break
    return placed


def shape_mask(shape: PlacedShape, size: tuple[int, int]) -> Image.Image:
    """The shape's pixels (255) on an otherwise empty ``L`` image."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    x0, y0 = shape.x, shape.y
    x1, y1 = x0 + shape.side - 1, y0 + shape.side - 1
    if shape.kind == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=255)
    elif shape.kind == "square":
        draw.rectangle((x0, y0, x1, y1), fill=255)
    else:
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=255)
    return mask


def noisy_background(rng: Rng, size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    """A base colour with soft blotches and a little grain (kept small to keep JPEGs small)."""
    width, height = size
    coarse = rng.normal(0.0, 22.0, size=(height // 32 + 2, width // 32 + 2, 3))
    blotches = np.stack(
        [np.asarray(Image.fromarray(coarse[..., c].astype(np.float32), mode="F")
                    .resize(size, Image.Resampling.BILINEAR)) for c in range(3)],
        axis=-1,
    )
    grain = rng.normal(0.0, 5.0, size=(height, width, 3))
    pixels = np.asarray(colour, dtype=np.float64) + blotches + grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """JPEG without metadata, so the bytes depend on the pixels and quality only."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _background_colour(rng: Rng) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(40, 216, size=3))
    return r, g, b


def _shape_colour(rng: Rng, background: tuple[int, int, int]) -> tuple[int, int, int]:
    """A random colour far enough from the background to be plainly visible."""
    colour = (0, 0, 0)
    for _ in range(200):
        r, g, b = (int(v) for v in rng.integers(0, 256, size=3))
        colour = (r, g, b)
        if np.linalg.norm(np.subtract(colour, background)) >= MIN_CONTRAST:
            break
    return colour


def _apart(x: int, y: int, side: int, other: PlacedShape) -> bool:
    return (
        x + side + GAP <= other.x
        or other.x + other.side + GAP <= x
        or y + side + GAP <= other.y
        or other.y + other.side + GAP <= y
    )


def _check_arguments(
    size: tuple[int, int], classes: Sequence[str], formats: Sequence[str], max_boxes: int,
    sides: tuple[int, int] = SIDE_RANGE,
) -> None:
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise ValueError(f"classes must be among {', '.join(SHAPES)}; got {list(classes)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}; got {list(formats)}")
    if not 0 < sides[0] <= sides[1]:
        raise ValueError(f"sides must be (smallest, largest) with 0 < smallest <= largest; got {sides}")
    if min(size) < sides[0] + 2 * MARGIN:
        raise ValueError(f"size must be at least {sides[0] + 2 * MARGIN} pixels a side; got {size}")
    if max_boxes < 1:
        raise ValueError(f"max_boxes must be at least 1; got {max_boxes}")
