"""The bundled example dataset is present, readable and as the generator makes it."""

from __future__ import annotations

from PIL import Image

from odspec.bundled_example import EXAMPLE_CLASSES, EXAMPLE_IMAGES, EXAMPLE_SIDES, EXAMPLE_SIZE
from odspec.datasets import read_voc, summarize
from odspec.datasets.encode import voc_xml
from odspec.datasets.synthetic import build_shapes
from odspec.resources import example_folder

EXAMPLE = example_folder() / "shapes"


def test_example_reads_cleanly_and_matches_the_generator() -> None:
    result = read_voc(EXAMPLE / "images", EXAMPLE / "annotations", ["circle", "square"])
    assert result.findings == []
    summary = summarize(result.examples, ["circle", "square"])
    assert summary.images == EXAMPLE_IMAGES and summary.unknown_classes == ()
    assert min(summary.boxes_per_class.values()) > 0
    # Image i does not depend on the image count, so rebuilding the first few is enough.
    truth = {e.image: e for e in build_shapes(12, EXAMPLE_SIZE, EXAMPLE_CLASSES, 0, (), 3, 90, EXAMPLE_SIDES)[0]}
    for example in result.examples[:12]:
        assert example.boxes == truth[example.image].boxes
        xml = (EXAMPLE / "annotations" / f"{example.image.stem}.xml").read_text()
        assert xml == voc_xml(truth[example.image])
        with Image.open(EXAMPLE / "images" / example.image) as image:
            assert image.size == EXAMPLE_SIZE
