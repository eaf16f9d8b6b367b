"""SSD family entries: MobileNet V2, MobileNet V1 FPN, MobileNet V2 FPNLite and ResNet-FPN (RetinaNet).

EfficientDet is an SSD too; its entries are in :mod:`odspec.catalogue.efficientdet`
and reuse the shared pieces defined here. Values every SSD config shares are
written once; each builder adds what its sub-family changes. The model keys
are the variables of ``templates/model/ssd.j2``; ``anchor_generator``,
``box_predictor`` and ``neck`` pick its variant blocks.
"""

from __future__ import annotations

from typing import Any

from odspec.catalogue.base import Architecture, AugmentationStep, TrainDefaults
from odspec.odapi.pbtext import Enum

# Loss and post-processing of every published SSD config; EfficientDet changes three of them.
SSD_HEAD: dict[str, Any] = {
    "add_background_class": True,
    "focal_alpha": 0.25,
    "focal_gamma": 2.0,
    "nms_iou": 0.6,
    "max_detections_per_class": 100,
    "max_total_detections": 100,
}

# RetinaNet-style anchors on pyramid levels 3-7 (FPN, FPNLite, EfficientDet).
MULTISCALE_ANCHORS: dict[str, Any] = {
    "anchor_generator": "multiscale",
    "min_level": 3,
    "max_level": 7,
    "anchor_scale": 4.0,
    "aspect_ratios": [1.0, 2.0, 0.5],
    "scales_per_octave": 2,
}

# The zoo's global batches are for TPU pods; these fit one GPU.
DEFAULT_BATCH_BY_SIZE = {320: 16, 640: 8, 1024: 4}

# FPN levels above the backbone's stride 32 are extra stride-2 convolutions; the top-down
# path adds an upsampled map to the backbone's, so sizes must divide by 2**5.
FPN_INPUT_MULTIPLE = 32


def conv_hyperparams(
    *,
    l2: float,
    stddev: float,
    bn_decay: float,
    truncated: bool = False,
    activation: str = "RELU_6",
    force_use_bias: bool = False,
) -> dict[str, Any]:
    """The values of the ``conv_hyperparams`` macro in ``templates/macros.j2``."""
    return {
        "activation": Enum(activation),
        "force_use_bias": force_use_bias,
        "l2": l2,
        "initializer": "truncated_normal_initializer" if truncated else "random_normal_initializer",
        "stddev": stddev,
        "bn_decay": bn_decay,
        "bn_epsilon": 0.001,
    }


def cosine(base: float, warmup_rate: float, warmup_steps: int) -> dict[str, Any]:
    return {"type": "cosine", "base": base, "warmup_rate": warmup_rate, "warmup_steps": warmup_steps}


def ssd_train(
    *, zoo_batch_size: int, batch_size: int, num_steps: int, rate: dict[str, Any], crop: AugmentationStep,
    bfloat16: bool = False,
) -> TrainDefaults:
    """Every SSD zoo config trains with momentum 0.9, a horizontal flip and one crop step."""
    return TrainDefaults(
        zoo_batch_size=zoo_batch_size,
        batch_size=batch_size,
        num_steps=num_steps,
        optimizer={"type": "momentum", "momentum": 0.9},
        learning_rate=rate,
        augmentation=(("random_horizontal_flip", {}), crop),
        max_number_of_boxes=100,
        extra={"unpad_groundtruth_tensors": False},
        optimizer_extra={"use_moving_average": False},
        tpu_bfloat16=bfloat16,
    )


def ssd_entry(name: str, title: str, zoo_config: str, **fields: Any) -> Architecture:
    """An :class:`Architecture` of the SSD family; ``fields`` are the remaining dataclass fields."""
    fields.setdefault("resizer", "fixed_shape")
    fields.setdefault("eval_extra", {"use_moving_averages": False})
    return Architecture(name=name, family="ssd", title=title, zoo_config=zoo_config, template="ssd.j2", **fields)


_RANDOM_CROP: AugmentationStep = (
    "random_crop_image",
    {
        "min_object_covered": 0.0,
        "min_aspect_ratio": 0.75,
        "max_aspect_ratio": 3.0,
        "min_area": 0.75,
        "max_area": 1.0,
        "overlap_thresh": 0.0,
    },
)

_MOBILENET_FPN_HYPERPARAMS = conv_hyperparams(l2=0.00004, stddev=0.01, bn_decay=0.997)


def _fpn_model(extractor: str, depth: int, predictor: dict[str, Any], backbone: dict[str, Any],
               lite: bool) -> dict[str, Any]:
    """Shared-weight box tower on an FPN; ``lite`` (FPNLite) uses depthwise convolutions and one tower."""
    return {
        **SSD_HEAD,
        **MULTISCALE_ANCHORS,
        "box_predictor": "weight_shared",
        "predictor_depth": depth,
        "predictor_layers": 4,
        "share_prediction_tower": lite,
        "predictor_depthwise": lite,
        "predictor_hyperparams": predictor,
        "feature_extractor": extractor,
        "extractor_depthwise": lite,
        "neck": "fpn",
        "fpn_depth": depth,  # the zoo configs give the FPN and the box tower one depth
        "min_depth": 16,
        "depth_multiplier": 1.0,
        "extractor_hyperparams": backbone,
        "override_base_hyperparams": True,
    }


def _mobilenet_v2() -> Architecture:
    """The classic SSD: six feature maps, SSD anchors, a 1x1 convolutional predictor."""
    model = {
        **SSD_HEAD,
        "focal_alpha": 0.75,
        "anchor_generator": "ssd",
        "anchor_layers": 6,
        "anchor_min_scale": 0.2,
        "anchor_max_scale": 0.95,
        "aspect_ratios": [1.0, 2.0, 0.5, 3.0, 0.3333],
        "box_predictor": "convolutional",
        "predictor_layers": 0,
        "predictor_hyperparams": conv_hyperparams(l2=0.00004, stddev=0.01, bn_decay=0.97),
        "feature_extractor": "ssd_mobilenet_v2_keras",
        "extractor_depthwise": False,
        "neck": "none",
        "min_depth": 16,
        "depth_multiplier": 1.0,
        "extractor_hyperparams": conv_hyperparams(l2=0.00004, stddev=0.03, bn_decay=0.97, truncated=True),
        "override_base_hyperparams": True,
    }
    return ssd_entry(
        "ssd_mobilenet_v2_320",
        "SSD MobileNet V2 320x320",
        "ssd_mobilenet_v2_320x320.config",
        input_size=(300, 300),  # the published "320x320" config resizes to 300x300
        speed_ms=19,
        coco_map=20.2,
        model=model,
        train=ssd_train(
            zoo_batch_size=512,
            batch_size=DEFAULT_BATCH_BY_SIZE[320],
            num_steps=50000,
            rate=cosine(0.08, 0.013333, 2000),
            crop=("ssd_random_crop", {}),
        ),
    )


def _fpnlite(size: int, speed_ms: int, coco_map: float) -> Architecture:
    return ssd_entry(
        f"ssd_mobilenet_v2_fpnlite_{size}",
        f"SSD MobileNet V2 FPNLite {size}x{size}",
        f"ssd_mobilenet_v2_fpnlite_{size}x{size}.config",
        input_size=(size, size),
        speed_ms=speed_ms,
        coco_map=coco_map,
        model=_fpn_model("ssd_mobilenet_v2_fpn_keras", 128, _MOBILENET_FPN_HYPERPARAMS, _MOBILENET_FPN_HYPERPARAMS,
                         lite=True),
        train=ssd_train(
            zoo_batch_size=128,
            batch_size=DEFAULT_BATCH_BY_SIZE[size],
            num_steps=50000,
            rate=cosine(0.08, 0.026666, 1000),
            crop=_RANDOM_CROP,
        ),
        input_multiple=FPN_INPUT_MULTIPLE,
    )


def _fpn_train(size: int, num_steps: int, *, bfloat16: bool) -> TrainDefaults:
    """MobileNet V1 FPN and RetinaNet: batch 64, cosine from 0.04 (RetinaNet's configs in bfloat16)."""
    return ssd_train(
        zoo_batch_size=64,
        batch_size=DEFAULT_BATCH_BY_SIZE[size],
        num_steps=num_steps,
        rate=cosine(0.04, 0.013333, 2000),
        crop=_RANDOM_CROP,
        bfloat16=bfloat16,
    )


def _mobilenet_v1_fpn() -> Architecture:
    return ssd_entry(
        "ssd_mobilenet_v1_fpn_640",
        "SSD MobileNet V1 FPN 640x640",
        "ssd_mobilenet_v1_fpn_640x640.config",
        input_size=(640, 640),
        speed_ms=48,
        coco_map=29.1,
        model=_fpn_model("ssd_mobilenet_v1_fpn_keras", 256, _MOBILENET_FPN_HYPERPARAMS, _MOBILENET_FPN_HYPERPARAMS,
                         lite=False),
        train=_fpn_train(640, 25000, bfloat16=False),
        eval_extra={"use_moving_averages": False, "batch_size": 1},
        input_multiple=FPN_INPUT_MULTIPLE,
    )


# (ResNet depth, input size) -> zoo-published (GPU ms, COCO mAP).
_RETINANET_PUBLISHED = {
    (50, 640): (46, 34.3),
    (50, 1024): (87, 38.3),
    (101, 640): (57, 35.6),
    (101, 1024): (104, 39.5),
    (152, 640): (80, 35.4),
    (152, 1024): (111, 39.6),
}
_RETINANET_STEPS = {640: 25000, 1024: 100000}


def _retinanet(depth: int, size: int) -> Architecture:
    speed_ms, coco_map = _RETINANET_PUBLISHED[(depth, size)]
    predictor = conv_hyperparams(l2=0.0004, stddev=0.01, bn_decay=0.997)
    backbone = conv_hyperparams(l2=0.0004, stddev=0.03, bn_decay=0.997, truncated=True)
    return ssd_entry(
        f"ssd_resnet{depth}_v1_fpn_{size}",
        f"SSD ResNet{depth} V1 FPN {size}x{size} (RetinaNet{depth})",
        f"ssd_resnet{depth}_v1_fpn_{size}x{size}.config",
        input_size=(size, size),
        speed_ms=speed_ms,
        coco_map=coco_map,
        model=_fpn_model(f"ssd_resnet{depth}_v1_fpn_keras", 256, predictor, backbone, lite=False),
        train=_fpn_train(size, _RETINANET_STEPS[size], bfloat16=True),
        input_multiple=FPN_INPUT_MULTIPLE,
    )


ENTRIES = (
    _mobilenet_v2(),
    _mobilenet_v1_fpn(),
    _fpnlite(320, 22, 22.2),
    _fpnlite(640, 39, 28.2),
    *(_retinanet(depth, size) for depth, size in _RETINANET_PUBLISHED),
)
