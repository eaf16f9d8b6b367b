"""What `odspec build` writes is what the OD API trains on: every image kind, every format, read back by its decoder.

Each fixture image shows solid rectangles of known colours at known places in
the frame a viewer displays (EXIF orientation applied) and is annotated exactly
on them. After a build, the OD API's own ``TfExampleDecoder`` must see the
displayed size, boxes on the rectangles, the right class ids and the right
pixels; the record's image is also decoded with Pillow to check the colour
inside each box.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from support import minimal_spec, write_spec

from odspec import api
from odspec.datasets.model import Box, Example
from odspec.datasets.synthetic import annotation_files
from odspec.odapi.decode import parse_output
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records
from odspec.runner.process import run_module

pytestmark = pytest.mark.odapi

TIMEOUT = 300.0
CLASSES = ["alpha", "beta", "gamma"]
FORMATS = ("voc", "coco", "yolo", "csv")
ANNOTATIONS = {"voc": "annotations", "coco": "annotations/instances.json", "yolo": "labels",
               "csv": "annotations/labels.csv"}
SIZE = (80, 56)  # displayed width, height: not square, so a quarter turn cannot go unnoticed
WHITE = (255, 255, 255)
INVERSE_TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
ORIENTATION_TAG = 0x0112
BOX_TOLERANCE_PX = 1.0
INSET = 3  # pixels left out at each edge of a box when checking its colour (JPEG ringing, chroma subsampling)
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Rect:
    """A solid rectangle on the displayed image; edges are continuous (columns x0..x1-1 are filled)."""

    label: str
    x0: int
    y0: int
    x1: int
    y1: int
    colour: Colour  # as an RGB record must show it


@dataclass(frozen=True)
class Fixture:
    name: str
    kind: str
    background: Colour
    rects: tuple[Rect, ...]
    record_format: str
    orientation: int = 1
    size: tuple[int, int] = SIZE

    @property
    def lossy(self) -> bool:
        return self.record_format == "jpeg"


CMYK_BACKGROUND = (0, 0, 0, 0)
CMYK_RECT = (255, 0, 255, 0)


def cmyk_as_rgb(cmyk: tuple[int, int, int, int]) -> Colour:
    pixel = Image.new("CMYK", (1, 1), cmyk).convert("RGB").getpixel((0, 0))
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


FIXTURES = (
    Fixture("rgb.jpg", "rgb_jpeg", (230, 230, 230), (Rect("alpha", 8, 6, 40, 30, (200, 30, 30)),), "jpeg"),
    Fixture("rgb_png.png", "rgb_png", (20, 40, 60), (Rect("beta", 44, 10, 76, 50, (250, 200, 0)),
                                                      Rect("gamma", 4, 30, 24, 52, (0, 160, 220))), "png"),
    Fixture("gray.jpg", "gray_jpeg", (200, 200, 200), (Rect("gamma", 30, 20, 70, 48, (40, 40, 40)),), "jpeg"),
    Fixture("rgba.png", "rgba_png", WHITE, (Rect("alpha", 50, 4, 74, 28, (0, 0, 255)),), "png"),  # transparent over white
    Fixture("palette.png", "palette_png", (10, 120, 10), (Rect("beta", 6, 26, 36, 50, (240, 240, 0)),), "png"),
    Fixture("cmyk.jpg", "cmyk_jpeg", cmyk_as_rgb(CMYK_BACKGROUND),
            (Rect("gamma", 40, 8, 72, 32, cmyk_as_rgb(CMYK_RECT)),), "jpeg"),
    Fixture("exif6.jpg", "rgb_jpeg", (240, 240, 240), (Rect("alpha", 4, 4, 28, 20, (220, 0, 0)),
                                                      Rect("beta", 52, 30, 76, 52, (0, 0, 200))), "jpeg", 6),
    Fixture("exif3.jpg", "rgb_jpeg", (240, 240, 240), (Rect("beta", 6, 34, 38, 52, (0, 150, 0)),), "jpeg", 3),
    Fixture("exif8.jpg", "rgb_jpeg", (30, 30, 30), (Rect("gamma", 10, 4, 34, 24, (255, 140, 0)),), "jpeg", 8),
)
BY_NAME = {f.name: f for f in FIXTURES}


def displayed_pixels(fixture: Fixture) -> np.ndarray:
    """What the record must show: an (h, w, 3) uint8 array."""
    width, height = fixture.size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[...] = fixture.background
    for rect in fixture.rects:
        pixels[rect.y0:rect.y1, rect.x0:rect.x1] = rect.colour
    return pixels


def draw(mode: str, size: tuple[int, int], background: Any, rects: list[tuple[Rect, Any]]) -> Image.Image:
    image = Image.new(mode, size, background)
    pen = ImageDraw.Draw(image)
    for rect, fill in rects:
        pen.rectangle((rect.x0, rect.y0, rect.x1 - 1, rect.y1 - 1), fill=fill)
    return image


def image_bytes(fixture: Fixture) -> bytes:
    """The file as stored: its mode and format, and for EXIF images the pixels before the viewer's rotation."""
    out = io.BytesIO()
    rects = list(fixture.rects)
    if fixture.kind == "rgb_jpeg":
        image = Image.fromarray(displayed_pixels(fixture), mode="RGB")
        exif = Image.Exif()
        if fixture.orientation != 1:
            image = image.transpose(INVERSE_TRANSPOSE[fixture.orientation])
            exif[ORIENTATION_TAG] = fixture.orientation
        image.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    elif fixture.kind == "rgb_png":
        image = Image.fromarray(displayed_pixels(fixture), mode="RGB")
        exif = Image.Exif()
        if fixture.orientation != 1:
            image = image.transpose(INVERSE_TRANSPOSE[fixture.orientation])
            exif[ORIENTATION_TAG] = fixture.orientation
        image.save(out, format="PNG", exif=exif.tobytes())
    elif fixture.kind == "gray_jpeg":
        draw("L", fixture.size, fixture.background[0], [(r, r.colour[0]) for r in rects]).save(
            out, format="JPEG", quality=95)
    elif fixture.kind == "rgba_png":
        draw("RGBA", fixture.size, (0, 0, 0, 0), [(r, (*r.colour, 255)) for r in rects]).save(out, format="PNG")
    elif fixture.kind == "palette_png":
        image = draw("P", fixture.size, 0, [(r, 1) for r in rects])
        image.putpalette([*fixture.background, *rects[0].colour])
        image.save(out, format="PNG")
    elif fixture.kind == "cmyk_jpeg":
        draw("CMYK", fixture.size, CMYK_BACKGROUND, [(r, CMYK_RECT) for r in rects]).save(
            out, format="JPEG", quality=95)
    else:
        raise AssertionError(fixture.kind)
    return out.getvalue()


def check_fixture_file(fixture: Fixture, data: bytes) -> None:
    """The fixture is what it claims: its mode, EXIF tag, and displayed size."""
    modes = {"rgb_jpeg": "RGB", "rgb_png": "RGB", "gray_jpeg": "L", "rgba_png": "RGBA", "palette_png": "P",
             "cmyk_jpeg": "CMYK"}
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == modes[fixture.kind], fixture.name
        assert opened.getexif().get(ORIENTATION_TAG, 1) == fixture.orientation, fixture.name
        shown = ImageOps.exif_transpose(opened)
        assert shown.size == fixture.size, fixture.name


def write_dataset(folder: Path, fmt: str, fixtures: tuple[Fixture, ...] = FIXTURES) -> Path:
    """Images, annotations in ``fmt`` (recorded size = displayed size) and a spec; returns the spec path."""
    examples = []
    for fixture in fixtures:
        data = image_bytes(fixture)
        check_fixture_file(fixture, data)
        target = folder / "images" / fixture.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        boxes = tuple(Box(r.label, float(r.x0), float(r.y0), float(r.x1), float(r.y1)) for r in fixture.rects)
        examples.append(Example(Path(fixture.name), *fixture.size, boxes, "fixture"))
    for relative, text in annotation_files(examples, CLASSES, [fmt]).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(text)
    spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", CLASSES)
    spec["dataset"] = {**spec["dataset"], "format": fmt, "annotations": ANNOTATIONS[fmt],
                       "split": {"train": 0.5, "val": 0.25, "test": 0.25, "seed": _seed(fixtures)},
                       "on_bad_annotation": "stop"}
    return write_spec(folder, spec)


def _seed(fixtures: tuple[Fixture, ...]) -> int:
    """The first split.seed that gives train and val an image each (the build refuses either empty)."""
    from odspec.datasets.split import SplitItem
    from odspec.initspec import choose_seed

    seed = choose_seed([SplitItem(f.name, frozenset(r.label for r in f.rects)) for f in fixtures], (0.5, 0.25, 0.25))
    assert seed is not None
    return seed


def own_decode(shards: list[Path]) -> dict[str, dict[str, Any]]:
    """filename -> the record's features and its image decoded by Pillow, for every record of ``shards``."""
    found: dict[str, dict[str, Any]] = {}
    for shard in shards:
        for data in read_records(shard):
            features = parse_example(data)
            name = features["image/filename"][0].decode()
            with Image.open(io.BytesIO(features["image/encoded"][0])) as opened:
                features["pillow_format"] = opened.format
                features["pillow_mode"] = opened.mode
                features["pillow_orientation"] = opened.getexif().get(ORIENTATION_TAG, 1)
                features["pixels"] = np.asarray(opened.convert("RGB"))
            features["shard"] = shard.name
            assert name not in found, f"{name} is in two records"
            found[name] = features
    return found


def check_boxes(fixture: Fixture, record: dict[str, Any]) -> None:
    width, height = fixture.size
    assert len(record["boxes"]) == len(fixture.rects)
    for (ymin, xmin, ymax, xmax), rect in zip(record["boxes"], fixture.rects, strict=True):
        got = np.array([xmin * width, ymin * height, xmax * width, ymax * height])
        want = np.array([rect.x0, rect.y0, rect.x1, rect.y1], dtype=float)
        assert np.abs(got - want).max() <= BOX_TOLERANCE_PX, f"{fixture.name}: box {got} is not on {want}"
    assert record["classes"] == [CLASSES.index(r.label) + 1 for r in fixture.rects]
    assert record["difficult"] == [False] * len(fixture.rects)


def check_colours(fixture: Fixture, pixels: np.ndarray) -> None:
    """Inside each box the rectangle's colour; the mean of the whole image as expected (background included)."""
    tolerance = 8.0 if fixture.lossy else 0.0
    assert pixels.shape == (fixture.size[1], fixture.size[0], 3), fixture.name
    for rect in fixture.rects:
        inside = pixels[rect.y0 + INSET:rect.y1 - INSET, rect.x0 + INSET:rect.x1 - INSET].reshape(-1, 3).astype(float)
        error = np.abs(inside - np.array(rect.colour, dtype=float))
        assert error.mean(axis=0).max() <= tolerance / 2, f"{fixture.name}: {rect.label} mean {inside.mean(axis=0)}"
        assert error.max() <= tolerance * 3, f"{fixture.name}: {rect.label} worst pixel off by {error.max()}"
    assert all(r.x0 > INSET and r.y0 > INSET for r in fixture.rects)
    corner = pixels[:INSET, :INSET].reshape(-1, 3).astype(float)
    np.testing.assert_allclose(corner.mean(axis=0), fixture.background, atol=tolerance, err_msg=fixture.name)


def expected_mean(fixture: Fixture) -> float:
    return float(displayed_pixels(fixture).astype(float).mean())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_image_kind_decodes_as_displayed(tmp_path: Path, fmt: str) -> None:
    spec = write_dataset(tmp_path / fmt, fmt)
    result = api.build(spec, workers=1)
    shards = sorted(result.out_dir.glob("*.tfrecord"))
    assert {s.name.split("-")[0] for s in shards} == {"train", "val", "test"}

    done = run_module("odspec.odapi.decode", [str(s) for s in shards], timeout=TIMEOUT)
    decoded = parse_output(done.lines)
    ours = own_decode(shards)
    splits = json.loads((result.out_dir / "splits.json").read_text())["images"]

    assert sorted(r["filename"] for r in decoded) == sorted(BY_NAME)
    assert sorted(ours) == sorted(BY_NAME)
    for record in decoded:
        fixture = BY_NAME[record["filename"]]
        width, height = fixture.size
        mine = ours[fixture.name]
        assert record["source_id"] == fixture.name
        assert record["image_shape"] == [height, width, 3], fixture.name
        check_boxes(fixture, record)
        assert record["pixel_mean"] == pytest.approx(expected_mean(fixture), abs=2.0 if fixture.lossy else 1e-6), (
            fixture.name)
        assert float(mine["pixels"].astype(float).mean()) == pytest.approx(record["pixel_mean"], abs=1.0), (
            f"{fixture.name}: Pillow and the OD API decode different pixels")
        check_colours(fixture, mine["pixels"])
        assert mine["image/format"] == [fixture.record_format.encode()], fixture.name
        assert mine["pillow_format"] == fixture.record_format.upper(), fixture.name
        assert mine["pillow_mode"] == "RGB", fixture.name
        assert mine["pillow_orientation"] == 1, f"{fixture.name}: the record keeps an EXIF orientation"
        assert (mine["image/width"], mine["image/height"]) == ([width], [height]), fixture.name
        assert mine["image/object/class/text"] == [r.label.encode() for r in fixture.rects]
        assert mine["shard"].startswith(f"{splits[fixture.name]}-"), fixture.name


EXIF_PNG = Fixture("exif6.png", "rgb_png", (240, 240, 240), (Rect("alpha", 4, 4, 28, 20, (220, 0, 0)),), "png", 6)


@pytest.mark.parametrize("fmt", [
    "voc", "coco", "csv",
    "yolo",
])
def test_exif_rotated_png_boxes_follow_the_pixels(tmp_path: Path, fmt: str) -> None:
    """No TensorFlow here: the record read back with Pillow, for the one image kind the OD API run leaves out."""
    out = api.build(write_dataset(tmp_path / fmt, fmt, (EXIF_PNG, FIXTURES[0])), workers=1).out_dir  # train + val
    record = own_decode(sorted(out.glob("*.tfrecord")))[EXIF_PNG.name]
    columns = ("ymin", "xmin", "ymax", "xmax")
    boxes = [list(box) for box in zip(*(record[f"image/object/bbox/{c}"] for c in columns), strict=True)]
    check_boxes(EXIF_PNG, {"boxes": boxes, "classes": record["image/object/class/label"],
                           "difficult": [bool(d) for d in record["image/object/difficult"]]})
    check_colours(EXIF_PNG, record["pixels"])
