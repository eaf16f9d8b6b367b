"""Faster R-CNN family entries: ResNet V1 50/101/152, ResNet50 V1 FPN, Inception-ResNet V2.

The zoo trained these with two recipes. The 640x640 and 1024x1024 configs are
TPU-8 runs (static shapes, trainable batch norm, 300 detections, batch 64,
cosine 0.04; the single-scale ResNets also share one box across classes); the
800x1333 configs and the Inception-ResNet V2 one are GPU-8 runs (dynamic
shapes, 100 detections, batch 16, cosine from 0 with gradient clipping).

Only the FPN variant constrains the input size: its anchors follow the image
while its features follow the image padded to a multiple of 32, so the two
disagree unless the input is a multiple of 32. The single-scale ResNet and
Inception-ResNet extractors build and run at any size (checked at 500x500).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odspec.catalogue.base import Architecture, AugmentationStep, Resizer, TrainDefaults
from odspec.odapi.pbtext import Enum

_GRID_ANCHORS = {"scales": [0.25, 0.5, 1.0, 2.0], "aspect_ratios": [0.5, 1.0, 2.0], "stride": 16}

_MODEL: dict[str, Any] = {
    "batch_norm_trainable": True,
    "fpn": None,
    "anchor_generator": "grid",
    "anchors": _GRID_ANCHORS,
    "first_stage_nms_iou": 0.7,
    "first_stage_max_proposals": 300,
    "initial_crop_size": 14,
    "maxpool_kernel_size": 2,
    "maxpool_stride": 2,
    "share_box_across_classes": True,
    "nms_iou": 0.6,
    "max_detections_per_class": 100,
    "max_total_detections": 300,
    "static_shapes": True,
}
_GPU_MODEL = {
    **_MODEL,
    "batch_norm_trainable": False,
    "share_box_across_classes": False,
    "max_total_detections": 100,
    "static_shapes": False,
}

_FPN = {
    "min_level": 2,
    "max_level": 6,
    "hyperparams": {
        "activation": Enum("RELU_6"),
        "l2": 0.0004,
        "initializer": "truncated_normal_initializer",
        "stddev": 0.03,
        "bn_decay": 0.997,
        "bn_epsilon": 0.001,
    },
}
_FPN_ANCHORS = {"min_level": 2, "max_level": 6, "anchor_scale": 4.0, "aspect_ratios": [1.0, 2.0, 0.5],
                "scales_per_octave": 2}

_FLIP: tuple[AugmentationStep, ...] = (("random_horizontal_flip", {}),)
_FLIP_COLOUR_SCALE: tuple[AugmentationStep, ...] = (
    *_FLIP,
    ("random_adjust_hue", {}),
    ("random_adjust_contrast", {}),
    ("random_adjust_saturation", {}),
    ("random_square_crop_by_scale", {"scale_min": 0.6, "scale_max": 1.3}),
)
_MOMENTUM = {"type": "momentum", "momentum": 0.9}


def _tpu_train(batch_size: int, num_steps: int, augmentation: tuple[AugmentationStep, ...]) -> TrainDefaults:
    return TrainDefaults(
        zoo_batch_size=64,
        batch_size=batch_size,
        num_steps=num_steps,
        optimizer=_MOMENTUM,
        learning_rate={"type": "cosine", "base": 0.04, "warmup_rate": 0.013333, "warmup_steps": 2000},
        augmentation=augmentation,
        max_number_of_boxes=100,
        extra={"unpad_groundtruth_tensors": False},
        optimizer_extra={"use_moving_average": False},
        tpu_bfloat16=True,  # the TPU-trained configs (640, 1024, FPN 640) train in bfloat16; the GPU ones do not
    )


def _gpu_train(batch_size: int, base_rate: float, augmentation: tuple[AugmentationStep, ...]) -> TrainDefaults:
    return TrainDefaults(
        zoo_batch_size=16,
        batch_size=batch_size,
        num_steps=200000,
        optimizer=_MOMENTUM,
        learning_rate={"type": "cosine", "base": base_rate, "warmup_rate": 0.0, "warmup_steps": 5000},
        augmentation=augmentation,
        max_number_of_boxes=100,
        extra={"gradient_clipping_by_norm": 10.0},
        optimizer_extra={"use_moving_average": False},
    )


@dataclass(frozen=True)
class _Resolution:
    """One of the zoo's three ResNet input settings, with the recipe it was trained with."""

    suffix: str
    input_size: tuple[int, int]
    resizer: Resizer
    model: Mapping[str, Any]
    train: TrainDefaults


_RESOLUTIONS = {
    "640": _Resolution("640x640", (640, 640), "keep_aspect_ratio", _MODEL, _tpu_train(4, 25000, _FLIP)),
    "1024": _Resolution("1024x1024", (1024, 1024), "fixed_shape", _MODEL, _tpu_train(2, 100000, _FLIP_COLOUR_SCALE)),
    "800x1333": _Resolution("800x1333", (800, 1333), "keep_aspect_ratio", _GPU_MODEL,
                            _gpu_train(2, 0.01, _FLIP_COLOUR_SCALE)),
}


def _resnet(depth: int, resolution: str, speed_ms: int, coco_map: float) -> Architecture:
    setting = _RESOLUTIONS[resolution]
    return Architecture(
        name=f"faster_rcnn_resnet{depth}_v1_{resolution}",
        family="faster_rcnn",
        title=f"Faster R-CNN ResNet{depth} V1 {setting.suffix}",
        zoo_config=f"faster_rcnn_resnet{depth}_v1_{setting.suffix}.config",
        template="faster_rcnn.j2",
        input_size=setting.input_size,
        resizer=setting.resizer,
        speed_ms=speed_ms,
        coco_map=coco_map,
        model={**setting.model, "feature_extractor": f"faster_rcnn_resnet{depth}_keras"},
        train=setting.train,
        eval_extra={"use_moving_averages": False},
    )


def _resnet50_fpn() -> Architecture:
    return Architecture(
        name="faster_rcnn_resnet50_v1_fpn_640",
        family="faster_rcnn",
        title="Faster R-CNN ResNet50 V1 FPN 640x640",
        zoo_config="faster_rcnn_resnet50_v1_fpn_640x640.config",
        template="faster_rcnn.j2",
        input_size=(640, 640),
        resizer="keep_aspect_ratio",
        # Not in the zoo table: mAP is the config's own claim, speed an estimate (ResNet50 640 is 53 ms).
        speed_ms=60,
        coco_map=31.4,
        model={
            **_MODEL,
            "feature_extractor": "faster_rcnn_resnet50_fpn_keras",
            "fpn": _FPN,
            "anchor_generator": "multiscale",
            "anchors": _FPN_ANCHORS,
            "share_box_across_classes": False,
        },
        train=_tpu_train(4, 25000, _FLIP),
        eval_extra={"use_moving_averages": False},
        input_multiple=32,
    )


def _inception_resnet_v2() -> Architecture:
    return Architecture(
        name="faster_rcnn_inception_resnet_v2_1024",
        family="faster_rcnn",
        title="Faster R-CNN Inception ResNet V2 1024x1024",
        zoo_config="faster_rcnn_inception_resnet_v2_1024x1024_nomask.config",
        template="faster_rcnn.j2",
        input_size=(1024, 1024),
        resizer="fixed_shape",
        speed_ms=236,
        coco_map=38.7,
        model={
            **_GPU_MODEL,
            "feature_extractor": "faster_rcnn_inception_resnet_v2_keras",
            "initial_crop_size": 17,
            "maxpool_kernel_size": 1,
            "maxpool_stride": 1,
        },
        train=_gpu_train(1, 0.008, _FLIP),
        eval_extra={"use_moving_averages": False, "include_metrics_per_category": True},
        derived=(
            "No Faster R-CNN Inception-ResNet V2 config is published, so this is the published"
            " mask_rcnn_inception_resnet_v2_1024x1024 config with its mask head, mask loss, mask inputs"
            " and mask metrics removed."
        ),
    )


ENTRIES = (
    _resnet(50, "640", 53, 29.3),
    _resnet(50, "1024", 65, 31.0),
    _resnet(50, "800x1333", 65, 31.6),
    _resnet(101, "640", 55, 31.8),
    _resnet(101, "1024", 72, 37.1),
    _resnet(101, "800x1333", 77, 36.6),
    _resnet(152, "640", 64, 32.4),
    _resnet(152, "1024", 85, 37.6),
    _resnet(152, "800x1333", 101, 37.4),
    _resnet50_fpn(),
    _inception_resnet_v2(),
)
