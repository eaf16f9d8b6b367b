"""Cross-field checks the OD API never makes; each returns located problems, none raises.

Pure except for reading the pre-trained checkpoint's folder (does the ``.index``
exist, is there a zoo ``pipeline.config`` beside it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from odspec.catalogue import CATALOGUE, Architecture
from odspec.errors import Problem, suggest
from odspec.io import URL_HINT, url_scheme
from odspec.odapi import protos
from odspec.spec.defaults import blame, checkpoint_every
from odspec.spec.load import LoadedSpec
from odspec.spec.models import CosineRate, EarlyStopping, ManualStepRate, Objective, Spec

COCO_METRICS = tuple(
    [f"DetectionBoxes_Precision/mAP{s}" for s in ("", "@.50IOU", "@.75IOU", " (small)", " (medium)", " (large)")]
    + [f"DetectionBoxes_Recall/AR@{s}" for s in ("1", "10", "100", "100 (small)", "100 (medium)", "100 (large)")]
    + [f"Loss/{s}" for s in ("classification_loss", "localization_loss", "regularization_loss", "total_loss")]
)


def check(loaded: LoadedSpec) -> list[Problem]:
    """Every cross-field problem of a validated spec."""
    spec, arch = loaded.spec, CATALOGUE[loaded.spec.model.architecture]
    found: list[tuple[tuple[str | int, ...], str, str | None]] = [
        *_runtime(spec),
        *_urls(spec),
        *_input_size(spec, arch),
        *_schedule(spec, arch),
        *_evaluation(spec, arch),
        *_augmentation(spec),
        *_pretrained(spec, arch, loaded.root),
    ]
    return [loaded.problem(loc, message, hint) for loc, message, hint in found]


Finding = Iterator[tuple[tuple[str | int, ...], str, "str | None"]]


def _urls(spec: Spec) -> Finding:
    """Paths written as URLs (``gs://...``): refused, as they would be read as local folders named ``gs:``."""
    dataset, pretrained = spec.dataset, spec.model.pretrained
    annotations = dataset.annotations if isinstance(dataset.annotations, list) else [dataset.annotations]
    paths: list[tuple[tuple[str | int, ...], str | None]] = [
        (("dataset", "path"), dataset.path), (("dataset", "images"), dataset.images),
        (("dataset", "names"), dataset.names),
        *((("dataset", "annotations", i) if isinstance(dataset.annotations, list) else ("dataset", "annotations"), a)
          for i, a in enumerate(annotations)),
        (("model", "pretrained", "checkpoint"), pretrained.checkpoint if pretrained else None),
    ]
    for loc, path in paths:
        scheme = url_scheme(path) if path is not None else None
        if scheme is not None:
            yield loc, f"{path!r} is a {scheme}:// URL, and odspec reads local paths only", URL_HINT


def _runtime(spec: Spec) -> Finding:
    runtime, arch = spec.runtime, CATALOGUE[spec.model.architecture]
    if runtime.bfloat16 and runtime.accelerator != "tpu":
        yield (("runtime", "bfloat16"), "bfloat16 only works on TPU (the OD API honours it only with --use_tpu)",
               "remove it, or set runtime.accelerator: tpu")
    batch, replicas = spec.train.batch_size or arch.train.batch_size, runtime.total_replicas
    if batch % replicas:
        over = f"{replicas} replicas" if runtime.workers == 1 else \
            f"{replicas} replicas ({runtime.workers} workers x {runtime.replicas})"
        yield (("train", "batch_size"), f"batch size {batch} does not split evenly over {over}",
               f"e.g. batch_size: {replicas * max(1, batch // replicas)}")
    if runtime.evaluator == "task" and runtime.workers == 1:
        yield (("runtime", "evaluator"), "a separate evaluator task is part of a cluster of several workers, and "
               "runtime.workers is 1 (one machine's run evaluates beside its training)",
               "set evaluator: chief, or workers: 2 or more")
    shards = spec.dataset.shards
    if runtime.workers > 1 and (shards is None or shards < runtime.workers):
        # the OD API gives each worker its share of the training shard files; a worker without one has no input
        where, said = (("runtime", "workers"), "by size (one per ~100 MB)") if shards is None else \
            (("dataset", "shards"), str(shards))
        yield (where, f"{runtime.workers} workers each read their own TFRecord shards, but the dataset's shard "
               f"count is {said}",
               f"set dataset.shards: {runtime.workers} (or a multiple of it, so each worker reads as much)")
    if spec.export.tflite and not arch.tflite:
        yield (("export", "tflite"), f"TFLite export supports SSD and CenterNet only, not {arch.title}",
               "set tflite: false, or pick an SSD or CenterNet architecture")


def _input_size(spec: Spec, arch: Architecture) -> Finding:
    size = spec.model.input_size
    if size is None:
        return
    dims = [size, size] if isinstance(size, int) else size
    if arch.resizer == "keep_aspect_ratio" and dims[0] > dims[1]:
        yield (("model", "input_size"), f"[min, max] dimensions must not decrease, got {dims}",
               f"e.g. input_size: [{dims[1]}, {dims[0]}]")
    # keep-aspect resizers pad to max x max, so only the max dimension meets the network
    checked = dims if arch.resizer == "fixed_shape" else dims[1:]
    bad = [d for d in checked if d % arch.input_multiple]
    if bad:
        fixed = [max(arch.input_multiple, round(d / arch.input_multiple) * arch.input_multiple) for d in dims]
        example = fixed[0] if isinstance(size, int) else fixed
        yield (("model", "input_size"),
               f"{arch.name} needs sizes that are multiples of {arch.input_multiple}, got {size}",
               f"e.g. input_size: {example}")


def _schedule(spec: Spec, arch: Architecture) -> Finding:
    train = spec.train
    steps = train.steps or arch.train.num_steps
    rate = train.learning_rate
    if isinstance(rate, CosineRate):
        if rate.warmup_steps and rate.warmup_steps >= steps:
            yield (("train", "learning_rate", "warmup_steps"),
                   f"warm-up of {rate.warmup_steps} steps does not end before training does ({steps} steps)",
                   f"e.g. warmup_steps: {max(1, steps // 10)}")
        if rate.warmup_rate is not None and rate.warmup_rate > rate.base:
            yield (("train", "learning_rate", "warmup_rate"),
                   f"warm-up rate {rate.warmup_rate:g} is above the base rate {rate.base:g}",
                   f"e.g. warmup_rate: {rate.base / 3:g}")
    if isinstance(rate, ManualStepRate) and rate.schedule[-1].step >= steps:
        yield (("train", "learning_rate", "schedule"),
               f"step {rate.schedule[-1].step} is not reached in {steps} training steps", None)
    if train.checkpoint_every is not None and train.checkpoint_every > steps:
        yield (("train", "checkpoint_every"), f"no checkpoint would be written before training ends at step {steps}",
               f"e.g. checkpoint_every: {steps}")


def _evaluation(spec: Spec, arch: Architecture) -> Finding:
    every, interval = spec.eval.every, checkpoint_every(spec, arch)
    if every is not None and every % interval:
        yield (("eval", "every"),
               f"evaluations happen on checkpoints, every {interval} steps; {every} is not a multiple",
               f"e.g. every: {interval}")
    if spec.early_stopping is not None:
        yield from _metric_choice(("early_stopping",), spec.early_stopping, spec)
    if spec.tune is not None and spec.tune.objective is not None:
        yield from _metric_choice(("tune", "objective"), spec.tune.objective, spec)


def _metric_choice(loc: tuple[str, ...], chosen: EarlyStopping | Objective, spec: Spec) -> Finding:
    """A metric the evaluation reports, and the way a loss improves: early stopping's and the tune objective's."""
    if spec.eval.metrics == "coco_detection_metrics" and chosen.metric not in COCO_METRICS:
        yield ((*loc, "metric"),
               f"COCO evaluation reports no metric {chosen.metric!r}{suggest(chosen.metric, COCO_METRICS)}",
               "e.g. metric: DetectionBoxes_Precision/mAP")
    if chosen.metric.startswith("Loss/") and chosen.mode == "max":
        yield (*loc, "mode"), "a loss is better when lower", "e.g. mode: min"


def _augmentation(spec: Spec) -> Finding:
    steps = spec.train.augmentation or []
    step_type = protos.load("preprocessor_pb2").PreprocessingStep
    ops = sorted(step_type.DESCRIPTOR.fields_by_name)
    for index, step in enumerate(steps):
        loc: tuple[str | int, ...] = ("train", "augmentation", index)
        if len(step) != 1:
            yield loc, f"each step names exactly one operation, got {len(step)}", "e.g. - random_horizontal_flip: {}"
            continue
        (op, params), = step.items()
        if op not in ops:
            yield ((*loc, op), f"unknown augmentation{suggest(op, ops)}",
                   "see PreprocessingStep in the OD API's preprocessor.proto")
            continue
        yield from _augmentation_params((*loc, op), step_type(), op, params or {})


def _augmentation_params(loc: tuple[str | int, ...], message: Any, op: str, params: dict[str, Any]) -> Finding:
    target = getattr(message, op)
    names = sorted(target.DESCRIPTOR.fields_by_name)
    for name in params:
        if name not in names:
            close = suggest(str(name), names)
            hint = None if close else ("its parameters: " + ", ".join(names) if names else f"{op} takes no parameters")
            yield (*loc, name), f"{op} has no parameter {name!r}{close}", hint
            return
    try:
        json_format.ParseDict(params, target)
    except json_format.ParseError as err:
        yield loc, f"bad parameter value: {err}", None


def _pretrained(spec: Spec, arch: Architecture, root: Path) -> Finding:
    pretrained = spec.model.pretrained
    if pretrained is None or url_scheme(pretrained.checkpoint):  # a URL: _urls says so
        return
    loc = ("model", "pretrained", "checkpoint")
    prefix = (root / pretrained.checkpoint).resolve()
    if pretrained.kind == "fine_tune":
        yield (("model", "pretrained", "kind"),
               f"the TF2 OD API does not restore kind 'fine_tune' for {arch.family} (CenterNet says it is no longer "
               "supported)", "e.g. kind: detection")
    if not prefix.with_name(prefix.name + ".index").is_file():
        yield loc, f"no checkpoint at {prefix} ({prefix.name}.index not found)", _prefix_hint(prefix)
        return
    zoo_config = prefix.parent.parent / "pipeline.config"
    if pretrained.kind == "classification" and (zoo_config.is_file() or _looks_like_detection(prefix)):
        yield (("model", "pretrained", "kind"),
               "this is a detection checkpoint; "
               "kind 'classification' is for ImageNet backbones and fails to restore it", "e.g. kind: detection")
    if pretrained.kind == "full" and zoo_config.is_file():
        theirs = _num_classes(zoo_config)
        if theirs is not None and theirs != len(spec.dataset.classes):
            yield (("model", "pretrained", "kind"),
                   f"kind 'full' restores the class head too, which has {theirs} classes here, not "
                   f"{len(spec.dataset.classes)}", "e.g. kind: detection")


def _prefix_hint(prefix: Path) -> str:
    if prefix.is_dir():
        indexes = sorted(prefix.glob("*.index")) or sorted(prefix.glob("*/*.index"))
        if indexes:
            return f"give the prefix, e.g. checkpoint: {indexes[-1].with_suffix('')}"
    if prefix.suffix in (".index", ".data-00000-of-00001"):
        return f"give the prefix without {prefix.suffix}, e.g. checkpoint: {prefix.with_suffix('')}"
    return ("give the path prefix of a TF2 checkpoint, "
            "e.g. checkpoint: zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint/ckpt-0")


def _looks_like_detection(prefix: Path) -> bool:
    index = prefix.with_name(prefix.name + ".index").read_bytes()
    return b"_box_predictor" in index or b"_box_prediction_head" in index


def _num_classes(config_path: Path) -> int | None:
    from google.protobuf import text_format

    config = protos.load("pipeline_pb2").TrainEvalPipelineConfig()
    try:
        text_format.Parse(config_path.read_text(), config)
    except (text_format.ParseError, OSError, UnicodeDecodeError):
        return None
    family = config.model.WhichOneof("model")
    return getattr(config.model, family).num_classes if family else None


def dataset_paths(loaded: LoadedSpec) -> list[Problem]:
    """The images folder and the annotations must exist before anything reads them."""
    dataset = loaded.spec.dataset
    found = []
    if dataset.path is not None:
        return _export_path(loaded)
    if not (loaded.root / dataset.images_root).is_dir():
        found.append(loaded.problem(("dataset", "images"), f"no folder {loaded.root / dataset.images_root}",
                                    "paths are relative to the spec file"))
    for index, item in enumerate(dataset.annotation_list):
        loc: tuple[str | int, ...] = (
            ("dataset", "annotations") if isinstance(dataset.annotations, str) else ("dataset", "annotations", index))
        if not (loaded.root / item).exists():
            found.append(loaded.problem(loc, f"{loaded.root / item} does not exist",
                                        "paths are relative to the spec file"))
    return found


def _export_path(loaded: LoadedSpec) -> list[Problem]:
    """``dataset.path`` must be a folder whose layout is recognised (listings and small files only)."""
    from odspec.datasets.layouts import detect_layout
    from odspec.errors import DatasetError

    dataset = loaded.spec.dataset
    assert dataset.path is not None
    folder = loaded.root / dataset.path
    if not folder.is_dir():
        return [loaded.problem(("dataset", "path"), f"no folder {folder}",
                               "give the export's root folder; paths are relative to the spec file")]
    try:
        detect_layout(folder, dataset.format)
    except DatasetError as failed:
        return [loaded.problem(("dataset", "path"), failed.message, failed.hint)]
    return []


def detection_limits(config: Any) -> list[tuple[str, int]]:
    """(field, value) of every per-image box limit in a compiled pipeline config."""
    limits = [("train_config.max_number_of_boxes", config.train_config.max_number_of_boxes)]
    family = config.model.WhichOneof("model")
    if family is None:
        return limits
    model = getattr(config.model, family)
    nms_holders = {"ssd": ["post_processing"], "faster_rcnn": ["second_stage_post_processing"]}.get(family, [])
    for holder in nms_holders:
        nms = getattr(model, holder).batch_non_max_suppression
        limits.append((f"model.{family}.{holder}.batch_non_max_suppression.max_total_detections",
                       nms.max_total_detections))
    if family == "center_net":
        limits.append(("model.center_net.object_center_params.max_box_predictions",
                       model.object_center_params.max_box_predictions))
    return limits


def box_limits(loaded: LoadedSpec, config: Any, max_boxes_per_image: int) -> list[Problem]:
    """Every box limit must hold the busiest image, or the OD API silently drops boxes."""
    found = []
    for field, value in detection_limits(config):
        if value and value < max_boxes_per_image:
            owner = ("train", "max_boxes") if field.startswith("train_config") else ("model", "max_detections")
            loc = blame(loaded.spec, field, owner)
            found.append(loaded.problem(loc,
                                        f"{field} is {value}, "
                                        f"but an image in the dataset has {max_boxes_per_image} boxes",
                                        f"e.g. {owner[-1]}: {max_boxes_per_image}"))
    return found
