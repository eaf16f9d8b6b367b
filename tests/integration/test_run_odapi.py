"""``odspec run`` end to end through the real OD API: learn, evaluate, refuse, fine-tune from an earlier run,
export, predict, report (early stopping and the faults a run survives: test_run_faults_odapi.py).

One run of the bundled example (800 steps; 300 on CI's other stacks, see :func:`example_steps`) serves the
learning, export, predict, status, report and refusal tests (those marked ``learns`` run on every stack in CI);
the transfer test trains its own short runs. No fake stands in for the OD API anywhere here.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from PIL import Image
from support import EXAMPLE, MAP, Ran, run, variant

from odspec import api
from odspec.datasets.synthetic import make_shapes
from odspec.errors import ReconcileError
from odspec.resources import example_folder
from odspec.runner.metrics import read_metrics

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
# example's default seed): at least 0.5 (issue 11). Each CPU gives its own curve, reproducible on that CPU, so the
# schedule needs a margin over the floor on every one: the 800 steps the example had reached 0.8356 on one machine
# and 0.4932 (step 700) on an AMD EPYC with AVX-512 (TensorFlow 2.20, Python 3.11); its 1000 steps reached 0.7919
# there (seeds 1 and 2: 0.8532, 0.7960). A shortened schedule (CI's other stacks): a gain of 0.05 over step 100
# (300 steps reached 0.091-0.110 on TF 2.15, 0.086 on Python 3.13).
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
