"""`odspec build --dry-run` is the build with writing off: its list is what the following real build does.

Each case takes the tree's bytes before, asks the dry run, checks that nothing
changed anywhere (the project folder, and no scratch left in the temporary
folder), then builds for real and derives from the bytes on disk what the
build created, updated, left or removed; the dry run's list must equal it.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import minimal_spec, tree_digest, write_spec

from odspec import api
from odspec.datasets.synthetic import make_shapes

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


@pytest.fixture(autouse=True)
def own_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scratch check looks at the temporary folder: this test's own, since the other test worker's plans and
    dry runs make and remove scratch folders in the system's at any moment."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again


def shapes_spec(folder: Path, **dataset: Any) -> Path:
    if not (folder / "data").exists():
        make_shapes(folder / "data", 24, size=(96, 96), max_boxes=3, seed=3)
    spec = minimal_spec(FPNLITE, ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations", **dataset}
    return write_spec(folder, spec)


def outputs(out: Path) -> dict[str, str]:
    """sha256 of every output a user sees (the hidden cache and signature are not listed by a build), and of the
    lock file beside the spec."""
    lock = out.parents[1] / "spec.lock"
    found = {lock.name: hashlib.sha256(lock.read_bytes()).hexdigest()} if lock.is_file() else {}
    if not out.is_dir():
        return found
    return {**found, **{p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()
                        if not p.name.startswith(".")}}


def on_disk(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """What a build did, read from the bytes: created, updated, unchanged or removed, by file name."""
    done = {name: "removed" for name in before if name not in after}
    for name, digest in after.items():
        done[name] = "created" if name not in before else "unchanged" if before[name] == digest else "updated"
    return done


def listed(result: api.BuildResult) -> dict[str, str]:
    names = [c.path.name for c in result.changes]
    assert len(names) == len(set(names)), "a file is listed twice"
    return {c.path.name: c.change for c in result.changes}


def scratch() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("odspec-dry-run")}


def dry_run_then_build(project: Path, spec: Path) -> dict[str, str]:
    """Assert the dry run writes nothing and lists what the real build then does; returns that list."""
    out = project / "build" / "test"
    tree, temporary, before = tree_digest(project), scratch(), outputs(out)
    dry = api.build(spec, dry_run=True, workers=1)
    assert dry.dry_run
    assert tree_digest(project) == tree and scratch() == temporary
    real = api.build(spec, workers=1)
    done = on_disk(before, outputs(out))
    assert listed(dry) == done
    assert listed(real) == done
    assert [(c.path, c.change) for c in dry.changes] == [(c.path, c.change) for c in real.changes]  # same order too
    assert dry.report_table == real.report_table
    return done


def repaint(image: Path) -> None:
    with Image.open(image) as opened:
        pixels = opened.convert("RGB")
    pixels.putpixel((1, 1), (255, 0, 0) if pixels.getpixel((1, 1)) != (255, 0, 0) else (0, 0, 255))
    pixels.save(image, format=opened.format)


def test_first_build(tmp_path: Path) -> None:
    done = dry_run_then_build(tmp_path, shapes_spec(tmp_path))
    assert sorted(done) == ["build.json", "label_map.pbtxt", "pipeline.config", "report.json", "report.png",
                            "spec.lock", "splits.json", "test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord",
                            "val-00000-of-00001.tfrecord"]
    assert set(done.values()) == {"created"}


def test_a_first_dry_run_creates_not_even_the_build_folders_parent(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    before = tree_digest(tmp_path)
    result = api.build(spec, dry_run=True, workers=1)
    assert len(result.changes) == 10 and {c.change for c in result.changes} == {"created"}
    assert not (tmp_path / "build").exists() and tree_digest(tmp_path) == before


def test_noop_rebuild(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    done = dry_run_then_build(tmp_path, spec)
    assert set(done.values()) == {"unchanged"} and len(done) == 10


def test_touched_image_same_bytes(tmp_path: Path) -> None:
    """The signature no longer matches, so both look at the data, and both find nothing to rewrite."""
    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    image = sorted((tmp_path / "data" / "images").iterdir())[2]
    image.write_bytes(image.read_bytes())
    done = dry_run_then_build(tmp_path, spec)
    assert set(done.values()) == {"unchanged"}


def test_one_image_changed(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    repaint(sorted((tmp_path / "data" / "images").iterdir())[5])
    done = dry_run_then_build(tmp_path, spec)
    changed = sorted(name for name, change in done.items() if change != "unchanged")
    assert len(changed) == 3 and changed[:2] == ["build.json", "spec.lock"] and changed[2].endswith(".tfrecord")
    assert done[changed[2]] == "updated"


def test_fewer_shards_are_listed_as_removed(tmp_path: Path) -> None:
    first = api.build(shapes_spec(tmp_path, shards=2), workers=1)
    two = sorted(c.path.name for c in first.changes if c.path.name.endswith("-of-00002.tfrecord"))
    assert "train-00001-of-00002.tfrecord" in two
    done = dry_run_then_build(tmp_path, shapes_spec(tmp_path, shards=1))
    assert sorted(name for name, change in done.items() if change == "removed") == two


def test_a_dry_run_waits_for_a_running_build_without_a_lock_file_of_its_own(tmp_path: Path) -> None:
    from odspec.errors import BuildError
    from odspec.staging import build_lock

    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    out = tmp_path / "build" / "test"
    with build_lock(out), pytest.raises(BuildError) as busy:
        api.build(spec, dry_run=True, workers=1, wait=False)
    assert str(busy.value).startswith(f"another odspec build of {out} is running (pid ")
    assert not out.with_name(".test.lock").exists()


def test_a_dry_run_does_not_recover_an_interrupted_swap_but_reads_it(tmp_path: Path) -> None:
    import os

    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    out = tmp_path / "build" / "test"
    os.replace(out, out.with_name(".test.old"))  # as if killed between the two renames
    before = tree_digest(tmp_path)
    result = api.build(spec, dry_run=True, workers=1)
    assert {c.change for c in result.changes} == {"unchanged"}
    assert tree_digest(tmp_path) == before
