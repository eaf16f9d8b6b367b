"""What the smoke test after an export makes of what it saw: pure, no TensorFlow.

The export worked when the smoke test ran at all; whether the model finds the
object on the validation image is judged here. A poor result is a warning (the
run still succeeds: the export is there), never a neutral line that reads as fine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

MATCH_IOU = 0.5  # PASCAL VOC's (and COCO's mAP@0.5) bar for a detection that found its object
Verdict = Literal["found", "wrong-class", "misplaced", "nothing"]


def judge(detections: int, best_iou: float | None, class_agrees: bool | None) -> Verdict:
    """``found``: the best-overlapping detection covers a ground-truth box (IoU >= 0.5) with its class;
    ``wrong-class``: it covers it as another class; ``misplaced``: no detection covers one; ``nothing``: none scored."""
    if not detections or best_iou is None:
        return "nothing"
    if best_iou < MATCH_IOU:
        return "misplaced"
    return "found" if class_agrees else "wrong-class"


def warning_text(smoke: Mapping[str, Any]) -> str | None:
    """The warning line for a smoke result (the fields of :class:`odspec.runner.exporting.Smoke`), None when found."""
    verdict = judge(smoke["detections"], smoke.get("best_iou"), smoke.get("class_agrees"))
    image, truth, found = smoke["image"], smoke.get("truth_class"), smoke.get("found_class")
    advice = (
        "the export works, but the model does not find the object yet: train longer (train.steps) or check the data"
    )
    if verdict == "nothing":
        return (
            f"warning: smoke test on {image}: no detection scored {smoke.get('min_score', 0.05):g} or more "
            f"({smoke['ground_truth']} ground-truth box{'es' if smoke['ground_truth'] != 1 else ''}); {advice}"
        )
    if verdict == "misplaced":
        return (
            f"warning: smoke test on {image}: the best detection ({_name(found)}) overlaps the ground truth "
            f"({_name(truth)}) with IoU {smoke['best_iou']:.3f}, below {MATCH_IOU:g}; {advice}"
        )
    if verdict == "wrong-class":
        return (
            f"warning: smoke test on {image}: the best detection covers the {_name(truth)} box "
            f"(IoU {smoke['best_iou']:.3f}) but says {_name(found)}; {advice}"
        )
    return None


def _name(label: str | None) -> str:
    return repr(label) if label else "class unknown"
