"""``odspec run`` end to end through the real OD API: learn, evaluate, stop early, resume after SIGKILL, refuse,
fine-tune from an earlier run, export, predict, report.

One run of the bundled example (800 steps; 300 on CI's other stacks, see :func:`example_steps`) serves the
learning, export, predict, status, report and refusal tests (those marked ``learns`` run on every stack in CI);
the early-stop, fault (Ctrl-C, SIGKILL, a killed evaluator) and transfer tests each train their own short run.
No fake stands in for the OD API anywhere here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from support import EXAMPLE, MAP, Ran, run, variant

from odspec import api
from odspec.datasets.synthetic import make_shapes
from odspec.errors import ReconcileError
from odspec.reconcile.state import observe
from odspec.resources import example_folder
from odspec.runner.metrics import read_metrics
from odspec.runner.run_events import RunEvent, event_dict

pytestmark = pytest.mark.odapi


def example_steps() -> int:
    """The example's ``train.steps`` (800), or the shorter schedule ``ODSPEC_TEST_EXAMPLE_STEPS`` asks for.

    ``.ci/run``'s other stacks (``tf2.15``, ``py3.13``) train the example for 300 steps: whether each stack trains,
    learns, evaluates every checkpoint and exports, in less of CI's hour; the default stage trains all of it.
    """
    steps = int(os.environ.get("ODSPEC_TEST_EXAMPLE_STEPS", str(EXAMPLE_STEPS)))
    assert steps >= 200 and steps % 100 == 0, f"ODSPEC_TEST_EXAMPLE_STEPS={steps}: a multiple of 100, at least 200"
    return steps


EXAMPLE_STEPS = yaml.safe_load(EXAMPLE.read_text())["train"]["steps"]
STEPS = example_steps()  # evaluated every 100
EVALUATED = list(range(100, STEPS + 1, 100))
AS_TRAINED = {"train.steps": STEPS}  # the example spec as these tests train it
LOSS = "Loss/total_loss"
# What "learns" asks of the example's best validation mAP (chance is ~0.001). The full schedule, seeded (the
# example's default seed): at least 0.5 (issue 11). Measured on TensorFlow 2.20 and Python 3.11, two runs at once:
# 0.8356 at step 800 in both, the same mAP at every evaluation (0.0054, 0.253, 0.397, 0.445, 0.543, 0.723, 0.774,
# 0.836); another CPU or TensorFlow gives another, equally reproducible, curve. A shortened schedule (CI's other
# stacks): a gain of 0.05 over step 100 (300 steps reached 0.091-0.110 on TF 2.15, 0.086 on Python 3.13).
FULL_SCHEDULE = STEPS == EXAMPLE_STEPS
MAP_FLOOR = 0.5
MAP_GAIN = 0.05


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    folder = tmp_path_factory.mktemp("example")
    spec = variant(folder, "example", AS_TRAINED)
    return run(spec, folder / "runs" / "shapes")


@pytest.mark.learns
def test_the_example_learns_evaluating_every_checkpoint(example: Ran) -> None:
    rows = read_metrics(example.model_dir)
    assert [r.step for r in rows] == EVALUATED
    assert all(set(r.metrics) >= {MAP, LOSS} for r in rows)
    curve = [(r.step, round(r.metrics[MAP], 4), round(r.metrics[LOSS], 4)) for r in rows]
    first, best = rows[0].metrics[MAP], max(r.metrics[MAP] for r in rows)
    assert (best >= MAP_FLOOR) if FULL_SCHEDULE else (best > first + MAP_GAIN), curve
    assert rows[-1].metrics[LOSS] < rows[0].metrics[LOSS] / 2, curve  # 4.5 -> 0.35 (full), 3.3-6.4 -> 0.75-0.85 (300)
    assert example.result.outcome.trained_to == STEPS


@pytest.mark.learns
def test_the_best_checkpoint_is_kept_with_its_info(example: Ran) -> None:
    rows = read_metrics(example.model_dir)
    best_row = max(rows, key=lambda r: r.metrics[MAP])
    info = json.loads((example.model_dir / "best" / "info.json").read_text())
    assert info["step"] == best_row.step and info["value"] == pytest.approx(best_row.metrics[MAP])
    assert info["metric"] == MAP and len(info["spec_sha256"]) == 64
    assert (example.model_dir / "best" / f"{info['checkpoint']}.index").is_file()
    assert not list((example.model_dir / ".pending").glob("*")), "evaluated checkpoints are released"


def test_evaluation_starts_soon_after_each_checkpoint(example: Ran) -> None:
    starts = example.kinds("eval-start")
    assert len(starts) == len(EVALUATED)
    # from the moment the evaluator is free (on a busy machine an evaluation can outlast 100 training steps)
    idle = [e["latency_seconds"] - e["queued_seconds"] for e in starts]
    assert max(idle) < 10.0, [(e["latency_seconds"], e["queued_seconds"]) for e in starts]
    steps = example.kinds("step")
    assert steps and steps[-1]["step"] == STEPS and steps[-1]["loss"] is not None


@pytest.mark.learns
def test_the_best_is_exported_as_saved_model_and_tflite(example: Ran) -> None:
    exported = example.result.export
    assert exported is not None and (exported.saved_model / "saved_model.pb").is_file()
    assert exported.step == json.loads((example.model_dir / "best" / "info.json").read_text())["step"]
    assert exported.smoke is not None and exported.smoke.detections > 0
    assert exported.tflite is not None and exported.tflite.stat().st_size > 100_000  # the example asks for TFLite


def test_the_export_of_the_best_finds_the_ground_truth(example: Ran) -> None:
    smoke = example.result.export.smoke if example.result.export else None
    assert smoke is not None and smoke.best_iou is not None and smoke.best_iou > 0.5, smoke


def test_predict_draws_the_detections(example: Ran, tmp_path: Path) -> None:
    image = min((example_folder() / "shapes" / "images").glob("*.jpg"))
    drawn = api.predict(example.spec, [image], model_dir=example.model_dir, output=tmp_path)
    assert [p.name for p in drawn] == [f"{image.stem}.predicted.png"]
    with Image.open(drawn[0]) as out, Image.open(image) as original:
        assert out.size == original.size
        assert out.convert("RGB").tobytes() != original.convert("RGB").tobytes()  # boxes were drawn


def test_status_and_report_describe_the_run(example: Ran) -> None:
    found = api.status(example.spec, model_dir=example.model_dir)
    assert found.verdict == "complete" and found.latest_step == STEPS
    assert [r.step for r in found.metrics] == EVALUATED
    plots = api.report(example.spec, model_dir=example.model_dir)
    assert [p.name for p in plots] == ["losses.png", "metrics.png"]
    for plot in plots:
        with Image.open(plot) as png:
            assert png.size == (1000, 600)


def test_running_again_trains_nothing(example: Ran) -> None:
    again = run(example.spec, example.model_dir, export=False)
    assert again.kinds("plan")[0]["train"] is False and not again.kinds("evaluated")
    assert again.result.outcome.trained_to == STEPS


def test_an_incompatible_change_is_refused_naming_the_fields(example: Ran) -> None:
    changed = variant(example.spec.parent, "example", {**AS_TRAINED, "model.input_size": 256,
                                                        "train.augmentation": [{"random_horizontal_flip": {}}]})
    with pytest.raises(ReconcileError) as caught:
        api.run(changed, model_dir=example.model_dir)
    message = str(caught.value)
    assert "model.input_size, train.augmentation changed" in message and "--restart" in message
    assert [r.step for r in read_metrics(example.model_dir)] == EVALUATED  # nothing touched
    assert api.status(changed, model_dir=example.model_dir).verdict == "refused"
    variant(example.spec.parent, "example", AS_TRAINED)  # the other tests' spec again


def test_early_stopping_stops_training_and_keeps_the_best(tmp_path: Path) -> None:
    spec = variant(tmp_path, "early", {"train.steps": 600, "train.checkpoint_every": 50, "train.keep_checkpoints": 2,
                                       "early_stopping.patience": 1, "early_stopping.min_delta": 0.9})
    ran = run(spec, tmp_path / "runs", export=False)
    outcome = ran.result.outcome
    assert outcome.stopped_early is not None and "early_stopping.patience" in outcome.stopped_early
    assert [r.step for r in read_metrics(ran.model_dir)] == [50, 100]
    assert outcome.trained_to is not None and outcome.trained_to < 600
    info = json.loads((ran.model_dir / "best" / "info.json").read_text())
    # best/ holds the better of the two, whatever min_delta says (min_delta only decided the stop)
    best_row = max(read_metrics(ran.model_dir), key=lambda r: r.metrics[MAP])
    assert info["step"] == best_row.step and (ran.model_dir / "best" / f"{info['checkpoint']}.index").is_file()
    # keep_checkpoints 2: the model directory holds at most two checkpoints, and once training passed step 150
    # ckpt-2 (step 50) was rotated away; best/ holds its copy whichever of the two won
    kept = sorted(p.name for p in ran.model_dir.glob("ckpt-*.index"))
    assert len(kept) <= 2, kept
    if outcome.trained_to >= 150:
        assert "ckpt-2.index" not in kept, kept
    again = run(spec, ran.model_dir, export=False)
    assert again.kinds("plan")[0]["train"] is False and "stopped early" in again.kinds("plan")[0]["stopped_early"]


def _launchers(model_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"odspec.runner.launcher" in cmdline and os.fsencode(model_dir) in cmdline:
                found.append(int(proc.name))
    return found


def start_run(spec: Path, model_dir: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "odspec.cli", "run", str(spec), "--model-dir", str(model_dir),
               "--no-export", "--output", "json"]
    # SIGINT as a terminal's Ctrl-C delivers it: a shell without job control starts background jobs (this test's
    # runner, perhaps) with SIGINT ignored, which the child would inherit
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=spec.parent,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509


def wait_for_checkpoint(odspec: subprocess.Popen[str], step: int) -> None:
    assert odspec.stdout is not None
    for line in odspec.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "checkpoint" and event["step"] == step:
            return
    raise AssertionError(f"odspec exited ({odspec.wait()}) before checkpoint {step}")


def no_launcher_left(model_dir: Path) -> None:
    deadline = time.monotonic() + 15
    while _launchers(model_dir):
        assert time.monotonic() < deadline, "a launcher outlived odspec"
        time.sleep(0.2)


def test_ctrl_c_sigkill_and_a_killed_evaluator_all_resume_to_completion(tmp_path: Path) -> None:
    """Ctrl-C at step 50, SIGKILL at step 100, then a resume whose evaluator is SIGKILLed mid-evaluation.

    One test, so one dataset build and three training starts serve all three faults.
    """
    spec = variant(tmp_path, "killed", {"train.steps": 200, "train.checkpoint_every": 50, "early_stopping": None})
    model_dir = tmp_path / "runs"
    first = start_run(spec, model_dir)
    try:
        wait_for_checkpoint(first, 50)
        assert _launchers(model_dir), "training and evaluation children run"
        first.send_signal(signal.SIGINT)  # Ctrl-C
        assert first.wait(timeout=60) == 130
    finally:
        first.kill()
    no_launcher_left(model_dir)
    second = start_run(spec, model_dir)
    try:
        wait_for_checkpoint(second, 100)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    no_launcher_left(model_dir)
    state = observe(model_dir)
    assert state.latest is not None and state.latest.step == 100

    events: list[dict[str, Any]] = []
    killed: list[str] = []

    def kill_the_first_evaluation(emitted: RunEvent) -> None:
        event = event_dict(emitted)
        events.append(event)
        if event.get("event") == "eval-start" and not killed:
            evaluators = [pid for pid in _launchers(model_dir) if b"eval-serve" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            assert len(evaluators) == 1, evaluators
            os.kill(evaluators[0], signal.SIGKILL)
            killed.append(event["checkpoint"])

    resumed = api.run(spec, model_dir=model_dir, on_event=kill_the_first_evaluation, export=False)
    plan = next(e for e in events if e.get("event") == "plan")
    assert plan["action"] == "resume" and plan["from_step"] == 100
    assert resumed.outcome.trained_to == 200
    restarted = [e for e in events if e.get("event") == "evaluator-restarted"]
    assert len(restarted) == 1 and restarted[0]["exit"] == "signal 9" and restarted[0]["checkpoints"][0] == killed[0]
    assert [r.step for r in read_metrics(model_dir)] == [50, 100, 150, 200]  # each once, none lost, the killed one again
    no_launcher_left(model_dir)


def test_fine_tuning_from_an_earlier_run_learns_new_classes_faster(example: Ran, tmp_path: Path) -> None:
    data = tmp_path / "three"
    make_shapes(data, 60, size=(256, 256), seed=7, classes=("triangle", "square", "circle"), formats=("voc",))
    info = json.loads((example.model_dir / "best" / "info.json").read_text())
    checkpoint = str(example.model_dir / "best" / info["checkpoint"])
    common = {"dataset.images": str(data / "images"), "dataset.annotations": str(data / "annotations"),
              "dataset.classes": ["triangle", "square", "circle"], "train.steps": 100, "train.checkpoint_every": 100,
              "train.learning_rate": {"type": "cosine", "base": 0.02, "warmup_rate": 0.005, "warmup_steps": 20},
              "early_stopping": None, "export.tflite": False}
    # two projects, so two build folders: the runs train at the same time (tracing is single-threaded, so the
    # pair takes less than twice one run) and neither replaces the other's pipeline.config
    tuned_spec = variant(tmp_path, "tuned", {**common, "project": "three-tuned",
                                             "model.pretrained": {"checkpoint": checkpoint, "kind": "detection"}})
    scratch_spec = variant(tmp_path, "scratch", {**common, "project": "three-scratch"})
    with ThreadPoolExecutor(max_workers=2) as pool:
        tuned, scratch = pool.map(lambda spec: run(spec, tmp_path / spec.stem, export=False), (tuned_spec, scratch_spec))
    tuned_map = read_metrics(tuned.model_dir)[-1].metrics[MAP]
    scratch_map = read_metrics(scratch.model_dir)[-1].metrics[MAP]
    assert tuned_map > scratch_map + 0.05, (tuned_map, scratch_map)
    label_map = (tuned.result.build.out_dir / "label_map.pbtxt").read_text()
    assert label_map.count("item {") == 3
