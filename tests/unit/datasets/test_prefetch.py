"""Inspections started before the annotations are read: the same answers as inspecting on demand."""

from __future__ import annotations

import os
import shutil
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.datasets import pipeline, prefetch
from odspec.datasets.images import inspect_image
from odspec.datasets.synthetic import make_shapes


def no_progress(_label: str, _total: int) -> Any:
    return lambda _n: None


def test_image_files_lists_images_below_the_root_in_path_order_and_skips_hidden_folders(tmp_path: Path) -> None:
    for name in ("b/2.JPG", "b/1.png", "a.jpeg", ".hidden/x.jpg", "notes.txt", "c/d/e.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert prefetch.image_files(tmp_path) == ["a.jpeg", "b/1.png", "b/2.JPG", "c/d/e.webp"]
    assert prefetch.image_files(tmp_path, most=3) is None  # a tree far larger than a dataset: not listed


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prefetch") / "data"
    make_shapes(root, 90, size=(48, 48), max_boxes=2, seed=5)
    return root / "images"


def test_taken_inspections_equal_inspections_on_demand_whatever_is_needed(images: Path) -> None:
    listed = prefetch.image_files(images)
    assert listed is not None and len(listed) == 90
    needed = listed[5:40:3] + listed[60:]  # listed images nobody needs are skipped, unsent after need()
    with get_context("fork").Pool(2) as pool:
        started = prefetch.start_prefetch(pipeline.inspect_one, images, verify=False, pool=pool,
                                          fresh=lambda rel: True, least=1)
        assert started is not None
        started.need(needed)
        taken = {rel: started.take(rel) for rel in needed}
        with pytest.raises(ValueError, match="was not listed"):
            started.take(listed[0])  # before the last one taken
    assert taken == {rel: inspect_image(images, rel) for rel in needed}


def test_iter_inspected_mixes_prefetched_cached_and_unlisted_images(images: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(images, root / "images")
    (root / ".hidden").mkdir()
    shutil.copy(root / "images" / sorted(os.listdir(root / "images"))[0], root / ".hidden" / "a.jpg")
    rels = sorted([f"images/{n}" for n in os.listdir(root / "images")] + [".hidden/a.jpg", "images/missing.jpg"])
    expected = list(pipeline.iter_inspected(root, rels, {}, verify=False, workers=1, progress=no_progress))
    cache = {rel: entry for rel, _info, entry in expected[::4] if entry is not None}
    with get_context("fork").Pool(2) as pool:
        started = prefetch.start_prefetch(pipeline.inspect_one, root, verify=False, pool=pool, least=1,
                                          fresh=lambda rel: pipeline._needs_inspection(root, rel, cache, False))
        assert started is not None and ".hidden/a.jpg" not in started.rels
        got = list(pipeline.iter_inspected(root, rels, cache, verify=False, workers=2, progress=no_progress,
                                           pool=pool, prefetch=started))
    assert got == expected  # the same inspections and cache entries, in the same order


def test_a_build_is_the_same_with_and_without_prefetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_shapes(tmp_path / "data", 80, size=(48, 48), max_boxes=2, seed=9)
    (tmp_path / "data" / "images" / "extra").mkdir()
    for index in range(3):  # listed and inspected early, but no annotation names them
        shutil.copy(next((tmp_path / "data" / "images").glob("*.jpg")),
                    tmp_path / "data" / "images" / "extra" / f"{index}.jpg")
    spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations"}
    path = write_spec(tmp_path, spec)
    started: list[object] = []
    real = pipeline.start_prefetch

    def spy(*args: Any, **kwargs: Any) -> object:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(pipeline, "start_prefetch", spy)
    first = api.build(path, tmp_path / "with", workers=2)
    assert started and started[0] is not None
    monkeypatch.setattr(pipeline, "start_prefetch", lambda *args, **kwargs: None)
    second = api.build(path, tmp_path / "without", workers=2)
    for name in sorted(p.name for p in first.out_dir.iterdir() if p.name not in ("pipeline.config", "build.json", ".inputs.json")):  # these name the folder
        assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes(), name
