"""Splits across builds: adding images never moves one, duplicates never straddle splits, a no-op rebuild touches nothing."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from support import minimal_spec, write_spec

from odspec import api
from odspec.datasets.synthetic import make_shapes
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"
SPLITS = ("train", "val", "test")
SHAPES = {"size": (64, 64), "max_boxes": 2, "seed": 11}


def shapes_spec(folder: Path, images: int, **dataset: Any) -> Path:
    """``images`` synthetic images (image i never depends on how many there are) and a VOC spec over them."""
    make_shapes(folder / "data", images, **SHAPES)
    spec = minimal_spec(FPNLITE, ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations",
                       "split": {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 4}, **dataset}
    return write_spec(folder, spec)


def splits(out: Path) -> dict[str, str]:
    found: dict[str, str] = json.loads((out / "splits.json").read_text())["images"]
    return found


def identities(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file of the build (hidden ones too) and the folder itself: inode, mtime, size."""
    found = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    found["."] = (folder.stat().st_ino, folder.stat().st_mtime_ns, 0)
    return found


def records_by_split(out: Path) -> dict[str, list[dict[str, list[Any]]]]:
    found: dict[str, list[dict[str, list[Any]]]] = defaultdict(list)
    for shard in sorted(out.glob("*.tfrecord")):
        found[shard.name.split("-")[0]].extend(parse_example(data) for data in read_records(shard))
    return found


def copy_with_annotation(data: Path, original: str, copy: str) -> None:
    """A byte-identical image under another name, annotated like the original."""
    shutil.copyfile(data / "images" / f"{original}.jpg", data / "images" / f"{copy}.jpg")
    xml = (data / "annotations" / f"{original}.xml").read_text().replace(f"{original}.jpg", f"{copy}.jpg")
    (data / "annotations" / f"{copy}.xml").write_text(xml)


def assert_noop(spec: Path, out: Path) -> None:
    before = identities(out)
    outputs = json.loads((out / "build.json").read_text())["outputs"]
    again = api.build(spec, workers=1)
    assert sorted(c.path.name for c in again.changes) == sorted([*outputs, "spec.lock"])
    assert {c.change for c in again.changes} == {"unchanged"}
    assert identities(out) == before


def test_adding_images_keeps_every_split_config_and_label_map(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 30)
    out = api.build(spec, workers=1).out_dir
    first = splits(out)
    config, label_map = (out / "pipeline.config").read_bytes(), (out / "label_map.pbtxt").read_bytes()
    assert len(first) == 30
    assert set(first.values()) == set(SPLITS)
    assert_noop(spec, out)

    spec = shapes_spec(tmp_path, 40)  # rewrites the 30 originals with the same bytes, adds 10
    result = api.build(spec, workers=1)
    second = splits(out)
    assert {name: second[name] for name in first} == first
    added = set(second) - set(first)
    assert added == {f"shape_{i:04d}.jpg" for i in range(30, 40)}
    assert all(second[name] in SPLITS for name in added)
    changes = {c.path.name: c.change for c in result.changes}
    assert changes["pipeline.config"] == changes["label_map.pbtxt"] == "unchanged"
    assert (out / "pipeline.config").read_bytes() == config
    assert (out / "label_map.pbtxt").read_bytes() == label_map
    written = records_by_split(out)
    assert sum(len(r) for r in written.values()) == 40
    for split, found in written.items():
        assert {r["image/filename"][0].decode() for r in found} == {n for n, s in second.items() if s == split}
    assert_noop(spec, out)


def test_byte_identical_images_never_straddle_splits(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 20, on_bad_annotation="skip_image")
    data = tmp_path / "data"
    pairs = [(f"shape_{i:04d}", f"shape_{i:04d}_copy") for i in range(0, 20, 2)]
    for original, copy in pairs:
        copy_with_annotation(data, original, copy)
    result = api.build(spec, workers=1)
    out = result.out_dir

    assigned = splits(out)
    for original, copy in pairs:
        assert [n for n in (f"{original}.jpg", f"{copy}.jpg") if n in assigned] == [f"{original}.jpg"]
    report = json.loads((out / "report.json").read_text())
    assert report["findings"]["by_action"]["image skipped"] == [
        {"file": f"{copy}.jpg", "line": None, "what": f"same bytes as {original}.jpg"} for original, copy in pairs]
    assert [str(f) for f in result.findings if not f.action.startswith("warning")] == [
        f"{copy}.jpg: same bytes as {original}.jpg (image skipped)" for original, copy in pairs]
    splits_of_bytes: dict[bytes, set[str]] = defaultdict(set)
    count = 0
    for split, found in records_by_split(out).items():
        for record in found:
            splits_of_bytes[record["image/key/sha256"][0]].add(split)
            count += 1
    assert count == len(splits_of_bytes) == 20
    assert all(len(s) == 1 for s in splits_of_bytes.values())


def test_a_copy_added_later_never_moves_the_bytes_to_another_split(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, 20, on_bad_annotation="skip_image")
    out = api.build(spec, workers=1).out_dir
    first = splits(out)
    split_of_bytes = {r["image/key/sha256"][0]: split for split, found in records_by_split(out).items() for r in found}
    for i in range(20):
        copy_with_annotation(tmp_path / "data", f"shape_{i:04d}", f"a_copy_{i:04d}")  # sorts before the original
    api.build(spec, workers=1)
    after = {r["image/key/sha256"][0]: split for split, found in records_by_split(out).items() for r in found}
    assert after == split_of_bytes
    assert {n: s for n, s in splits(out).items() if n in first} == first
