"""`odspec build`: writes atomically, rewrites nothing unchanged, and a failed build loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import minimal_spec, write_spec
from odspec import api
from odspec.errors import SpecError

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"



def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_writes_config_label_map_and_manifest(tmp_path: Path) -> None:
    result = api.build(write_spec(tmp_path, minimal_spec(FPNLITE, ["cat", "dog"])))
    assert result.out_dir == tmp_path / "build" / "test"
    assert [(c.path.name, c.change) for c in result.changes] == [
        ("pipeline.config", "created"), ("label_map.pbtxt", "created"), ("build.json", "created")]
    assert sorted(snapshot(result.out_dir)) == ["build.json", "label_map.pbtxt", "pipeline.config"]
    config = (result.out_dir / "pipeline.config").read_text()
    assert f'label_map_path: "{result.out_dir}/label_map.pbtxt"' in config
    assert f'input_path: "{result.out_dir}/train-?????-of-?????.tfrecord"' in config


def test_same_spec_gives_identical_bytes_and_rewrites_nothing(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec(FPNLITE))
    first = api.build(spec)
    before = snapshot(first.out_dir)
    mtimes = {p.name: p.stat().st_mtime_ns for p in first.out_dir.iterdir()}
    second = api.build(spec)
    assert {c.change for c in second.changes} == {"unchanged"}
    assert snapshot(second.out_dir) == before
    assert {p.name: p.stat().st_mtime_ns for p in second.out_dir.iterdir()} == mtimes


def test_changed_spec_updates_only_what_changed(tmp_path: Path) -> None:
    api.build(write_spec(tmp_path, minimal_spec(FPNLITE)))
    result = api.build(write_spec(tmp_path, minimal_spec(FPNLITE, train={"steps": 500})))
    assert [(c.path.name, c.change) for c in result.changes] == [
        ("pipeline.config", "updated"), ("label_map.pbtxt", "unchanged"), ("build.json", "updated")]


def test_failed_build_leaves_previous_build_intact(tmp_path: Path) -> None:
    first = api.build(write_spec(tmp_path, minimal_spec(FPNLITE)))
    before = snapshot(first.out_dir)
    with pytest.raises(SpecError):
        api.build(write_spec(tmp_path, minimal_spec(FPNLITE, overrides={"train_config.no_such_field": 1})))
    assert snapshot(first.out_dir) == before


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = api.build(write_spec(tmp_path, minimal_spec(FPNLITE)), dry_run=True)
    assert {c.change for c in result.changes} == {"created"}
    assert not result.out_dir.exists()


def test_out_dir_option(tmp_path: Path) -> None:
    result = api.build(write_spec(tmp_path, minimal_spec(FPNLITE)), tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "pipeline.config").is_file()
    assert result.out_dir == tmp_path / "elsewhere"
