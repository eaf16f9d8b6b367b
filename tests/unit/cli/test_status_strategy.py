"""``odspec status`` shows the strategy: the spec's, and the one the checkpoints here were last trained under.

A change of device count with the same global batch resumes (odspec.reconcile.plan.SAFE_FIELDS), so the two can
differ on a model directory that is still resumable; status says so rather than hiding it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import REPO, minimal_spec, write_spec

from odspec import api
from odspec.reconcile.record import RUN_RECORD, read_run_record, run_record_of, write_run_record
from odspec.runner.session import versions


def odspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def project(folder: Path, runtime: dict[str, object]) -> Path:
    spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", train={"steps": 20, "batch_size": 8}, runtime=runtime)
    spec["dataset"]["shards"] = 2  # each of 2 workers reads its own
    return write_spec(folder, spec)


def trained_as(spec: Path, runtime: dict[str, object], tmp_path: Path) -> Path:
    """The model directory of ``spec`` holding the run record a run of ``runtime`` would have written."""
    other = api.validate(project(tmp_path / "other", runtime), check_data=False)
    record = run_record_of(other.loaded.spec, other.out_dir, versions(), config=other.files["pipeline.config"],
                           label_map=other.files["label_map.pbtxt"], dataset_sha256="d")
    model_dir = api.status(spec).model_dir
    model_dir.mkdir(parents=True)
    write_run_record(model_dir, record)
    return model_dir


def test_a_new_project_shows_the_specs_strategy(tmp_path: Path) -> None:
    spec = project(tmp_path, {"accelerator": "gpu", "replicas": 4})
    shown = odspec("status", str(spec))
    assert shown.returncode == 0, shown.stderr
    assert "\nstrategy: MirroredStrategy over 4 GPUs: 4 replicas\n" in shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert (data["strategy"], data["replicas"], data["workers"]) == ("MirroredStrategy over 4 GPUs: 4 replicas", 4, 1)
    assert (data["trained_strategy"], data["trained_replicas"], data["trained_workers"]) == (None, None, None)


def test_the_run_record_keeps_what_it_trained_under(tmp_path: Path) -> None:
    spec = project(tmp_path, {"accelerator": "cpu", "replicas": 2, "workers": 2})
    model_dir = trained_as(spec, {"accelerator": "cpu", "replicas": 2, "workers": 2}, tmp_path)
    record = read_run_record(model_dir)
    assert record is not None
    assert (record.replicas, record.workers) == (4, 2)
    assert record.strategy == "MultiWorkerMirroredStrategy over 2 logical CPU devices on each of 2 workers: 4 replicas"
    shown = odspec("status", str(spec))
    assert f"\nstrategy: {record.strategy}\n" in shown.stdout  # the same: said once


def test_fewer_devices_than_the_checkpoints_had_resume_and_status_says_both(tmp_path: Path) -> None:
    spec = project(tmp_path, {"accelerator": "cpu"})
    trained_as(spec, {"accelerator": "gpu", "replicas": 4}, tmp_path)
    found = api.status(spec)
    assert found.verdict == "new"  # no checkpoints yet: only the record; the verdict is not the point here
    shown = odspec("status", str(spec))
    assert ("\nstrategy: the default strategy on the CPU; the checkpoints here were last trained under "
            "MirroredStrategy over 4 GPUs: 4 replicas\n") in shown.stdout, shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert (data["replicas"], data["trained_replicas"], data["trained_workers"]) == (1, 4, 1)


def test_a_record_from_before_odspec_kept_the_strategy_says_it_does_not_know(tmp_path: Path) -> None:
    spec = project(tmp_path, {"accelerator": "cpu"})
    model_dir = trained_as(spec, {"accelerator": "cpu"}, tmp_path)
    text = json.loads((model_dir / RUN_RECORD).read_text())
    for key in ("strategy", "replicas", "workers"):
        del text[key]
    (model_dir / RUN_RECORD).write_text(json.dumps(text))
    shown = odspec("status", str(spec))
    assert "its record is from an earlier odspec" in shown.stdout, shown.stdout
    assert json.loads(odspec("status", str(spec), "--json").stdout)["trained_strategy"] is None
