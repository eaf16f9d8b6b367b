"""``runtime.replicas`` through the real OD API: MirroredStrategy on logical CPU devices, and the refusals.

``accelerator: cpu`` with ``replicas: 2`` splits this machine's CPU into two logical devices, so the
multi-replica path (variables mirrored, the global batch split, gradients all-reduced) runs here exactly as it
runs over two GPUs. The single-replica evaluator reads the checkpoints that training writes, and a run with
another device count and the same global batch resumes from them.
"""

from __future__ import annotations

import pytest
from support import Ran, run, variant

from odspec.errors import OdspecError
from odspec.procs import json_lines
from odspec.runner.metrics import read_metrics

pytestmark = pytest.mark.odapi

STEPS, EVERY = 40, 20
SHORT = {"train.steps": STEPS, "train.checkpoint_every": EVERY, "train.learning_rate.warmup_steps": 10,
         "early_stopping": None, "train.batch_size": 4}


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    folder = tmp_path_factory.mktemp("mirrored")
    spec = variant(folder, "mirrored", {**SHORT, "runtime": {"accelerator": "cpu", "replicas": 2}})
    return run(spec, folder / "runs" / "mirrored", export=False)


def test_two_logical_cpu_devices_train_in_sync(mirrored: Ran) -> None:
    (plan,) = mirrored.kinds("plan")
    assert plan["strategy"] == "MirroredStrategy over 2 logical CPU devices: 2 replicas, global batch 4, 2 per replica"
    (devices,) = mirrored.kinds("devices")
    assert devices["strategy"] == "mirrored" and devices["replicas"] == 2
    assert [name.rsplit("/", 1)[-1] for name in devices["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert devices["warning"] is None
    assert mirrored.result.outcome.trained_to == STEPS


def test_the_single_replica_evaluator_reads_the_mirrored_checkpoints(mirrored: Ran) -> None:
    rows = read_metrics(mirrored.model_dir)
    assert [r.step for r in rows] == [EVERY, STEPS]
    assert all(r.metrics["Loss/total_loss"] is not None and r.metrics["Loss/total_loss"] > 0 for r in rows)
    assert mirrored.result.outcome.best is not None


def test_the_train_log_records_the_devices(mirrored: Ran) -> None:
    lines = (mirrored.model_dir / "logs" / "train.log").read_text(encoding="utf-8").splitlines()
    strategy = [m for m in json_lines(lines) if m.get("event") == "strategy"]
    assert len(strategy) == 1 and strategy[0]["replicas"] == 2


def test_one_device_with_the_same_global_batch_resumes_the_mirrored_run(mirrored: Ran) -> None:
    spec = variant(mirrored.spec.parent, "one-device", {**SHORT, "train.steps": STEPS + EVERY,
                                                        "runtime": {"accelerator": "cpu", "replicas": 1}})
    again = run(spec, mirrored.model_dir, export=False)
    (plan,) = again.kinds("plan")
    assert plan["action"] == "resume" and plan["from_step"] == STEPS
    assert plan["changed"] == ["runtime.replicas", "train.steps"]
    assert plan["strategy"] == "the default strategy on the CPU (batch 4)"
    assert again.result.outcome.trained_to == STEPS + EVERY
    assert [r.step for r in read_metrics(mirrored.model_dir)] == [EVERY, STEPS, STEPS + EVERY]


def test_more_gpus_than_the_machine_has_are_refused_before_training(tmp_path_factory: pytest.TempPathFactory) -> None:
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    folder = tmp_path_factory.mktemp("too-many")
    wanted = gpus + 2
    spec = variant(folder, "too-many", {**SHORT, "train.batch_size": 4 * wanted,
                                        "runtime": {"accelerator": "gpu", "replicas": wanted}})
    model_dir = folder / "runs" / "too-many"
    events: list[dict[str, object]] = []
    from odspec import api
    from odspec.runner.run_events import event_dict

    with pytest.raises(OdspecError) as refused:
        api.run(spec, model_dir=model_dir, export=False, on_event=lambda e: events.append(event_dict(e)))
    assert str(refused.value).startswith(
        f"training failed: runtime.replicas is {wanted}, but TensorFlow sees {gpus} GPU{'' if gpus == 1 else 's'} "
        f"on this machine (set runtime.replicas: {max(1, gpus)} (keeping train.batch_size)")
    lines = (model_dir / "logs" / "train.log").read_text(encoding="utf-8").splitlines()
    assert not [m for m in json_lines(lines) if m.get("event") in ("step", "checkpoint")]
    assert not list(model_dir.glob("ckpt-*"))
