"""The smoke test after an export judges what it saw (pure: no TensorFlow), and says so in a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict

import pytest
from support import REPO

from odspec.runner.display import export_summary
from odspec.runner.exporting import Detections, judged_smoke
from odspec.runner.run_events import ExportSummary
from odspec.runner.verdict import judge, warning_text

TRUTH = [(1, [0.1, 0.1, 0.5, 0.5])]
NAMES = {1: "circle", 2: "square"}


def found(*items: tuple[float, list[float], int]) -> Detections:
    return Detections("x.png", 10, 10, [list(b) for _, b, _ in items], [c for *_, c in items], [s for s, *_ in items])


@pytest.mark.parametrize(("detections", "iou", "agrees", "verdict"), [
    (3, 0.87, True, "found"), (3, 0.5, True, "found"), (3, 0.4999, True, "misplaced"), (1, 0.0429, True, "misplaced"),
    (2, 0.9, False, "wrong-class"), (2, 0.2, False, "misplaced"), (0, None, None, "nothing")])
def test_judge(detections: int, iou: float | None, agrees: bool | None, verdict: str) -> None:
    assert judge(detections, iou, agrees) == verdict


def test_a_detection_beside_the_object_is_judged_misplaced_naming_both_classes() -> None:
    smoke = judged_smoke("val: a.jpg", found((0.9, [0.45, 0.45, 0.9, 0.9], 1)), TRUTH, NAMES)
    assert (smoke.verdict, smoke.truth_class, smoke.found_class, smoke.class_agrees) == ("misplaced", "circle", "circle", True)
    assert smoke.best_iou == pytest.approx(0.0025 / (0.16 + 0.2025 - 0.0025))


def test_a_class_missing_from_the_label_map_is_named_by_its_id() -> None:
    smoke = judged_smoke("val: a.jpg", found((0.9, [0.1, 0.1, 0.5, 0.5], 7)), TRUTH, NAMES)
    assert (smoke.verdict, smoke.found_class) == ("wrong-class", "class 7")


def test_the_poor_overlap_warning_names_image_iou_and_classes() -> None:
    smoke = {"image": "val: shapes_0007.png", "ground_truth": 2, "detections": 4, "top_score": 0.31,
             "best_iou": 0.0429, "class_agrees": True, "truth_class": "circle", "found_class": "circle"}
    assert warning_text(smoke) == (
        "warning: smoke test on val: shapes_0007.png: the best detection ('circle') overlaps the ground truth "
        "('circle') with IoU 0.043, below 0.5; the export works, but the model does not find the object yet: "
        "train longer (train.steps) or check the data")


def test_the_wrong_class_warning() -> None:
    smoke = asdict(judged_smoke("val: a.jpg", found((0.9, [0.1, 0.1, 0.5, 0.5], 2)), TRUTH, NAMES))
    assert warning_text(smoke) == (
        "warning: smoke test on val: a.jpg: the best detection covers the 'circle' box (IoU 1.000) but says 'square'; "
        "the export works, but the model does not find the object yet: train longer (train.steps) or check the data")


def test_nothing_detected_is_a_warning_too() -> None:
    smoke = asdict(judged_smoke("val: a.jpg", found(), TRUTH, NAMES))
    assert warning_text(smoke) == (
        "warning: smoke test on val: a.jpg: no detection scored 0.05 or more (1 ground-truth box); the export works, "
        "but the model does not find the object yet: train longer (train.steps) or check the data")


def test_a_found_object_gets_no_warning_and_the_summary_stays_as_it_was() -> None:
    smoke = judged_smoke("val: a.jpg", found((0.9, [0.1, 0.1, 0.5, 0.5], 1)), TRUTH, NAMES)
    assert warning_text(asdict(smoke)) is None
    assert export_summary(ExportSummary(output="/m/export", step=300, tflite=None, smoke=smoke)) == (
        "exported step 300 to /m/export\n"
        "smoke test on val: a.jpg: 1 detections, top score 0.9, best IoU with ground truth 1 (class right)")


def test_the_export_summary_ends_with_the_warning() -> None:
    smoke = judged_smoke("val: a.jpg", found((0.31, [0.45, 0.45, 0.9, 0.9], 2)), TRUTH, NAMES)
    assert export_summary(ExportSummary(output="/m/export", step=300, tflite=None, smoke=smoke)).splitlines() == [
        "exported step 300 to /m/export",
        "smoke test on val: a.jpg: 1 detections, top score 0.31, best IoU with ground truth 0.00694 (class wrong)",
        "warning: smoke test on val: a.jpg: the best detection ('square') overlaps the ground truth ('circle') with "
        "IoU 0.007, below 0.5; the export works, but the model does not find the object yet: train longer "
        "(train.steps) or check the data"]


def test_judging_imports_no_tensorflow() -> None:
    code = ("import sys; from odspec.runner.exporting import judged_smoke; from odspec.runner.display import export_summary;"
            " assert 'tensorflow' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).returncode == 0
