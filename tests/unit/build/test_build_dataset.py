"""`odspec build` with data: complete outputs, incremental and reproducible, and a failure loses nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import minimal_spec, write_spec

from odspec import api, staging
from odspec.datasets.synthetic import make_shapes
from odspec.errors import DatasetError, SpecError

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


def shapes_spec(folder: Path, **sections: Any) -> Path:
    if not (folder / "data").exists():
        make_shapes(folder / "data", 24, size=(96, 96), max_boxes=3, seed=3)
    spec = minimal_spec(FPNLITE, ["circle", "square"], **sections)
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations",
                       **sections.get("dataset", {})}
    return write_spec(folder, spec)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def changed(result: api.BuildResult) -> dict[str, str]:
    return {c.path.name: c.change for c in result.changes if c.change != "unchanged"}


def test_build_writes_every_output(tmp_path: Path) -> None:
    result = api.build(shapes_spec(tmp_path), workers=1)
    names = sorted(p.name for p in result.out_dir.iterdir())
    assert names == [".cache.json", ".inputs.json", "build.json", "label_map.pbtxt", "pipeline.config", "report.json", "report.png",
                     "splits.json", "test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord",
                     "val-00000-of-00001.tfrecord"]
    manifest = json.loads((result.out_dir / "build.json").read_text())
    assert sum(s["records"] for s in manifest["shards"].values()) == 24
    report = json.loads((result.out_dir / "report.json").read_text())
    assert sum(report["splits"][s]["images"] for s in ("train", "val", "test")) == 24
    assert not any(p.name.startswith(".build.") for p in tmp_path.iterdir())


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    first = snapshot(api.build(spec, tmp_path / "one", workers=1).out_dir)
    second = snapshot(api.build(spec, tmp_path / "two", workers=2).out_dir)
    for name in first:
        if name not in ("pipeline.config", "build.json", ".cache.json", ".inputs.json"):  # these name their folder
            assert first[name] == second[name], name


def test_shards_written_while_the_rest_are_planned_are_the_one_process_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a worker pool, a shard is handed to the writers as soon as it is planned (before the plan is done)."""
    from odspec.datasets.pipeline import ShardPlanner
    from odspec.records.writer import ShardWrites

    events: list[str] = []
    submit, finish = ShardWrites.submit, ShardPlanner.finish
    def started(self: ShardWrites, shard: Any) -> None:
        submit(self, shard)
        if shard.name in self.pending:  # handed to a worker now, not left for after the plan
            events.append(shard.name)

    monkeypatch.setattr(ShardWrites, "submit", started)
    monkeypatch.setattr(ShardPlanner, "finish", lambda self: (events.append("finish"), finish(self))[1])
    spec = shapes_spec(tmp_path, dataset={"shards": 3})
    first = snapshot(api.build(spec, tmp_path / "one", workers=1).out_dir)
    assert events == ["finish"]  # one process: no pool, every shard written after the plan
    events.clear()
    second = snapshot(api.build(spec, tmp_path / "two", workers=2).out_dir)
    shards = sorted(name for name in second if name.endswith(".tfrecord"))
    assert sorted(e for e in events if e != "finish") == shards and len(shards) > 3
    assert events.index("finish") > 0  # at least the first train shard went to the writers before the plan ended
    for name in first:
        if name not in ("pipeline.config", "build.json", ".cache.json", ".inputs.json"):  # these name their folder
            assert first[name] == second[name], name


def test_a_failure_while_shards_are_being_written_early_loses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odspec.datasets.report import ReportTally

    out = api.build(shapes_spec(tmp_path), workers=1).out_dir
    before = snapshot(out)

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # after the planner handed every shard to the writers

    monkeypatch.setattr(ReportTally, "report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.build(shapes_spec(tmp_path, dataset={"shards": 3}), workers=2)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["test"]


def test_one_shard_failing_stops_the_others_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard writer's error (an image changed after it was checked) is the build's error; the other writers are
    stopped before the staging folder goes, so nothing is left beside the previous build."""
    from odspec.records import writer

    out = api.build(shapes_spec(tmp_path), workers=1).out_dir
    before = snapshot(out)
    parts = writer.record_parts
    first = sorted(p.name for p in (tmp_path / "data" / "images").iterdir())[0]

    def changed_under_us(job: Any) -> Any:
        if job.image.path.endswith(first):
            raise DatasetError(f"{job.image.path}: the image changed or disappeared after it was checked")
        return parts(job)

    monkeypatch.setattr(writer, "record_parts", changed_under_us)  # the pool forks after this: its workers too
    with pytest.raises(DatasetError, match="changed or disappeared"):
        api.build(shapes_spec(tmp_path, dataset={"shards": 3}), workers=2)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["test"]


def test_noop_rebuild_rewrites_nothing(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, workers=1).out_dir
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}
    again = api.build(spec, workers=1)
    assert changed(again) == {}
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()} == before


def test_spec_change_rewrites_only_the_config(tmp_path: Path) -> None:
    api.build(shapes_spec(tmp_path), workers=1)
    result = api.build(shapes_spec(tmp_path, train={"steps": 500}), workers=1)
    assert changed(result) == {"pipeline.config": "updated", "build.json": "updated", "spec.lock": "updated"}


def test_changing_one_image_rewrites_only_its_shard(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path, dataset={"shards": 3})
    out = api.build(spec, workers=1).out_dir
    splits = json.loads((out / "splits.json").read_text())["images"]
    image = sorted((tmp_path / "data" / "images").iterdir())[0]
    data = bytearray(image.read_bytes())
    data[-3] ^= 0x01  # a pixel-level change inside the entropy-coded data, still a valid JPEG
    image.write_bytes(bytes(data))
    result = api.build(spec, workers=1)
    rewritten = {n for n, c in changed(result).items() if n.endswith(".tfrecord")}
    assert len(rewritten) == 1
    assert len(json.loads((out / "splits.json").read_text())["images"]) == len(splits)


def test_failed_build_leaves_previous_build_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, workers=1).out_dir
    before = snapshot(out)
    with pytest.raises(SpecError):
        api.build(shapes_spec(tmp_path, overrides={"train_config.no_such_field": 1}), workers=1)
    assert snapshot(out) == before

    from odspec.records import writer

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "write_shards", crash)
    with pytest.raises(KeyboardInterrupt):
        api.build(shapes_spec(tmp_path, train={"max_boxes": 50}), workers=1)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["test"]


def test_crash_between_renames_is_recovered(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, workers=1).out_dir
    before = snapshot(out)
    os.replace(out, out.with_name(".test.old"))  # as if killed after the first rename
    staging.recover(out)
    assert snapshot(out) == before


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = api.build(shapes_spec(tmp_path), dry_run=True, workers=1)
    assert set(changed(result).values()) == {"created"}
    assert not result.out_dir.exists()


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        api.build(write_spec(tmp_path, minimal_spec(FPNLITE)), workers=1)
    assert str(caught.value).startswith(f"no annotated images found in {tmp_path / 'annotations'}")


def test_rebuild_inspects_only_changed_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odspec.datasets import pipeline

    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    seen: list[str] = []
    real = pipeline.inspect_image

    def counting(root: Path, rel: str, **kwargs: Any) -> Any:
        seen.append(rel)
        return real(root, rel, **kwargs)

    monkeypatch.setattr(pipeline, "inspect_image", counting)
    api.build(shapes_spec(tmp_path, train={"steps": 500}), workers=1)
    assert seen == []
    image = sorted((tmp_path / "data" / "images").iterdir())[5]
    image.write_bytes(image.read_bytes())  # same bytes, new mtime: looked at again, nothing rewritten
    result = api.build(spec, workers=1)
    assert seen == [image.name]
    assert {n for n, c in changed(result).items() if n.endswith(".tfrecord")} == set()
