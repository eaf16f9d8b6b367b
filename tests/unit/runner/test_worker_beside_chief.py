"""A worker that is not the chief: it trains only once the chief's run record in the shared model directory is
this spec's, and it names what differs when it is not. No TensorFlow."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reconcile"))
from reconcile_support import record, spec_dict

from odspec.distribute import ClusterTask, distribution_of
from odspec.errors import ReconcileError
from odspec.reconcile.record import write_run_record
from odspec.reconcile.state import own_entry
from odspec.runner.session import RunSetup, Selection, same_run, wait_for_chief

WORKER = ClusterTask("worker", 1, 2, has_chief=False)


def setup_in(model_dir: Path, lr: float = 0.01) -> RunSetup:
    spec = spec_dict(train={"learning_rate": {"type": "cosine", "base": lr}})
    return RunSetup(pipeline_config=model_dir / "pipeline.config", build_dir=model_dir, model_dir=model_dir,
                    record=record(spec), action="start", start_step=0, num_steps=200, checkpoint_every=100,
                    eval_every=100, keep=5, selection=Selection("DetectionBoxes_Precision/mAP", "max", None),
                    distribution=distribution_of("cpu", 1, 2), task=WORKER)


def test_the_same_spec_is_the_same_run_and_a_changed_field_is_named(tmp_path: Path) -> None:
    ours = setup_in(tmp_path).record
    assert same_run(ours, ours) == []
    assert same_run(setup_in(tmp_path, lr=0.02).record, ours) == ["train.learning_rate.base", "pipeline.config"]
    assert same_run(ours.model_copy(update={"pipeline_config_sha256": "0" * 64}), ours) == ["pipeline.config"]


def test_a_worker_waits_for_the_chiefs_record_then_starts_with_it(tmp_path: Path) -> None:
    setup = setup_in(tmp_path)
    tmp_path.mkdir(exist_ok=True)

    def chief() -> None:
        time.sleep(0.5)
        write_run_record(tmp_path, setup.record)

    writer = threading.Thread(target=chief)
    writer.start()
    started = time.monotonic()
    joined = wait_for_chief(setup, timeout=30, poll_seconds=0.1)
    writer.join()
    assert time.monotonic() - started >= 0.5
    assert joined.record == setup.record and joined.action == "start" and joined.start_step == 0


def test_a_chief_of_another_spec_times_out_naming_what_differs(tmp_path: Path) -> None:
    write_run_record(tmp_path, setup_in(tmp_path, lr=0.02).record)
    with pytest.raises(ReconcileError) as refused:
        wait_for_chief(setup_in(tmp_path), timeout=0.3, poll_seconds=0.1)
    assert str(refused.value).startswith(
        f"{tmp_path}: worker 1 waited 0.3 s for the chief to start this spec's run, and its run record there is "
        "for another spec (train.learning_rate.base, pipeline.config differ)")
    assert "every task must see the same model directory" in str(refused.value)


def test_no_chief_at_all_times_out_too(tmp_path: Path) -> None:
    with pytest.raises(ReconcileError, match="there is no run record there"):
        wait_for_chief(setup_in(tmp_path), timeout=0, poll_seconds=0.1)


def test_a_workers_temporary_checkpoints_are_odspecs_own() -> None:
    assert own_entry("temp_worker_001") and own_entry("ckpt-3.index") and not own_entry("notes.txt")
