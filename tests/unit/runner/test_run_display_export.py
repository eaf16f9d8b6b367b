"""The run's terminal display and the export's pure checks (IoU, the smoke comparison)."""

from __future__ import annotations

import json

import pytest

from odspec.runner.display import RunDisplay, duration, export_summary
from odspec.runner.exporting import Detections, Smoke, best_overlap, iou
from odspec.runner.run_events import (
    BuiltEvent,
    DevicesEvent,
    EarlyStopEvent,
    EvaluatedEvent,
    ExportSummary,
    PlanEvent,
    StepEvent,
    event_dict,
)


def test_iou_of_boxes() -> None:
    assert iou([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert iou([0, 0, 0.5, 1], [0.5, 0, 1, 1]) == 0.0  # touching is not overlapping
    assert iou([0, 0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]) == pytest.approx(0.0625 / 0.4375)


def detections(*items: tuple[float, list[float], int]) -> Detections:
    return Detections("x.png", 10, 10, [list(b) for _, b, _ in items], [c for *_, c in items], [s for s, *_ in items])


def test_the_smoke_comparison_finds_the_best_overlap_among_the_top_detections() -> None:
    truth = [(1, [0.1, 0.1, 0.5, 0.5])]
    right = detections((0.9, [0.1, 0.1, 0.5, 0.5], 1), (0.2, [0.6, 0.6, 0.9, 0.9], 2))
    assert best_overlap(right, truth) == (1.0, True)
    wrong_class = detections((0.9, [0.1, 0.1, 0.5, 0.5], 2), (0.8, [0.1, 0.1, 0.5, 0.5], 1))
    assert best_overlap(wrong_class, truth) == (1.0, True)  # the same box with the right class is among the top 2
    confused = detections((0.9, [0.1, 0.1, 0.5, 0.5], 2))
    assert best_overlap(confused, truth) == (1.0, False)
    # the top detection is right and found the box (IoU 0.8); a weaker wrong-class one fits tighter (IoU 1):
    # the object was found, with its class (the example's smoke image did this on one CPU)
    tighter_but_wrong = detections((0.9, [0.1, 0.1, 0.5, 0.6], 1), (0.4, [0.1, 0.1, 0.5, 0.5], 2))
    assert best_overlap(tighter_but_wrong, truth) == (pytest.approx(0.8), True)
    # below the bar, the right class does not win over a better overlap: nothing was found either way
    both_poor = detections((0.9, [0.1, 0.1, 0.2, 0.2], 1), (0.4, [0.1, 0.1, 0.5, 0.5], 2))
    assert best_overlap(both_poor, truth) == (1.0, False)
    buried = detections((0.9, [0.6, 0.6, 0.9, 0.9], 1), (0.8, [0.6, 0.6, 0.7, 0.7], 1), (0.1, [0.1, 0.1, 0.5, 0.5], 1))
    assert best_overlap(buried, truth) == (0.0, True)  # only the top 2 x len(truth) detections count
    assert best_overlap(detections(), truth) is None


def test_durations() -> None:
    assert [duration(s) for s in (None, 5, 65, 3725)] == ["?", "0:05", "1:05", "1:02:05"]


def collect(mode: str) -> tuple[RunDisplay, list[tuple[str, bool]]]:
    written: list[tuple[str, bool]] = []
    return RunDisplay(lambda text, transient: written.append((text, transient)), mode), written  # type: ignore[arg-type]


STEP = StepEvent(step=200, num_steps=300, loss=0.5, learning_rate=None, steps_per_second=2.5, eta_seconds=40.0)
EVALUATED = EvaluatedEvent(step=100, checkpoint="ckpt-2", metric="DetectionBoxes_Precision/mAP", value=0.41,
                           improved=True, best_step=100, best_value=0.41, metrics={}, seconds=None)


def test_live_mode_rewrites_one_status_line_with_last_and_best() -> None:
    display, written = collect("live")
    display(EVALUATED)
    display(STEP)
    assert written[0] == ("step 100: DetectionBoxes_Precision/mAP = 0.41  new best", False)
    assert written[1] == ("step 200/300  loss 0.5  2.50 steps/s  ETA 0:40  last mAP 0.41  best 0.41 @ 100", True)


def test_plain_mode_prints_every_line_for_logs() -> None:
    display, written = collect("plain")
    display(STEP)
    display(EarlyStopEvent(step=300, message="stopped early at step 300: raise early_stopping.patience"))
    assert [t for _, t in written] == [False, False]
    assert "early_stopping.patience" in written[1][0]


def test_json_mode_prints_each_event_as_it_came() -> None:
    display, written = collect("json")
    display(STEP)
    assert json.loads(written[0][0]) == event_dict(STEP)


def test_the_plan_says_what_will_happen() -> None:
    display, written = collect("plain")
    display(PlanEvent(action="resume", model_dir="/m", from_step=100, to_step=300, changed=["train.steps"],
                      warnings=["versions differ"], train=True, evaluate=["ckpt-3"], stopped_early=None,
                      tensorboard="/m", metric="m",
                      strategy="MirroredStrategy over 2 GPUs: 2 replicas, global batch 8, 4 per replica", task=None))
    text = written[0][0]
    for part in ("tensorboard --logdir /m", "resuming at step 100 of 300", "(safe to resume): train.steps",
                 "warning: versions differ", "left from before: ckpt-3",
                 "\nstrategy: MirroredStrategy over 2 GPUs: 2 replicas, global batch 8, 4 per replica\n"):
        assert part in text


def test_the_devices_found_are_shown_and_a_missing_gpu_is_a_warning() -> None:
    display, written = collect("plain")
    display(DevicesEvent(strategy="mirrored", replicas=2, warning=None,
                         devices=["/job:localhost/replica:0/task:0/device:CPU:0",
                                  "/job:localhost/replica:0/task:0/device:CPU:1"]))
    display(DevicesEvent(strategy="default", replicas=1, devices=[],
                         warning="runtime.accelerator is gpu, but TensorFlow sees no GPU: training on the CPU"))
    display(DevicesEvent(strategy="default", replicas=1, devices=[], warning=None))
    assert written == [
        ("training on /job:localhost/replica:0/task:0/device:CPU:0, /job:localhost/replica:0/task:0/device:CPU:1",
         False),
        ("warning: runtime.accelerator is gpu, but TensorFlow sees no GPU: training on the CPU", False)]


def test_export_summary_names_the_smoke_result() -> None:
    text = export_summary(ExportSummary(output="/m/export", step=300, tflite="/m/export/model.tflite",
                                        smoke=Smoke(image="val: a.jpg", detections=3, top_score=0.91, best_iou=0.87,
                                                    ground_truth=2, class_agrees=True)))
    assert "exported step 300 to /m/export" in text and "best IoU with ground truth 0.87 (class right)" in text


def test_the_build_line_counts_findings() -> None:
    display, written = collect("plain")
    display(BuiltEvent(build_dir="/b", findings=2, written=0))
    display(BuiltEvent(build_dir="/b", findings=0, written=3))
    assert written == [("build: /b (0 files written, 2 dataset findings: see report.json there)", False),
                       ("build: /b (3 files written)", False)]
