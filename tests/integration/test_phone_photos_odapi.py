"""Phone photos through `odspec build` and the OD API's own TfExampleDecoder.

Two images in a VOC (LabelImg) dataset:
- a Google Motion Photo (developer.android.com/media/platform/motion-photo-format: the primary JPEG, its XMP
  ``Container:Directory``, then an MP4 whose first box is ``ftyp``): the record must hold only the primary JPEG;
- a JPEG with EXIF orientation 6 annotated LabelImg-style: LabelImg loads the file with Qt without applying EXIF and
  writes the stored ``<size>`` with boxes on the stored pixels. The box reaches below the displayed height, so it fits
  only the stored frame: the boxes are turned with the image, which the record stores as displayed.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import minimal_spec, write_spec

from odspec import api
from odspec.datasets.checks import transform_box
from odspec.datasets.model import Box, Example
from odspec.datasets.synthetic import annotation_files
from odspec.odapi.decode import parse_output
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records
from odspec.runner.process import run_module

pytestmark = pytest.mark.odapi

MP4_TAIL = struct.pack(">I", 24) + b"ftypmp42\x00\x00\x00\x00isommp42" + struct.pack(">I", 16) + b"mdat" + b"\x00" * 8
XMP = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
       b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
       b"xmlns:GCamera='http://ns.google.com/photos/1.0/camera/' "
       b"xmlns:Container='http://ns.google.com/photos/1.0/container/' "
       b"xmlns:Item='http://ns.google.com/photos/1.0/container/item/' GCamera:MotionPhoto='1'>"
       b"<Container:Directory><rdf:Seq><rdf:li rdf:parseType='Resource'><Container:Item Item:Mime='image/jpeg' "
       b"Item:Semantic='Primary'/></rdf:li><rdf:li rdf:parseType='Resource'><Container:Item Item:Mime='video/mp4' "
       b"Item:Semantic='MotionPhoto' Item:Length='%d'/></rdf:li></rdf:Seq></Container:Directory>"
       b"</rdf:Description></rdf:RDF></x:xmpmeta>" % len(MP4_TAIL))
DISPLAYED = (80, 56)
MOTION_BOX = Box("cat", 10.0, 8.0, 50.0, 40.0)
STORED_BOX = Box("cat", 8.0, 30.0, 40.0, 75.0)  # on the stored 56x80 pixels; y up to 75 > 56: fits only them


def jpeg(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, **options)
    return out.getvalue()


def test_a_motion_photo_and_an_exif_6_image_decode_as_expected(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    primary = jpeg(Image.new("RGB", DISPLAYED, (30, 120, 200)))
    primary = primary[:2] + b"\xff\xe1" + struct.pack(">H", len(XMP) + 2) + XMP + primary[2:]
    (images / "PXL_1.MP.jpg").write_bytes(primary + MP4_TAIL)
    exif = Image.Exif()
    exif[0x0112] = 6
    (images / "turned.jpg").write_bytes(jpeg(Image.new("RGB", (56, 80), (200, 60, 20)), exif=exif))
    examples = [Example(Path("PXL_1.MP.jpg"), *DISPLAYED, (MOTION_BOX,), "fixture"),
                Example(Path("turned.jpg"), 56, 80, (STORED_BOX,), "fixture")]
    for relative, text in annotation_files(examples, ["cat"], ["voc"]).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(text)
    spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["cat"])
    spec["dataset"] = {**spec["dataset"], "format": "voc", "split": {"train": 0.5, "val": 0.5, "test": 0.0, "seed": _seed_with_train_and_val(examples)},
                       "on_bad_annotation": "stop"}
    result = api.build(write_spec(tmp_path, spec), workers=1)
    shards = sorted(result.out_dir.glob("*.tfrecord"))

    done = run_module("odspec.odapi.decode", [str(s) for s in shards], timeout=300.0)
    decoded = {r["filename"]: r for r in parse_output(done.lines)}
    turned = transform_box(STORED_BOX, 6, 56, 80)
    want = {"PXL_1.MP.jpg": MOTION_BOX, "turned.jpg": turned}
    assert sorted(decoded) == sorted(want)
    for name, box in want.items():
        record = decoded[name]
        assert record["image_shape"] == [DISPLAYED[1], DISPLAYED[0], 3], name
        [(ymin, xmin, ymax, xmax)] = record["boxes"]
        got = np.array([xmin * DISPLAYED[0], ymin * DISPLAYED[1], xmax * DISPLAYED[0], ymax * DISPLAYED[1]])
        np.testing.assert_allclose(got, [box.xmin, box.ymin, box.xmax, box.ymax], atol=1e-3, err_msg=name)
    encoded = {parse_example(d)["image/filename"][0].decode(): parse_example(d)["image/encoded"][0]
               for s in shards for d in read_records(s)}
    assert encoded["PXL_1.MP.jpg"] == primary  # the video is not in the record


def _seed_with_train_and_val(examples: list[Example]) -> int:
    """A split.seed that puts one of the two images in train and one in val (the build refuses an empty split)."""
    from odspec.datasets.split import SplitItem
    from odspec.initspec import choose_seed

    seed = choose_seed([SplitItem(e.image.as_posix(), frozenset({"cat"})) for e in examples], (0.5, 0.5, 0.0))
    assert seed is not None
    return seed
