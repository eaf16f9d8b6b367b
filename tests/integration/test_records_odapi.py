"""Records odspec writes without TensorFlow are read by the OD API's own decoder, as training reads them."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from odspec.errors import RunError
from odspec.odapi.decode import parse_output
from odspec.records import detection_example, write_records
from odspec.runner.process import run_module

pytestmark = pytest.mark.odapi

TIMEOUT = 300.0


def image(fmt: str, size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


def record(path: Path, fmt: str, boxes: list[tuple[float, float, float, float]], **labels: Any) -> bytes:
    data = path.read_bytes()
    with Image.open(path) as opened:
        width, height = opened.size
    return detection_example(
        encoded=data, image_format=fmt, width=width, height=height, filename=path.name, source_id=path.name,
        sha256=hashlib.sha256(data).hexdigest(), boxes=boxes, truncated=[False] * len(boxes),
        views=[""] * len(boxes), **labels)


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    jpeg = tmp_path / "street.jpg"
    jpeg.write_bytes(image("JPEG", (64, 48), (200, 100, 50)))
    png = tmp_path / "Käfer 1.png"
    png.write_bytes(image("PNG", (30, 40), (10, 20, 30)))
    first = tmp_path / "train-00000-of-00002.tfrecord"
    second = tmp_path / "train-00001-of-00002.tfrecord"
    write_records(first, [record(jpeg, "jpeg", [(0.1, 0.2, 0.5, 0.6), (0.0, 0.25, 1.0, 0.75)],
                                 class_texts=["car", "person"], class_ids=[1, 2], difficult=[False, True])])
    write_records(second, [record(png, "png", [(0.3, 0.1, 0.4, 0.9), (0.5, 0.5, 0.75, 0.625)],
                                  class_texts=["person", "person"], class_ids=[2, 2], difficult=[True, False])])
    return [first, second]


def test_od_api_decoder_reads_jpeg_and_png_records(shards: list[Path]) -> None:
    done = run_module("odspec.odapi.decode", [str(path) for path in shards], timeout=TIMEOUT)
    street, beetle = parse_output(done.lines)

    assert street["filename"] == street["source_id"] == "street.jpg"
    assert street["image_shape"] == [48, 64, 3]
    np.testing.assert_allclose(street["boxes"], [[0.2, 0.1, 0.6, 0.5], [0.25, 0.0, 0.75, 1.0]], rtol=0, atol=1e-6)
    assert street["classes"] == [1, 2]
    assert street["difficult"] == [False, True]
    assert street["pixel_mean"] == pytest.approx((200 + 100 + 50) / 3, abs=2.0)  # JPEG is lossy

    assert beetle["filename"] == beetle["source_id"] == "Käfer 1.png"
    assert beetle["image_shape"] == [40, 30, 3]
    np.testing.assert_allclose(beetle["boxes"], [[0.1, 0.3, 0.9, 0.4], [0.5, 0.5, 0.625, 0.75]], rtol=0, atol=1e-6)
    assert beetle["classes"] == [2, 2]
    assert beetle["difficult"] == [True, False]
    assert beetle["pixel_mean"] == pytest.approx(20.0)


def test_corrupt_record_fails_the_decode_with_an_error_line(shards: list[Path]) -> None:
    data = bytearray(shards[1].read_bytes())
    data[40] ^= 0xFF
    shards[1].write_bytes(bytes(data))
    with pytest.raises(RunError) as caught:
        run_module("odspec.odapi.decode", [str(path) for path in shards], timeout=TIMEOUT)
    assert caught.value.returncode == 1
    assert '{"error": "record 1: DataLossError' in caught.value.tail[-1]
    with pytest.raises(Exception, match="could not decode the records: record 1: DataLossError"):
        parse_output(caught.value.tail)
