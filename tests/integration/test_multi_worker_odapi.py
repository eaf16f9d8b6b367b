"""Two workers on this machine through the real OD API: MultiWorkerMirroredStrategy over 127.0.0.1.

Each worker is its own ``odspec run`` with the TF_CONFIG a TFJob or Vertex AI would set (a cluster of two
``worker`` tasks; worker 0 is the chief), sharing one model directory as pods share a volume. The chief
builds, writes the run record and the checkpoints, keeps the best and decides early stopping; worker 1 waits
for its run record, then trains beside it. Who evaluates is the parameter: the chief (``runtime.evaluator:
chief``, the default), or a third ``odspec run``, the cluster's ``evaluator`` task (``evaluator: task``), which
the chief asks through the model directory (``runner/mailbox.py``). Early stopping (patience 1, a min_delta
nothing reaches) must end every process cleanly at the same iteration: a worker killed mid-step would leave the
other waiting forever, and the evaluator must end when the chief's run does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import loopback_tf_configs, variant

from odspec.runner.metrics import read_metrics

pytestmark = pytest.mark.odapi

EVERY = 20
TIMEOUT = 1200  # seconds for both; tracing alone takes 1-2 minutes when two trainers and an evaluator share 2 cores


def _events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module", params=["chief", "task"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    evaluator = request.param
    folder = tmp_path_factory.mktemp(f"cluster-{evaluator}")
    spec = variant(folder, "two", {"train.steps": 2000, "train.checkpoint_every": EVERY, "train.batch_size": 4,
                                   "train.learning_rate.warmup_steps": 10, "dataset.shards": 2,
                                   "runtime": {"accelerator": "cpu", "workers": 2, "evaluator": evaluator},
                                   "early_stopping": {"patience": 1, "min_delta": 0.9}})
    model_dir = folder / "runs"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "odspec", "run", str(spec), "--model-dir", str(model_dir), "--output", "json",
         "--no-export"], env={**os.environ, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for tf_config in loopback_tf_configs(2, evaluator == "task")]
    outputs = []
    try:
        outputs.extend(proc.communicate(timeout=TIMEOUT)[0] for proc in procs)
    finally:
        for proc in procs:
            proc.kill()
    return {"spec": spec, "model_dir": model_dir, "codes": [p.returncode for p in procs], "outputs": outputs,
            "events": [_events(o) for o in outputs], "evaluator": evaluator}


def test_every_task_ends_cleanly(cluster: dict[str, Any]) -> None:
    assert cluster["codes"] == [0] * len(cluster["codes"]), "\n\n".join(o[-3000:] for o in cluster["outputs"])


def test_both_train_under_multi_worker_mirrored_strategy(cluster: dict[str, Any]) -> None:
    for events in cluster["events"][:2]:
        (plan,) = [e for e in events if e["event"] == "plan"]
        assert plan["strategy"] == ("MultiWorkerMirroredStrategy over the CPU on each of 2 workers: 2 replicas, "
                                    "global batch 4, 2 per replica")
        (devices,) = [e for e in events if e["event"] == "devices"]
        assert devices["strategy"] == "multi_worker" and devices["replicas"] == 2
    chief, worker = (next(e for e in events if e["event"] == "plan")["task"] for events in cluster["events"][:2])
    assert chief.startswith("worker 0, the chief of 2 workers") and worker.startswith("worker 1 of 2 workers")
    separate = cluster["evaluator"] == "task"
    assert ("has the evaluator task evaluate them" in chief) == separate


def test_one_task_evaluates_the_chief_decides_and_the_early_stop_ends_all(cluster: dict[str, Any]) -> None:
    model_dir = cluster["model_dir"]
    rows = read_metrics(model_dir)
    assert [r.step for r in rows] == [EVERY, 2 * EVERY]  # patience 1: the second evaluation stops it
    chief, worker, *evaluator = cluster["events"]
    assert [e["event"] for e in chief if e["event"] == "early-stop"] == ["early-stop"]
    assert [e["step"] for e in chief if e["event"] == "evaluated"] == [EVERY, 2 * EVERY]  # the chief keeps them
    assert not [e for e in worker if e["event"] in ("eval-start", "evaluated", "early-stop")]
    finished = [[e["trained_to"] for e in events if e["event"] == "train-finished"] for events in (chief, worker)]
    assert finished[0] == finished[1] and len(finished[0]) == 1 and finished[0][0] < 2000
    assert (model_dir / "best" / "info.json").is_file()
    evaluated_by = [f"ckpt-{n}" for n in (2, 3)]  # steps 20 and 40 (ckpt-1 is step 0)
    if cluster["evaluator"] == "task":
        (events,) = evaluator
        (plan,) = [e for e in events if e["event"] == "plan"]
        assert plan["evaluates_only"] and plan["task"].startswith("the evaluator of 2 workers")
        started = [e["checkpoint"] for e in events if e["event"] == "eval-start"]
        assert started[:2] == evaluated_by and len(started) <= 3, started  # ckpt-4 may have begun: then it is dropped
        assert not [e for e in events if e["event"] in ("train-started", "evaluated", "early-stop")]
        assert (model_dir / "logs" / "eval-evaluator-0.log").is_file()
    else:
        started = [Path(e["checkpoint"]).name for e in chief if e["event"] == "eval-start"]
        assert started[:2] == evaluated_by and len(started) <= 3, started
        assert not (model_dir / "evaluator").exists()


def test_only_the_chief_writes_the_model_directory(cluster: dict[str, Any]) -> None:
    model_dir: Path = cluster["model_dir"]
    assert not list(model_dir.glob("temp_worker_*")) and not list((model_dir / "train").glob("temp_worker_*"))
    assert (model_dir / "logs" / "train.log").is_file() and (model_dir / "logs" / "train-worker-1.log").is_file()
    assert not (model_dir / "logs" / "train-worker-0.log").exists()
