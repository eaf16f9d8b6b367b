"""Export a checkpoint through the launcher, smoke-test the export, and draw predictions.

TensorFlow runs only in launcher children (``export`` and ``predict``); this module
picks what to run, checks what came back, and draws the detections with the same
code ``odspec preview`` uses for ground truth.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from odspec.errors import ExportError
from odspec.procs import json_lines
from odspec.runner.argv import (
    LAUNCHER_MODULE,
    ExportOptions,
    PredictOptions,
    launcher_argv,
)
from odspec.runner.process import run_module
from odspec.runner.verdict import MATCH_IOU, judge

EXPORT_TIMEOUT = 3600.0
PREDICT_TIMEOUT = 900.0
EXPORT_INFO = "odspec-export.json"
SMOKE_MIN_SCORE = 0.05
Box = Sequence[float]  # normalised [ymin, xmin, ymax, xmax], as the exporter returns boxes


@dataclass(frozen=True)
class Detections:
    image: str
    width: int
    height: int
    boxes: list[list[float]]
    classes: list[int]
    scores: list[float]


@dataclass(frozen=True)
class Smoke:
    """An exported model run on one image of the build, compared with that image's ground truth."""

    image: str
    ground_truth: int
    detections: int
    top_score: float | None
    best_iou: float | None  # see best_overlap
    class_agrees: bool | None  # the class of that best-overlapping detection is the ground truth's
    truth_class: str | None = None  # the ground-truth box of that best overlap, by name
    found_class: str | None = None  # the detection of that best overlap, by name
    min_score: float = 0.05  # detections below it were not counted
    verdict: str = "nothing"  # odspec.runner.verdict.judge of the above


@dataclass(frozen=True)
class ExportResult:
    output: Path
    checkpoint: str
    step: int | None
    saved_model: Path
    tflite: Path | None
    smoke: Smoke | None
    seconds: float


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``[ymin, xmin, ymax, xmax]`` boxes."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[3], b[3]) - max(a[1], b[1])
    if height <= 0 or width <= 0:
        return 0.0
    inter = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best_overlap(found: Detections, truth: Sequence[tuple[int, Box]]) -> tuple[float, bool] | None:
    """How well the top-scoring detections (twice as many as there are ground-truth boxes) cover the ground truth:
    the highest IoU of one of them with a ground-truth box, and whether their classes agree. None when there was
    nothing to compare."""
    match = best_match(found, truth)
    return None if match is None else (match[0], match[1] == match[2])


def best_match(found: Detections, truth: Sequence[tuple[int, Box]]) -> tuple[float, int, int] | None:
    """``best_overlap`` with the labels of its pair: (IoU, ground-truth label, detected label).

    A detection of the right class that found its object (IoU of at least ``MATCH_IOU``) wins over one of another
    class that overlaps more: a model whose top detection names the square rightly is not judged by a weaker
    'circle' drawn a little tighter around it. Among the rest, the highest IoU wins, the right class on a tie."""
    if not truth or not found.scores:
        return None
    ranked = sorted(zip(found.scores, found.boxes, found.classes, strict=False), key=lambda item: -item[0])[
        : 2 * len(truth)
    ]
    return max(
        ((iou(box, gt_box), gt_label, label) for _, box, label in ranked for gt_label, gt_box in truth),
        key=lambda pair: (pair[0] >= MATCH_IOU and pair[1] == pair[2], pair[0], pair[1] == pair[2]),
    )


def label_names(build_dir: Path) -> dict[int, str]:
    """Class id -> name from the build's label_map.pbtxt, read as the OD API reads it; empty when unreadable."""
    from google.protobuf import text_format

    from odspec.odapi import protos

    try:
        label_map = text_format.Parse(
            (build_dir / "label_map.pbtxt").read_text(encoding="utf-8"),
            protos.load("string_int_label_map_pb2").StringIntLabelMap(),
        )
    except (OSError, text_format.ParseError):
        return {}
    return {item.id: item.name for item in label_map.item}


def launch(options: ExportOptions | PredictOptions, timeout: float) -> dict[str, Any]:
    """Run one launcher command; its final JSON line, or ExportError with what it said went wrong."""
    # its temporary folder (autograph's files) beside what it writes: in the model directory for an export
    done = run_module(LAUNCHER_MODULE, launcher_argv(options), timeout=timeout, temp_parent=options.output.parent)
    found = json_lines(done.lines)
    if not found or "error" in found[-1]:
        said = found[-1]["error"] if found else "no result line"
        raise ExportError(f"the launcher's {launcher_argv(options)[0]} failed: {said}")
    return found[-1]


def export_checkpoint(
    pipeline_config: Path,
    prefix: Path,
    output: Path,
    *,
    tflite: bool,
    build_dir: Path,
    step: int | None,
    smoke: bool = True,
) -> ExportResult:
    """Export ``prefix`` into ``output`` (replacing it whole), then run it on a validation image of the build."""
    result = launch(ExportOptions(pipeline_config, prefix, output, tflite=tflite), EXPORT_TIMEOUT)
    saved_model = Path(result["saved_model"])
    tested = smoke_test(saved_model, build_dir) if smoke else None
    exported = ExportResult(
        output,
        prefix.name,
        step,
        saved_model,
        Path(result["tflite"]) if result.get("tflite") else None,
        tested,
        float(result["seconds"]),
    )
    info = {
        "checkpoint": prefix.name,
        "step": step,
        "pipeline_config": str(pipeline_config),
        "tflite": tflite,
        "smoke": asdict(tested) if tested else None,
    }
    (output / EXPORT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return exported


def current_export(output: Path) -> dict[str, Any] | None:
    """What ``output`` holds (its ``odspec-export.json``), or None when there is no complete export there."""
    try:
        info = json.loads((output / EXPORT_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and (output / "saved_model" / "saved_model.pb").is_file() else None


def first_record(build_dir: Path, splits: Sequence[str] = ("val", "test", "train")) -> tuple[str, dict[str, Any]]:
    """The first record with boxes of the first split that has one (the split's name, the parsed record)."""
    from odspec.datasets.shards import shard_glob
    from odspec.records.example import parse_example
    from odspec.records.tfrecord import read_records

    for split in splits:
        for shard in sorted(build_dir.glob(shard_glob(split))):
            for data in read_records(shard):
                record = parse_example(data)
                if record.get("image/object/bbox/xmin"):
                    return split, record
    raise ExportError(f"{build_dir}: no record with boxes to test the export on", "run `odspec build` first")


def smoke_test(saved_model: Path, build_dir: Path) -> Smoke:
    """Load the export in a child, run it on a validation image, and compare with that image's boxes."""
    from odspec.datasets.preview import decode_image

    split, record = first_record(build_dir)
    edges = zip(*(record[f"image/object/bbox/{k}"] for k in ("ymin", "xmin", "ymax", "xmax")), strict=False)
    truth = list(zip(record["image/object/class/label"], ([a, b, c, d] for a, b, c, d in edges), strict=False))
    name = record["image/filename"][0].decode("utf-8", "replace")
    with tempfile.TemporaryDirectory(prefix="odspec-smoke-") as folder:
        image = Path(folder) / "image.png"
        buffer = io.BytesIO()
        decode_image(record).save(buffer, format="PNG")
        image.write_bytes(buffer.getvalue())
        found = predict_detections(saved_model, [image], Path(folder) / "detections.json", min_score=SMOKE_MIN_SCORE)[0]
    return judged_smoke(f"{split}: {name}", found, truth, label_names(build_dir))


def judged_smoke(image: str, found: Detections, truth: Sequence[tuple[int, Box]], names: dict[int, str]) -> Smoke:
    """The smoke result of ``found`` against ``truth``, with its verdict (pure)."""
    match = best_match(found, truth)
    overlap, agrees = (match[0], match[1] == match[2]) if match else (None, None)
    return Smoke(
        image=image,
        ground_truth=len(truth),
        detections=len(found.scores),
        top_score=max(found.scores, default=None),
        best_iou=overlap,
        class_agrees=agrees,
        truth_class=names.get(match[1], f"class {match[1]}") if match else None,
        found_class=names.get(match[2], f"class {match[2]}") if match else None,
        min_score=SMOKE_MIN_SCORE,
        verdict=judge(len(found.scores), overlap, agrees),
    )


def predict_detections(
    saved_model: Path, images: Sequence[Path], output: Path, *, min_score: float
) -> list[Detections]:
    """Detections of the export on each image (a child process loads the model once)."""
    launch(PredictOptions(saved_model, tuple(images), output, min_score), PREDICT_TIMEOUT)
    data = json.loads(output.read_text(encoding="utf-8"))
    return [Detections(**item) for item in data["images"]]


def draw_predictions(found: Detections, classes: Sequence[str], target: Path) -> Path:
    """The image with each detection outlined in its class colour and labelled ``class score``."""
    from PIL import Image, ImageOps

    from odspec.datasets.preview import DrawnBox, class_colours, draw_boxes
    from odspec.io import atomic_write

    colours = class_colours(list(classes))
    boxes, label_colours = [], {}
    for (ymin, xmin, ymax, xmax), label, score in zip(found.boxes, found.classes, found.scores, strict=False):
        name = classes[label - 1] if 1 <= label <= len(classes) else f"class {label}"
        text = f"{name} {score:.2f}"
        label_colours[text] = colours.get(name, (0, 0, 0))
        boxes.append(DrawnBox(text, xmin, ymin, xmax, ymax))
    with Image.open(found.image) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    out = io.BytesIO()
    draw_boxes(picture, boxes, label_colours).save(out, format="PNG")
    atomic_write(target, out.getvalue())
    return target
