"""Every export layout odspec detects builds records the OD API reads back with the source's boxes and classes.

Each entry of ``LAYOUTS`` (tests/unit/datasets/layouts/exports.py: a fixture builder in the
tool's real folder layout, citing its source, and the boxes it wrote) is built with
``odspec build`` from a spec that names only ``dataset.path``; all the shards are then
decoded by the OD API's ``TfExampleDecoder`` in ONE child process. To add a layout,
add an entry to ``LAYOUTS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.odapi.decode import parse_output
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records
from odspec.runner.process import run_module
from tests.unit.datasets.layouts.catalogue import EXPORTS as LAYOUTS

pytestmark = pytest.mark.odapi

TIMEOUT = 300.0
SIZE = (64, 48)  # every fixture image's width, height
TOLERANCE = 1e-5


def test_every_export_layout_decodes_with_the_source_boxes(tmp_path: Path) -> None:
    expected, shards = {}, []
    for name, (builder, fmt, _kind) in sorted(LAYOUTS.items()):
        folder = tmp_path / name
        wanted = builder(folder / "export")
        spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", list(wanted.classes))
        spec["dataset"] = {"path": "export", "format": fmt, "classes": list(wanted.classes), "split": _split(wanted)}
        result = api.build(write_spec(folder, spec), workers=1)
        shards.extend((name, shard) for shard in sorted(result.out_dir.glob("*.tfrecord")))
        expected[name] = wanted

    done = run_module("odspec.odapi.decode", [str(s) for _, s in shards], timeout=TIMEOUT)
    decoded = iter(parse_output(done.lines))
    seen: dict[str, set[str]] = {name: set() for name in LAYOUTS}
    for name, shard in shards:
        wanted = expected[name]
        for data in read_records(shard):
            ours = parse_example(data)
            record = next(decoded)
            image = record["filename"]
            assert ours["image/filename"] == [image.encode()]
            assert image in wanted.boxes, f"{name}: {image} is not an image of the export"
            seen[name].add(image)
            boxes = wanted.boxes[image]
            assert record["image_shape"][:2] == [SIZE[1], SIZE[0]], f"{name}: {image}"
            assert [t.decode() for t in ours["image/object/class/text"]] == [b[0] for b in boxes], f"{name}: {image}"
            assert record["classes"] == [list(wanted.classes).index(b[0]) + 1 for b in boxes], f"{name}: {image}"
            got = [[xmin * SIZE[0], ymin * SIZE[1], xmax * SIZE[0], ymax * SIZE[1]]
                   for ymin, xmin, ymax, xmax in record["boxes"]]
            for g, (_, *want) in zip(got, boxes, strict=True):
                assert g == pytest.approx(want, abs=TOLERANCE * SIZE[0]), f"{name}: {image}"
    assert next(decoded, None) is None
    assert seen == {name: set(w.boxes) for name, w in expected.items()}


def _split(wanted) -> dict:
    """The export's own split when every image has one, else shares and a seed that give train and val an image each
    (the build refuses a split that training or evaluation reads to be empty)."""
    from odspec.datasets.split import SplitItem
    from odspec.initspec import choose_seed

    if all(wanted.splits.values()) and {"train", "val"} <= set(wanted.splits.values()):
        return {"from_source": True}
    items = [SplitItem(image, frozenset(b[0] for b in boxes)) for image, boxes in wanted.boxes.items()]
    seed = choose_seed(items, (0.5, 0.5, 0.0))
    assert seed is not None
    return {"train": 0.5, "val": 0.5, "test": 0.0, "seed": seed}
