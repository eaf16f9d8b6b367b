"""Does a ``pipeline.config`` build a model, and does one training forward pass give finite losses?

This catches configs the OD API accepts as text but cannot build or train
(wrong feature extractor for the meta-architecture, impossible anchor or
resizer settings, ...) in seconds instead of after minutes of graph tracing.
It runs the OD API's own parser and model builder on random data, so it needs
no dataset. Run it in a child process (``python -m odspec.odapi.smoke CONFIG
[--forward]``, several configs at once to pay TensorFlow's import once): it
imports TensorFlow and patches the OD API (see ``compat``). It prints one JSON
object per config; read them with :func:`parse_outputs` (or the last with
:func:`parse_output`).
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from odspec.errors import BuildError, OdspecError, SmokeFailure

DEFAULT_BATCH = 2


@dataclass(frozen=True)
class SmokeResult:
    """What one smoke check found; ``losses`` is empty unless the forward pass ran."""

    config: str
    built: bool
    model_class: str
    num_classes: int
    forward: bool
    losses: dict[str, float] = field(default_factory=dict)
    image_size: tuple[int, int] | None = None
    batch_size: int = 0
    import_seconds: float = 0.0
    build_seconds: float = 0.0
    forward_seconds: float = 0.0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    patches: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def smoke(pipeline_config: str | Path, *, forward: bool = False, batch_size: int = DEFAULT_BATCH,
          seed: int = 0) -> SmokeResult:
    """Parse ``pipeline_config`` with the OD API, build its model for training, optionally run a loss.

    Raises :class:`SmokeFailure` naming the stage (read, build, forward) that failed.
    """
    started = time.monotonic()
    path = Path(pipeline_config)
    if not path.is_file():
        raise SmokeFailure("read", f"{path}: no such pipeline config")
    if batch_size not in (1, 2):
        raise SmokeFailure("read", f"batch_size must be 1 or 2 for a smoke check, got {batch_size}")
    from odspec.odapi import compat

    patches = compat.apply()
    from object_detection.builders import model_builder

    import_seconds = time.monotonic() - started
    model_config = _read_model_config(path)
    _seed_everything(seed)
    t0 = time.monotonic()
    try:
        model = model_builder.build(model_config=model_config, is_training=True)
    except Exception as exc:
        raise SmokeFailure("build", f"{path}: the OD API cannot build this model: {_describe(exc)}") from exc
    build_seconds = time.monotonic() - t0
    result = SmokeResult(
        config=str(path), built=True, model_class=type(model).__name__, num_classes=int(model.num_classes),
        forward=False, import_seconds=round(import_seconds, 2), build_seconds=round(build_seconds, 2),
        patches=patches,
    )
    if forward:
        size = input_size(model_config)
        t0 = time.monotonic()
        losses = _forward_losses(path, model, size, batch_size, seed)
        result = replace(result, forward=True, losses=losses, image_size=size, batch_size=batch_size,
                         forward_seconds=round(time.monotonic() - t0, 2))
    return replace(result, seconds=round(time.monotonic() - started, 2), peak_rss_mb=round(peak_rss_mb(), 1))


def _seed_everything(seed: int) -> None:
    """Seed Python, numpy and TF before any variable exists, so reruns start from the same weights."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _read_model_config(path: Path) -> Any:
    """The ``model`` part of the config, read by the OD API's own reader (what training will use)."""
    from object_detection.utils import config_util

    try:
        configs = config_util.get_configs_from_pipeline_file(str(path))
    except Exception as exc:
        raise SmokeFailure("read", f"{path}: not a valid TrainEvalPipelineConfig: {_describe(exc)}") from exc
    return configs["model"]


def input_size(model_config: Any) -> tuple[int, int]:
    """(height, width) of the images the model's resizer produces.

    For aspect-keeping resizers without padding, the largest image it produces
    (min_dimension x max_dimension), so the forward pass costs what training does.
    """
    from object_detection.utils import config_util

    resizer = config_util.get_image_resizer_config(model_config)
    height, width = config_util.get_spatial_image_size(resizer)
    if height > 0 and width > 0:
        return int(height), int(width)
    if resizer.HasField("keep_aspect_ratio_resizer"):
        keep = resizer.keep_aspect_ratio_resizer
        return int(keep.min_dimension), int(keep.max_dimension)
    return 512, 512  # identity/conditional resizers accept any size


def _forward_losses(path: Path, model: Any, size: tuple[int, int], batch_size: int, seed: int) -> dict[str, float]:
    """One training-mode preprocess → provide_groundtruth → predict → loss, as model_lib_v2 does it.

    Ground truth goes in before ``predict`` because Faster R-CNN samples its
    second-stage proposals against it in training mode.
    """
    import tensorflow as tf

    try:
        images = tf.random.uniform([batch_size, *size, 3], 0.0, 255.0, dtype=tf.float32)
        preprocessed, true_shapes = model.preprocess(images)
        model.provide_groundtruth(**_random_groundtruth(tf, batch_size, model.num_classes, seed))
        predictions = model.predict(preprocessed, true_shapes)
        losses = dict(model.loss(predictions, true_shapes))
        regularization = model.regularization_losses()
        if regularization:
            losses["Loss/regularization_loss"] = tf.add_n([tf.cast(r, tf.float32) for r in regularization])
        losses["Loss/total_loss"] = tf.add_n([tf.cast(v, tf.float32) for v in losses.values()])
        values = {name: float(tf.cast(value, tf.float32).numpy()) for name, value in losses.items()}
    except Exception as exc:
        raise SmokeFailure("forward", f"{path}: the forward pass failed: {_describe(exc)}") from exc
    bad = sorted(name for name, value in values.items() if not math.isfinite(value))
    if bad:
        raise SmokeFailure("forward", f"{path}: non-finite losses on random data: {', '.join(bad)}", hint=str(values))
    return values


def _random_groundtruth(tf: Any, batch_size: int, num_classes: int, seed: int) -> dict[str, list[Any]]:
    """1-2 boxes per image, normalized [ymin, xmin, ymax, xmax], one-hot classes, unit weights."""
    import numpy as np

    rng = np.random.default_rng(seed)
    boxes, classes, weights = [], [], []
    for count in rng.integers(1, 3, size=batch_size):
        corner = rng.uniform(0.0, 0.6, size=(count, 2))
        extent = rng.uniform(0.2, 0.4, size=(count, 2))
        boxes.append(tf.constant(np.concatenate([corner, corner + extent], axis=1), tf.float32))
        labels = rng.integers(0, num_classes, size=count)
        classes.append(tf.one_hot(labels, num_classes, dtype=tf.float32))
        weights.append(tf.ones([count], tf.float32))
    return {"groundtruth_boxes_list": boxes, "groundtruth_classes_list": classes,
            "groundtruth_weights_list": weights}


def peak_rss_mb() -> float:
    """This process's peak resident set size; ru_maxrss is KiB on Linux but bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _results(lines: Iterable[str]) -> list[dict[str, Any]]:
    from odspec.procs import json_lines

    return [found for found in json_lines(lines) if "config" in found]


def parse_output(lines: Iterable[str]) -> dict[str, Any]:
    """The JSON object from a smoke run's output (its last line that is one)."""
    found = _results(lines)
    if not found:
        raise BuildError("the smoke check printed no JSON result")
    return found[-1]


def parse_outputs(lines: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each config's JSON result from a smoke run over several configs, by config path."""
    return {result["config"]: result for result in _results(lines)}


def _check_one(path: Path, forward: bool, batch_size: int, seed: int) -> bool:
    try:
        result = smoke(path, forward=forward, batch_size=batch_size, seed=seed)
    except OdspecError as err:
        if err.__cause__ is not None:
            traceback.print_exception(err.__cause__, file=sys.stderr)
        stage = getattr(err, "stage", "read")
        print(json.dumps({"config": str(path), "built": stage == "forward", "forward": False,
                          "stage": stage, "error": str(err)}), flush=True)
        print(f"smoke: error: {err}", file=sys.stderr)
        return False
    print(result.to_json(), flush=True)
    return True


def _release_models() -> None:
    """Drop the previous model's graph and variables before the next config builds."""
    import gc

    import tensorflow as tf

    tf.keras.backend.clear_session()
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m odspec.odapi.smoke", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("pipeline_config", type=Path, nargs="+")
    parser.add_argument("--forward", action="store_true", help="also run one forward pass and loss")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ok = True
    for index, path in enumerate(args.pipeline_config):
        if index:
            _release_models()
        ok = _check_one(path, args.forward, args.batch_size, args.seed) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
