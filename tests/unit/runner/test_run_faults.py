"""Faults around ``odspec run``: a refused run changes nothing; a crashed evaluator is restarted once. No TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO, minimal_spec, tree_digest, write_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reconcile"))
from reconcile_support import write_checkpoint, write_index  # noqa: E402

from odspec import api  # noqa: E402
from odspec.datasets.synthetic import make_shapes  # noqa: E402
from odspec.reconcile.errors import ReconcileError  # noqa: E402
from odspec.reconcile.record import new_run_record, write_run_record  # noqa: E402
from odspec.runner.session import versions  # noqa: E402

ARCH = "ssd_mobilenet_v2_fpnlite_320"


def shapes_spec(folder: Path, **sections: Any) -> Path:
    if not (folder / "data").exists():
        make_shapes(folder / "data", 12, size=(64, 64), max_boxes=2, seed=5)
    spec = minimal_spec(ARCH, ["circle", "square"], **sections)
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations",
                       **sections.get("dataset", {})}
    return write_spec(folder, spec)


def trained(folder: Path) -> Path:
    """A build of the shapes spec and a model dir with one checkpoint trained on it (written without TF)."""
    spec = shapes_spec(folder)
    built = api.build(spec, workers=1)
    model_dir = folder / "runs" / "test"
    write_checkpoint(model_dir, 1, 100)
    write_index(model_dir, "ckpt-1", ["ckpt-1"])
    write_run_record(model_dir, new_run_record(api.validate(spec, check_data=False).loaded.spec, built.out_dir,
                                               versions()))
    return model_dir


def odspec_run(spec: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "odspec", "run", str(spec)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_refused_run_leaves_build_and_checkpoints_as_they_were(tmp_path: Path) -> None:
    model_dir = trained(tmp_path)
    spec = shapes_spec(tmp_path, model={"architecture": ARCH, "input_size": 384})
    before = tree_digest(tmp_path)
    done = odspec_run(spec)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {model_dir}: refusing to resume: model.input_size changed since these checkpoints were written "
        "(step 100). Train into a new model directory (--model-dir) or start over with --restart.")
    assert "Traceback" not in done.stderr
    assert tree_digest(tmp_path) == before


def test_a_run_refused_for_its_records_is_decided_by_a_dry_run(tmp_path: Path) -> None:
    model_dir = trained(tmp_path)
    spec = shapes_spec(tmp_path, dataset={"shards": 2})
    before = tree_digest(tmp_path)
    with pytest.raises(ReconcileError) as refused:
        api.run(spec)
    assert str(refused.value) == (
        f"{model_dir}: refusing to resume: dataset (records), dataset.shards changed since these checkpoints were "
        "written (step 100). Train into a new model directory (--model-dir) or start over with --restart.")
    assert tree_digest(tmp_path) == before
