"""Run in a child by test_compat_odapi.py: apply odspec's shims (all, or all but some), then try each symptom.

``python shim_checks.py [--without NAME ...] [--check NAME ...]`` prints one JSON
line: ``{"applied": [...], "checks": {name: {"ok": bool, "error": str | None, ...}}}``.
Without ``--without`` it calls ``compat.apply()`` itself; with it, it runs every
other shim's patch in ``apply()``'s order, so only the named ones are missing.
Each check does what the OD API does where the symptom shows, and records the
exception instead of stopping, so one child answers for several shims.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def legacy_keras() -> dict[str, Any]:
    """tf.keras must be Keras 2: the OD API uses tf.keras.layers.experimental (gone in Keras 3)."""
    import tensorflow as tf

    package = tf.keras.__name__.partition(".")[0]
    found = {"package": package, "version": str(sys.modules[package].__version__),
             "dense_module": tf.keras.layers.Dense.__module__}
    tf.keras.layers.experimental.SyncBatchNormalization  # noqa: B018 - the OD API's first use of it
    return found


def protos_import_hook() -> dict[str, Any]:
    from object_detection.protos import pipeline_pb2

    config = pipeline_pb2.TrainEvalPipelineConfig()
    config.model.ssd.num_classes = 3
    return {"num_classes": pipeline_pb2.TrainEvalPipelineConfig.FromString(config.SerializeToString())
            .model.ssd.num_classes}


def estimator_mode_keys() -> dict[str, Any]:
    from object_detection import inputs, model_lib

    return {"modes": [inputs.tf.estimator.ModeKeys.TRAIN, model_lib.tf.estimator.ModeKeys.EVAL]}


def tensorflow_io_absent() -> dict[str, Any]:
    """model_builder imports (it pulls in tensorflow_io through DeepMAC) without tensorflow-io's load warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from object_detection.builders import model_builder  # noqa: F401
    loading = [str(w.message) for w in caught if "tensorflow_io" in str(w.message)]
    found: dict[str, Any] = {"load_warnings": loading, "module": type(sys.modules.get("tensorflow_io")).__name__}
    if loading:
        raise RuntimeError(f"tensorflow-io failed to load: {loading[0]}")
    try:
        import tensorflow_io

        tensorflow_io.experimental  # noqa: B018 - what DeepMAC's colour-consistency loss touches
        found["use"] = "ok"
    except Exception as exc:  # noqa: BLE001
        found["use"] = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    return found


def _example() -> bytes:
    from PIL import Image

    from odspec.records import detection_example

    out = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(out, format="JPEG", quality=95)
    data = out.getvalue()
    return detection_example(encoded=data, image_format="jpeg", width=48, height=32, filename="a.jpg", source_id="a",
                             sha256=hashlib.sha256(data).hexdigest(), boxes=[(0.25, 0.125, 0.75, 0.5)],
                             class_texts=["circle"], class_ids=[1], difficult=[False], truncated=[False], views=[""])


def tf_slim_control_flow() -> dict[str, Any]:
    """The OD API's decoder (tf-slim's tfexample_decoder inside) decodes a record, as training's input does."""
    import tensorflow as tf
    from object_detection.core import standard_fields
    from object_detection.data_decoders import tf_example_decoder

    fields = standard_fields.InputDataFields
    decoded = next(iter(tf.data.Dataset.from_tensors(_example()).map(tf_example_decoder.TfExampleDecoder().decode)))
    return {"image_shape": [int(x) for x in decoded[fields.image].shape],
            "boxes": decoded[fields.groundtruth_boxes].numpy().tolist(),
            "classes": decoded[fields.groundtruth_classes].numpy().tolist()}


def _bbox_size(font: Any, text: str) -> list[int]:
    """Pillow < 10's getsize, computed independently from getbbox (what the shim claims to match)."""
    left, _top, right, bottom = font.getbbox(text)
    return [int(right - min(left, 0)), int(bottom)]


def pillow_getsize() -> dict[str, Any]:
    """Label layout as eval image summaries do it, and getsize against the bbox-derived size on two fonts."""
    from object_detection.utils import visualization_utils
    from PIL import Image, ImageFont

    fonts = {"default": ImageFont.load_default()}
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        ttf = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if ttf.is_file():
            fonts["DejaVuSans-24"] = ImageFont.truetype(str(ttf), 24)
    sizes = {name: {text: [list(font.getsize(text)), _bbox_size(font, text)] for text in ("ab", "circle: 97%")}
             for name, font in fonts.items()}
    image = Image.new("RGB", (64, 64))
    visualization_utils.draw_bounding_box_on_image(image, 0.2, 0.2, 0.8, 0.8, display_str_list=["circle: 97%"])
    return {"sizes": sizes, "drawn_pixels": sum(1 for p in image.getdata() if p != (0, 0, 0))}


def numpy_aliases_in_od_metrics() -> dict[str, Any]:
    import numpy as np
    from object_detection.utils import metrics

    scores = np.array([0.9, 0.8, 0.3], dtype=float)
    labels = np.array([1.0, 0.0, 1.0], dtype=float)
    precision, recall = metrics.compute_precision_recall(scores, labels, num_gt=2)
    average = metrics.compute_average_precision(precision, recall)
    no_truth = metrics.compute_average_precision(None, None)
    return {"precision": precision.tolist(), "recall": recall.tolist(), "average_precision": float(average),
            "no_truth_is_nan": math.isnan(no_truth), "numpy_float": hasattr(np, "float")}


# tensorflow_io_absent runs before anything else imports model_builder, so it sees tensorflow-io's load warnings.
CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "legacy_keras": legacy_keras, "protos_import_hook": protos_import_hook,
    "tensorflow_io_absent": tensorflow_io_absent, "estimator_mode_keys": estimator_mode_keys,
    "tf_slim_control_flow": tf_slim_control_flow,
    "pillow_getsize": pillow_getsize, "numpy_aliases_in_od_metrics": numpy_aliases_in_od_metrics,
}


def run(name: str) -> dict[str, Any]:
    try:
        return {"ok": True, "error": None, **CHECKS[name]()}
    except Exception as exc:  # noqa: BLE001 - the symptom, recorded
        traceback.print_exc(file=sys.stderr)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--without", action="append", default=[], choices=sorted(CHECKS))
    parser.add_argument("--check", action="append", default=[], choices=sorted(CHECKS))
    args = parser.parse_args()
    from odspec.odapi import compat

    if args.without:
        applied = [shim.name for shim in compat.SHIMS if shim.name not in args.without and shim.patch()]
    else:
        applied = list(compat.apply())
    checks = {name: run(name) for name in CHECKS if name in (args.check or CHECKS)}
    print(json.dumps({"applied": applied, "checks": checks}), flush=True)


if __name__ == "__main__":
    main()
