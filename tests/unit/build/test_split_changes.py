"""Changing dataset.split on an existing build re-splits, says how many images moved, and equals a clean build."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from support import minimal_spec, tree_digest, write_spec

from odspec import api
from odspec.datasets.split import moved_count
from odspec.datasets.synthetic import make_shapes

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


def shapes_spec(folder: Path, images: int, **split: Any) -> Path:
    if not (folder / "data").exists():
        make_shapes(folder / "data", images, size=(64, 64), max_boxes=2, seed=11)
    spec = minimal_spec(FPNLITE, ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations",
                       "split": {"train": 0.7, "val": 0.2, "test": 0.1, "seed": 0, **split}}
    return write_spec(folder, spec)


def built(out: Path) -> dict[str, Any]:
    """What must be equal between two builds of one spec: splits.json and every shard's bytes."""
    digests = tree_digest(out)
    return {"splits": json.loads((out / "splits.json").read_text()),
            "shards": {name: digest for name, digest in digests.items() if name.endswith(".tfrecord")}}


def split_notes(result: Any) -> list[str]:
    return [str(f) for f in result.findings if f.file == "dataset.split"]


def test_changed_ratios_re_split_like_a_clean_build_and_say_how_many_moved(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 60)
    out = api.build(spec, workers=1).out_dir
    first = built(out)
    assert first["splits"]["settings"] == {"train": 0.7, "val": 0.2, "test": 0.1, "seed": 0, "from_source": False}
    data_before = tree_digest(tmp_path / "data")

    spec = shapes_spec(tmp_path, 60, train=0.4, val=0.3, test=0.3)
    result = api.build(spec, workers=1)
    incremental = built(out)
    moved, placed = moved_count(first["splits"]["images"], incremental["splits"]["images"])
    assert placed == 60 and moved > 0
    assert split_notes(result) == [
        "dataset.split: changed (train/val/test 0.7/0.2/0.1 seed 0 -> train/val/test 0.4/0.3/0.3 seed 0): re-split, "
        f"{moved} of 60 images moved split (warning: a clean build of this spec splits the same way)"]
    assert tree_digest(tmp_path / "data") == data_before

    shutil.rmtree(out)
    clean = api.build(spec, workers=1)
    assert split_notes(clean) == []
    assert built(out) == incremental


def test_a_changed_seed_re_splits_and_an_unchanged_spec_says_nothing(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 30)
    out = api.build(spec, workers=1).out_dir
    result = api.build(shapes_spec(tmp_path, 30, seed=5), workers=1)
    assert [n.split(": re-split")[0] for n in split_notes(result)] == [
        "dataset.split: changed (train/val/test 0.7/0.2/0.1 seed 0 -> train/val/test 0.7/0.2/0.1 seed 5)"]
    again = api.build(shapes_spec(tmp_path, 31, seed=5), workers=1)  # same settings, one image more
    assert split_notes(again) == []
    assert json.loads((out / "splits.json").read_text())["settings"]["seed"] == 5


def test_a_splits_json_without_settings_is_re_split_and_said_so(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 20)
    out = api.build(spec, workers=1).out_dir
    document = json.loads((out / "splits.json").read_text())
    clean = built(out)
    old = dict.fromkeys(document["images"], "test")  # the first format: a bare {image: split}
    (out / "splits.json").write_text(json.dumps(old))
    spec.write_text(spec.read_text() + "# not a no-op\n")
    result = api.build(spec, workers=1)
    moved, _ = moved_count(old, document["images"])
    assert split_notes(result) == [
        "dataset.split: changed (settings not recorded (splits.json of an earlier odspec) -> train/val/test "
        f"0.7/0.2/0.1 seed 0): re-split, {moved} of 20 images moved split (warning: a clean build of this spec "
        "splits the same way)"]
    assert built(out) == clean


def test_a_build_after_an_interrupted_swap_remembers_the_splits_of_the_build_it_recovers(tmp_path: Path) -> None:
    """Killed between the two renames, a build leaves only `.test.old`; the next build recovers it, and must read
    its splits (and cache) before the recovery moves it back, or it would re-split as if there were no build."""
    spec = shapes_spec(tmp_path, 40)
    out = api.build(spec, workers=1).out_dir
    os.replace(out, out.with_name(f".{out.name}.old"))  # as if killed after the first rename
    result = api.build(shapes_spec(tmp_path, 40, seed=5), workers=1)
    assert [note.split(":")[1] for note in split_notes(result)] == [
        " changed (train/val/test 0.7/0.2/0.1 seed 0 -> train/val/test 0.7/0.2/0.1 seed 5)"]
    assert not out.with_name(f".{out.name}.old").exists()
