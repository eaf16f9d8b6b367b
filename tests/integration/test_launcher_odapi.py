"""The launcher drives the real OD API: train with checkpoints on a grid and at the end, eval one, export one.

One training process serves every test (graph tracing dominates each child's
cost): 120 steps with a checkpoint every 50 gives the grid (50, 100) and a
final partial stretch (120). Eval and export then take ckpt-3 (step 100), which
is not the newest, so they prove they use the named checkpoint.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import REPO

from odspec import api
from odspec.procs import json_lines
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records
from odspec.runner.argv import (
    LAUNCHER_MODULE,
    EvalOptions,
    ExportOptions,
    TrainOptions,
    launcher_argv,
)
from odspec.runner.process import run_module

pytestmark = pytest.mark.odapi

TRAIN_TIMEOUT = 600.0
TIMEOUT = 300.0


@dataclass(frozen=True)
class Launched:
    outcome: dict[str, Any]
    events: list[dict[str, Any]]
    seconds: float


def launch(options: TrainOptions | EvalOptions | ExportOptions, timeout: float = TIMEOUT) -> Launched:
    done = run_module(LAUNCHER_MODULE, launcher_argv(options), timeout=timeout)
    found = json_lines(done.lines)
    assert found, done.output
    return Launched(found[-1], found[:-1], done.seconds)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api.build(REPO / "specs" / "example.yaml", tmp_path_factory.mktemp("launcher") / "build").out_dir


@pytest.fixture(scope="module")
def trained(build: Path) -> tuple[Path, Launched]:
    model_dir = build.parent / "run"
    options = TrainOptions(build / "pipeline.config", model_dir, num_steps=120, checkpoint_every=50, keep=10)
    return model_dir, launch(options, TRAIN_TIMEOUT)


def test_checkpoints_land_every_50_steps(trained: tuple[Path, Launched]) -> None:
    model_dir, run = trained
    kept = {c["checkpoint"]: c["step"] for c in run.outcome["checkpoints"]}
    assert kept["ckpt-1"] == 0  # train_loop saves before the first step
    assert kept["ckpt-2"] == 50
    assert kept["ckpt-3"] == 100
    assert [e["step"] for e in run.events if e.get("event") == "checkpoint"] == [0, 50, 100, 120]
    for name in kept:
        assert (model_dir / f"{name}.index").is_file()
    assert list((model_dir / "train").glob("events.out.tfevents.*"))


def test_a_final_partial_stretch_is_checkpointed(trained: tuple[Path, Launched]) -> None:
    model_dir, run = trained
    assert run.outcome["trained_to"] == 120
    assert run.outcome["steps_per_iteration"] == 10
    assert run.outcome["checkpoints"][-1] == {"checkpoint": "ckpt-4", "step": 120}
    assert (model_dir / "checkpoint").read_text().startswith('model_checkpoint_path: "ckpt-4"')
    assert math.isfinite(run.outcome["last_loss"])


def test_training_past_the_target_resumes_to_nothing(build: Path, trained: tuple[Path, Launched]) -> None:
    model_dir, _ = trained
    options = TrainOptions(build / "pipeline.config", model_dir, num_steps=100, checkpoint_every=50, keep=10)
    run = launch(options)
    assert run.outcome["start_step"] == run.outcome["trained_to"] == 120
    assert run.outcome["written"] == []
    assert run.outcome["checkpoints"][-1] == {"checkpoint": "ckpt-4", "step": 120}


def test_eval_scores_the_named_checkpoint_once(build: Path, trained: tuple[Path, Launched]) -> None:
    model_dir, _ = trained
    run = launch(EvalOptions(build / "pipeline.config", model_dir, "ckpt-3"))
    assert run.outcome["checkpoint"] == "ckpt-3"
    assert run.outcome["step"] == 100
    metrics = run.outcome["metrics"]
    assert {"DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP@.50IOU", "DetectionBoxes_Recall/AR@100",
            "Loss/total_loss"} <= set(metrics)
    assert all(isinstance(value, float) for value in metrics.values())
    assert math.isfinite(metrics["Loss/total_loss"])
    assert -1.0 <= metrics["DetectionBoxes_Precision/mAP"] <= 1.0
    assert list((model_dir / "eval").glob("events.out.tfevents.*"))  # where TensorBoard looks, as model_main_tf2


def first_val_image(build: Path) -> tuple[np.ndarray, list[int]]:
    from PIL import Image

    record = parse_example(next(read_records(next(build.glob("val-*.tfrecord")))))
    with Image.open(io.BytesIO(record["image/encoded"][0])) as image:
        return np.asarray(image.convert("RGB")), record["image/object/class/label"]


def test_export_writes_the_named_checkpoint_and_it_detects(build: Path, trained: tuple[Path, Launched]) -> None:
    import tensorflow as tf

    model_dir, _ = trained
    output = build.parent / "exported"
    run = launch(ExportOptions(build / "pipeline.config", model_dir / "ckpt-3", output, tflite=True))
    assert run.outcome["step"] == 100
    exported = tf.train.load_checkpoint(str(output / "checkpoint" / "ckpt-0"))
    name = next(n for n, _ in tf.train.list_variables(str(output / "checkpoint" / "ckpt-0")) if "kernel" in n)
    for checkpoint, same in (("ckpt-3", True), ("ckpt-4", False)):
        weights = tf.train.load_checkpoint(str(model_dir / checkpoint)).get_tensor(name)
        assert np.array_equal(exported.get_tensor(name), weights) is same

    image, _ = first_val_image(build)
    detect = tf.saved_model.load(str(output / "saved_model")).signatures["serving_default"]
    detections = detect(input_tensor=tf.constant(image[None]))
    assert {"detection_boxes", "detection_classes", "detection_scores", "num_detections"} <= set(detections)
    assert detections["detection_boxes"].shape[-1] == 4
    assert set(detections["detection_classes"].numpy().ravel()) <= {1.0, 2.0}  # label ids, 1-based

    interpreter = tf.lite.Interpreter(model_path=run.outcome["tflite"])
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    assert tuple(given["shape"]) == (1, 320, 320, 3)
    resized = tf.image.resize(image[None].astype(np.float32), (320, 320)).numpy() / 127.5 - 1.0  # SSD's scaling
    interpreter.set_tensor(given["index"], resized.astype(np.float32))
    interpreter.invoke()  # TFLite_Detection_PostProcess runs with the stock interpreter
    shapes = sorted(tuple(d["shape"]) for d in interpreter.get_output_details())
    assert shapes == [(1,), (1, 20), (1, 20), (1, 20, 4)]  # max_detections: 20 in the example spec


def test_the_smoke_test_of_an_export_judges_it_with_class_names(build: Path, trained: tuple[Path, Launched]) -> None:
    from odspec.runner.exporting import smoke_test
    from odspec.runner.verdict import judge

    model_dir, _ = trained
    output = build.parent / "exported-smoke"
    launch(ExportOptions(build / "pipeline.config", model_dir / "ckpt-3", output, tflite=False))
    smoke = smoke_test(output / "saved_model", build)
    assert smoke.image.startswith("val: ")
    assert smoke.verdict == judge(smoke.detections, smoke.best_iou, smoke.class_agrees)
    if smoke.detections:
        assert {smoke.truth_class, smoke.found_class} <= {"circle", "square"}
