"""EfficientDet D0-D7: SSD with an EfficientNet backbone, a BiFPN and a depthwise shared box tower.

The eight zoo configs differ only in the numbers of :data:`_SCALES`; everything
else is :func:`_model` and :func:`_train`, built on the SSD family's shared pieces.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from odspec.catalogue.base import Architecture, TrainDefaults
from odspec.catalogue.ssd import (
    MULTISCALE_ANCHORS,
    SSD_HEAD,
    conv_hyperparams,
    cosine,
    ssd_entry,
    ssd_train,
)


class _Scale(NamedTuple):
    backbone: str  # EfficientNet variant
    size: int  # square input, keep-aspect resized and padded
    width: int  # BiFPN filters and box-tower depth
    bifpn_iterations: int
    predictor_layers: int
    combine_method: str  # how BiFPN nodes merge their inputs
    batch_size: int  # odspec's default: fits one GPU
    speed_ms: int  # zoo-published GPU latency
    coco_map: float  # zoo-published COCO mAP


_SCALES = {
    0: _Scale("b0", 512, 64, 3, 3, "fast_attention", 8, 39, 33.6),
    1: _Scale("b1", 640, 88, 4, 3, "fast_attention", 8, 54, 38.4),
    2: _Scale("b2", 768, 112, 5, 3, "fast_attention", 4, 67, 41.8),
    3: _Scale("b3", 896, 160, 6, 4, "fast_attention", 4, 95, 45.4),
    4: _Scale("b4", 1024, 224, 7, 4, "fast_attention", 2, 133, 48.5),
    5: _Scale("b5", 1280, 288, 7, 4, "fast_attention", 2, 222, 49.7),
    6: _Scale("b6", 1408, 384, 8, 5, "sum", 1, 268, 50.5),  # the zoo: "unweighted sum for stability"
    7: _Scale("b6", 1536, 384, 8, 5, "sum", 1, 325, 51.2),
}

# The BiFPN resamples by exactly 2 between levels 3..7 with no cropping, so the padded
# input side must divide by 2**7.
BIFPN_INPUT_MULTIPLE = 128


def _model(scale: _Scale) -> dict[str, Any]:
    swish: dict[str, Any] = {"activation": "SWISH", "force_use_bias": True, "l2": 0.00004, "bn_decay": 0.99}
    return {
        **SSD_HEAD,
        "add_background_class": False,
        "focal_gamma": 1.5,
        "nms_iou": 0.5,
        **MULTISCALE_ANCHORS,
        "scales_per_octave": 3,
        "box_predictor": "weight_shared",
        "predictor_depth": scale.width,
        "predictor_layers": scale.predictor_layers,
        "share_prediction_tower": False,
        "predictor_depthwise": True,
        "predictor_hyperparams": conv_hyperparams(stddev=0.01, **swish),
        "feature_extractor": f"ssd_efficientnet-{scale.backbone}_bifpn_keras",
        "extractor_depthwise": False,
        "neck": "bifpn",
        "bifpn_iterations": scale.bifpn_iterations,
        "bifpn_filters": scale.width,
        "bifpn_combine_method": scale.combine_method,
        "min_depth": 16,
        "depth_multiplier": 1.0,
        "extractor_hyperparams": conv_hyperparams(stddev=0.03, truncated=True, **swish),
        "override_base_hyperparams": False,
    }


def _train(scale: _Scale) -> TrainDefaults:
    """Every size trains 300k steps at batch 128 (TPU-8 and TPU-32 alike), in bfloat16."""
    return ssd_train(
        zoo_batch_size=128,
        batch_size=scale.batch_size,
        num_steps=300000,
        rate=cosine(0.08, 0.001, 2500),
        crop=("random_scale_crop_and_pad_to_square", {"output_size": scale.size, "scale_min": 0.1, "scale_max": 2.0}),
        bfloat16=True,
    )


def _efficientdet(level: int) -> Architecture:
    scale = _SCALES[level]
    return ssd_entry(
        f"efficientdet_d{level}",
        f"EfficientDet D{level} {scale.size}x{scale.size}",
        f"ssd_efficientdet_d{level}_{scale.size}x{scale.size}.config",
        input_size=(scale.size, scale.size),
        resizer="keep_aspect_ratio",
        speed_ms=scale.speed_ms,
        coco_map=scale.coco_map,
        model=_model(scale),
        train=_train(scale),
        eval_extra={"use_moving_averages": False, "batch_size": 1},
        input_multiple=BIFPN_INPUT_MULTIPLE,
    )


ENTRIES = tuple(_efficientdet(level) for level in _SCALES)
