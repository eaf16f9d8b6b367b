"""CenterNet family entries (box detection only): HourGlass104 512/1024, ResNet50/101 V1 FPN, ResNet50 V2.

All five share the model head and the Adam optimizer; they differ in backbone,
schedule (manual steps or cosine) and augmentation (crop + absolute pad, or
square crop by scale). The input must be a multiple of the backbone's total
stride, or the upsampled features stop lining up with the skip connections or
with the stride-4 targets: HourGlass104 downsamples 4x and then 2x in each of
its 5 stages (128; 320 fails, 384 works), the ResNets reach stride 32 (336
fails, 352 works).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from odspec.catalogue.base import Architecture, AugmentationStep, TrainDefaults

_MODEL: dict[str, Any] = {
    "channel_normalization": None,
    "min_box_overlap_iou": 0.7,
    "max_box_predictions": 100,
}
_HOURGLASS: dict[str, Any] = {
    **_MODEL,
    "feature_extractor": "hourglass_104",
    "channel_normalization": {
        "bgr_ordering": True,
        "channel_means": [104.01362025, 114.03422265, 119.9165958],
        "channel_stds": [73.6027665, 69.89082075, 70.9150767],
    },
}

_COLOUR: tuple[AugmentationStep, ...] = (
    ("random_adjust_hue", {}),
    ("random_adjust_contrast", {}),
    ("random_adjust_saturation", {}),
    ("random_adjust_brightness", {}),
)
_CROP_AND_PAD: tuple[AugmentationStep, ...] = (
    ("random_horizontal_flip", {}),
    ("random_crop_image", {"min_aspect_ratio": 0.5, "max_aspect_ratio": 1.7, "random_coef": 0.25}),
    *_COLOUR,
    ("random_absolute_pad_image", {"max_height_padding": 200, "max_width_padding": 200, "pad_color": [0.0, 0.0, 0.0]}),
)
_SQUARE_CROP: tuple[AugmentationStep, ...] = (
    ("random_horizontal_flip", {}),
    *_COLOUR,
    ("random_square_crop_by_scale", {"scale_min": 0.6, "scale_max": 1.3}),
)

_MANUAL_STEP = {
    "type": "manual_step",
    "initial": 1e-3,
    "schedule": [{"step": 90000, "rate": 1e-4}, {"step": 120000, "rate": 1e-5}],
}
_COSINE = {"type": "cosine", "base": 1e-3, "warmup_rate": 2.5e-4, "warmup_steps": 5000}
_EVAL: dict[str, Any] = {"use_moving_averages": False}


def _train(batch_size: int, num_steps: int, rate: dict[str, Any],
           augmentation: tuple[AugmentationStep, ...]) -> TrainDefaults:
    return TrainDefaults(
        zoo_batch_size=128,
        batch_size=batch_size,
        num_steps=num_steps,
        optimizer={"type": "adam", "epsilon": 1e-7},  # tf.keras Adam's default
        learning_rate=rate,
        augmentation=augmentation,
        max_number_of_boxes=100,
        extra={"unpad_groundtruth_tensors": False},
        optimizer_extra={"use_moving_average": False},
    )


def _hourglass(size: int, speed_ms: int, coco_map: float, train: TrainDefaults) -> Architecture:
    return Architecture(
        name=f"centernet_hourglass104_{size}",
        family="center_net",
        title=f"CenterNet HourGlass104 {size}x{size}",
        zoo_config=f"centernet_hourglass104_{size}x{size}.config",
        template="center_net.j2",
        input_size=(size, size),
        resizer="keep_aspect_ratio",
        speed_ms=speed_ms,
        coco_map=coco_map,
        model=_HOURGLASS,
        train=train,
        eval_extra=_EVAL,
        input_multiple=128,
    )


def _resnet(backbone: str, extractor: str, title: str, speed_ms: int, coco_map: float,
            train: TrainDefaults) -> Architecture:
    return Architecture(
        name=f"centernet_{backbone}_512",
        family="center_net",
        title=f"CenterNet {title} 512x512",
        zoo_config=f"centernet_{backbone}_512x512.config",
        template="center_net.j2",
        input_size=(512, 512),
        resizer="keep_aspect_ratio",
        speed_ms=speed_ms,
        coco_map=coco_map,
        model={**_MODEL, "feature_extractor": extractor},
        train=train,
        eval_extra=_EVAL,
        input_multiple=32,
    )


ENTRIES = (
    _hourglass(512, 70, 41.9, _train(4, 140000, _MANUAL_STEP, _CROP_AND_PAD)),
    _hourglass(1024, 197, 44.5, _train(1, 50000, _COSINE, _SQUARE_CROP)),
    replace(
        _resnet("resnet50_v1_fpn", "resnet_v1_50_fpn", "ResNet50 V1 FPN", 27, 31.2,
                _train(8, 250000, _COSINE, _CROP_AND_PAD)),
        eval_extra={**_EVAL, "max_num_boxes_to_visualize": 20, "min_score_threshold": 0.2},
        derived=(
            "No detection-only CenterNet ResNet50 V1 FPN 512x512 config is published, so this is the published"
            " centernet_resnet50_v1_fpn_512x512_kpts config with its keypoint task, keypoint augmentation"
            " and keypoint eval fields removed."
        ),
    ),
    _resnet("resnet101_v1_fpn", "resnet_v1_101_fpn", "ResNet101 V1 FPN", 34, 34.2,
            _train(8, 140000, _MANUAL_STEP, _CROP_AND_PAD)),
    replace(
        _resnet("resnet50_v2", "resnet_v2_50", "ResNet50 V2", 27, 29.5, _train(8, 250000, _COSINE, _CROP_AND_PAD)),
        zoo_config="centernet_resnet50_v2_512x512_fixed.config",
        derived=(
            "The published centernet_resnet50_v2_512x512 config reads Google-internal SSTables through an"
            " input-reader extension that does not parse, so its readers are replaced by tf_record_input_reader;"
            " model and training values are unchanged."
        ),
    ),
)
