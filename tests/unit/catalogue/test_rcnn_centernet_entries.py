"""Faster R-CNN and CenterNet catalogue entries: the choices the reproduction test does not cover."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import pytest
from google.protobuf.message import Message
from support import compiled_config, minimal_spec

from odspec.catalogue import CATALOGUE, Architecture, center_net, faster_rcnn
from odspec.compile.context import Paths
from odspec.compile.render import pipeline_message
from odspec.spec.models import Spec

FASTER_RCNN_NAMES = {
    *(f"faster_rcnn_resnet{depth}_v1_{size}" for depth in (50, 101, 152) for size in ("640", "1024", "800x1333")),
    "faster_rcnn_resnet50_v1_fpn_640",
    "faster_rcnn_inception_resnet_v2_1024",
}
CENTER_NET_NAMES = {
    "centernet_hourglass104_512",
    "centernet_hourglass104_1024",
    "centernet_resnet50_v1_fpn_512",
    "centernet_resnet101_v1_fpn_512",
    "centernet_resnet50_v2_512",
}
ENTRIES = (*faster_rcnn.ENTRIES, *center_net.ENTRIES)
DERIVED_FROM = {
    "faster_rcnn_inception_resnet_v2_1024": "faster_rcnn_inception_resnet_v2_1024x1024_nomask.config",
    "centernet_resnet50_v1_fpn_512": "centernet_resnet50_v1_fpn_512x512.config",
    "centernet_resnet50_v2_512": "centernet_resnet50_v2_512x512_fixed.config",
}


def compiled(name: str, **sections: Any) -> Message:
    return compiled_config(name, **sections)


def test_entry_names_are_unique_and_complete() -> None:
    names = [arch.name for arch in ENTRIES]
    assert len(names) == len(set(names))
    assert {arch.name for arch in faster_rcnn.ENTRIES} == FASTER_RCNN_NAMES
    assert {arch.name for arch in center_net.ENTRIES} == CENTER_NET_NAMES
    assert all(CATALOGUE[name].family == "faster_rcnn" for name in FASTER_RCNN_NAMES)
    assert all(CATALOGUE[name].family == "center_net" for name in CENTER_NET_NAMES)


@pytest.mark.parametrize("arch", ENTRIES, ids=lambda a: a.name)
def test_derived_exactly_for_the_edited_zoo_copies(arch: Architecture) -> None:
    if arch.name in DERIVED_FROM:
        assert arch.zoo_config == DERIVED_FROM[arch.name]
        assert arch.derived and arch.derived.endswith(".") and arch.derived.count(". ") == 0
    else:
        assert arch.derived is None


def test_derived_entries_say_so_in_the_compiled_header() -> None:
    spec = Spec.model_validate(minimal_spec("centernet_resnet50_v2_512"))
    _, header = pipeline_message(spec, Paths(PurePath("/build")))
    assert header[-1] == f"Derived: {CATALOGUE['centernet_resnet50_v2_512'].derived}"


@pytest.mark.parametrize("arch", ENTRIES, ids=lambda a: a.name)
def test_defaults_fit_the_entry(arch: Architecture) -> None:
    assert all(side % arch.input_multiple == 0 for side in arch.input_size)
    assert arch.train.batch_size <= arch.train.zoo_batch_size


@pytest.mark.parametrize("arch", faster_rcnn.ENTRIES, ids=lambda a: a.name)
def test_faster_rcnn_variants_are_known(arch: Architecture) -> None:
    """faster_rcnn.j2 renders an FPN neck with multiscale anchors, or neither; anything else is a broken block."""
    assert arch.model["anchor_generator"] in {"grid", "multiscale"}
    assert (arch.model["fpn"] is None) == (arch.model["anchor_generator"] == "grid")


def test_tflite_export_only_for_center_net() -> None:
    assert not any(arch.tflite for arch in faster_rcnn.ENTRIES)
    assert all(arch.tflite for arch in center_net.ENTRIES)


def test_input_multiples_follow_the_backbone_stride() -> None:
    assert CATALOGUE["centernet_hourglass104_512"].input_multiple == 128
    assert CATALOGUE["centernet_resnet50_v2_512"].input_multiple == 32
    assert CATALOGUE["faster_rcnn_resnet50_v1_fpn_640"].input_multiple == 32
    assert CATALOGUE["faster_rcnn_resnet101_v1_800x1333"].input_multiple == 1


def test_faster_rcnn_default_batch_scales_the_zoo_cosine() -> None:
    arch = CATALOGUE["faster_rcnn_resnet50_v1_640"]
    ratio = arch.train.batch_size / arch.train.zoo_batch_size
    train = compiled("faster_rcnn_resnet50_v1_640").train_config
    cosine = train.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    assert train.batch_size == 4
    assert cosine.learning_rate_base == pytest.approx(0.04 * ratio)
    assert cosine.warmup_learning_rate == pytest.approx(0.013333 * ratio)
    assert (cosine.total_steps, cosine.warmup_steps) == (25000, 2000)
    assert not train.HasField("gradient_clipping_by_norm")


def test_gpu_recipe_warms_up_from_zero_and_clips_gradients() -> None:
    train = compiled("faster_rcnn_resnet152_v1_800x1333", train={"steps": 20000}).train_config
    cosine = train.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    assert cosine.learning_rate_base == pytest.approx(0.01 * 2 / 16)
    assert cosine.warmup_learning_rate == 0.0
    assert (cosine.total_steps, cosine.warmup_steps) == (20000, 500)
    assert train.gradient_clipping_by_norm == pytest.approx(10.0)
    assert compiled("faster_rcnn_resnet152_v1_800x1333", train={"gradient_clipping": 5.0}).train_config.gradient_clipping_by_norm == 5.0


def test_center_net_default_batch_scales_the_adam_manual_steps() -> None:
    arch = CATALOGUE["centernet_hourglass104_512"]
    ratio = arch.train.batch_size / arch.train.zoo_batch_size
    adam = compiled("centernet_hourglass104_512", train={"steps": 14000}).train_config.optimizer.adam_optimizer
    manual = adam.learning_rate.manual_step_learning_rate
    assert adam.epsilon == pytest.approx(1e-7)
    assert manual.initial_learning_rate == pytest.approx(1e-3 * ratio)
    assert [(s.step, s.learning_rate) for s in manual.schedule] == [
        (9000, pytest.approx(1e-4 * ratio)),
        (12000, pytest.approx(1e-5 * ratio)),
    ]


def test_resizers_follow_the_zoo_settings() -> None:
    keep = compiled("faster_rcnn_resnet50_v1_800x1333").model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer
    fixed = compiled("faster_rcnn_resnet50_v1_1024").model.faster_rcnn.image_resizer.fixed_shape_resizer
    assert (keep.min_dimension, keep.max_dimension, keep.pad_to_max_dimension) == (800, 1333, True)
    assert (fixed.height, fixed.width) == (1024, 1024)


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("centernet_hourglass104_512", 384, (384, 384)),
        ("faster_rcnn_resnet101_v1_800x1333", [600, 1024], (600, 1024)),
        ("faster_rcnn_resnet50_v1_fpn_640", 512, (512, 512)),
    ],
)
def test_keep_aspect_entries_compile_at_other_input_sizes(name: str, size: Any, expected: tuple[int, int]) -> None:
    model = compiled(name, model={"input_size": size}).model
    resizer = getattr(model, model.WhichOneof("model")).image_resizer.keep_aspect_ratio_resizer
    assert (resizer.min_dimension, resizer.max_dimension) == expected


def test_variant_blocks_reach_the_compiled_config() -> None:
    single = compiled("faster_rcnn_resnet50_v1_640").model.faster_rcnn
    fpn = compiled("faster_rcnn_resnet50_v1_fpn_640").model.faster_rcnn
    gpu = compiled("faster_rcnn_inception_resnet_v2_1024").model.faster_rcnn
    assert single.first_stage_anchor_generator.WhichOneof("anchor_generator_oneof") == "grid_anchor_generator"
    assert fpn.first_stage_anchor_generator.multiscale_anchor_generator.min_level == 2
    assert fpn.feature_extractor.conv_hyperparams.batch_norm.decay == pytest.approx(0.997)
    assert single.use_static_shapes and not gpu.use_static_shapes
    assert (gpu.initial_crop_size, gpu.maxpool_kernel_size) == (17, 1)
    hourglass = compiled("centernet_hourglass104_1024").model.center_net.feature_extractor
    resnet = compiled("centernet_resnet101_v1_fpn_512").model.center_net.feature_extractor
    assert hourglass.bgr_ordering and len(hourglass.channel_means) == 3
    assert not resnet.bgr_ordering and not resnet.channel_means


def test_entry_eval_extras_leave_spec_choices_alone() -> None:
    eval_config = compiled("centernet_resnet50_v1_fpn_512", eval={"visualizations": 3}).eval_config
    assert eval_config.num_visualizations == 3
    assert eval_config.min_score_threshold == pytest.approx(0.2)


def test_max_detections_reaches_faster_rcnn_nms() -> None:
    nms = compiled("faster_rcnn_resnet50_v1_640", model={"max_detections": 42}).model.faster_rcnn.second_stage_post_processing
    limits = nms.batch_non_max_suppression
    assert (limits.max_detections_per_class, limits.max_total_detections) == (42, 42)


def test_max_detections_reaches_center_net_predictions() -> None:
    params = compiled("centernet_resnet50_v2_512", model={"max_detections": 42}).model.center_net.object_center_params
    assert params.max_box_predictions == 42
