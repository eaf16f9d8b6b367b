"""Faults around ``odspec run``: a refused run changes nothing; a crashed evaluator is restarted once. No TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO, minimal_spec, tree_digest, write_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reconcile"))
from reconcile_support import write_checkpoint, write_index

from odspec import api
from odspec.datasets.synthetic import make_shapes
from odspec.errors import ReconcileError
from odspec.reconcile.record import new_run_record, write_run_record
from odspec.runner.run_events import EvaluatorRestartedEvent, RunEvent
from odspec.runner.session import versions

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


# --- a crashed evaluator -------------------------------------------------------------------------------------------

FAKE_LAUNCHER = '''
"""Stands in for odspec.runner.launcher: the same argv and JSON lines, checkpoints written without TensorFlow."""
import json, os, signal, sys, time
from pathlib import Path
from reconcile_support import write_checkpoint
from odspec.reconcile.bundle import read_int_variable

def emit(record):
    print(json.dumps(record), flush=True)

def option(name):
    return sys.argv[sys.argv.index(name) + 1]

model_dir = Path(option("--model-dir"))
if sys.argv[1] == "train":
    steps, every = int(option("--num-steps")), int(option("--checkpoint-every"))
    for number, step in enumerate(range(every, steps + 1, every), start=1):
        write_checkpoint(model_dir, number, step)
        emit({"event": "checkpoint", "checkpoint": f"ckpt-{number}", "step": step, "time": time.time()})
    emit({"trained_to": steps, "checkpoints": [], "step_seconds": None, "trace_seconds": None})
else:
    emit({"event": "eval-ready"})
    for line in sys.stdin:
        path = Path(line.strip())
        emit({"event": "eval-start", "checkpoint": path.name, "time": time.time()})
        crashes = model_dir.parent / "crashes"
        if os.environ["FAKE_EVAL_CRASH"] == "always" or not crashes.exists():
            crashes.write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        step = read_int_variable(path)
        emit({"event": "evaluated", "checkpoint": path.name, "step": step, "path": str(path),
              "metrics": {"DetectionBoxes_Precision/mAP": step / 1000}, "seconds": 0.0})
'''


def fake_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: str) -> tuple[Path, list[RunEvent]]:
    """``execute`` with the fake launcher for both children: 3 checkpoints, each due for evaluation."""
    from reconcile_support import record, spec_dict

    from odspec.runner.session import RunSetup, Selection, execute

    (tmp_path / "fake_launcher.py").write_text(FAKE_LAUNCHER)
    paths = [tmp_path, Path(__file__).resolve().parents[1] / "reconcile", REPO / "tests", REPO]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, paths)))
    monkeypatch.setenv("FAKE_EVAL_CRASH", crash)
    model_dir = tmp_path / "runs"
    setup = RunSetup(pipeline_config=tmp_path / "pipeline.config", build_dir=tmp_path, model_dir=model_dir,
                     record=record(spec_dict()), action="start", start_step=0, num_steps=300,
                     checkpoint_every=100, eval_every=100, keep=5,
                     selection=Selection("DetectionBoxes_Precision/mAP", "max", None))
    events: list[RunEvent] = []
    execute(setup, events.append, poll_seconds=0.1, launcher="fake_launcher")
    return model_dir, events


def test_a_crashed_evaluator_is_restarted_once_and_every_checkpoint_evaluated_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odspec.runner.display import RunDisplay
    from odspec.runner.metrics import read_metrics

    model_dir, events = fake_run(tmp_path, monkeypatch, "once")
    assert [(row.step, row.checkpoint) for row in read_metrics(model_dir)] == [
        (100, "ckpt-1"), (200, "ckpt-2"), (300, "ckpt-3")]
    restarts = [e for e in events if isinstance(e, EvaluatorRestartedEvent)]
    assert len(restarts) == 1 and restarts[0].checkpoints[0] == "ckpt-1"
    shown: list[str] = []
    RunDisplay(mode="plain", write=lambda text, _live: shown.append(text))(restarts[0])
    assert shown == [f"warning: the evaluator exited (signal 9); restarted it, re-evaluating "
                     f"{', '.join(restarts[0].checkpoints)}"]
    assert not list((model_dir / ".pending").glob("ckpt-*"))


def test_an_evaluator_that_crashes_again_stops_the_run_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odspec.errors import RunError

    with pytest.raises(RunError) as stopped:
        fake_run(tmp_path, monkeypatch, "always")
    assert "fake_launcher eval-serve" in str(stopped.value) and "signal 9" in str(stopped.value).lower()
    assert "eval-start" in str(stopped.value)
