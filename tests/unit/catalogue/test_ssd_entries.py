"""SSD and EfficientDet catalogue entries: names, defaults and the choices the reproduction test does not cover."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import Message
from support import compiled_config

from odspec.catalogue import CATALOGUE, Architecture, efficientdet, ssd

SSD_NAMES = {
    "ssd_mobilenet_v2_320",
    "ssd_mobilenet_v1_fpn_640",
    "ssd_mobilenet_v2_fpnlite_320",
    "ssd_mobilenet_v2_fpnlite_640",
    *(f"ssd_resnet{depth}_v1_fpn_{size}" for depth in (50, 101, 152) for size in (640, 1024)),
    *(f"efficientdet_d{level}" for level in range(8)),
}
ENTRIES = (*ssd.ENTRIES, *efficientdet.ENTRIES)
# The values ssd.j2 picks its variant blocks by; anything else would render an empty block.
VARIANTS = {
    "anchor_generator": {"ssd", "multiscale"},
    "box_predictor": {"convolutional", "weight_shared"},
    "neck": {"none", "fpn", "bifpn"},
}


def compiled(name: str, **sections: Any) -> Message:
    return compiled_config(name, **sections)


def test_entry_names_are_unique_and_complete() -> None:
    names = [arch.name for arch in ENTRIES]
    assert len(names) == len(set(names))
    assert set(names) == SSD_NAMES
    assert all(CATALOGUE[name].family == "ssd" for name in names)


@pytest.mark.parametrize("arch", ENTRIES, ids=lambda a: a.name)
def test_template_variants_are_known(arch: Architecture) -> None:
    for key, allowed in VARIANTS.items():
        assert arch.model[key] in allowed, f"{arch.name}: {key}={arch.model[key]!r} picks no block in ssd.j2"


@pytest.mark.parametrize("arch", ENTRIES, ids=lambda a: a.name)
def test_default_input_respects_input_multiple(arch: Architecture) -> None:
    assert all(side % arch.input_multiple == 0 for side in arch.input_size)
    assert arch.train.batch_size <= arch.train.zoo_batch_size


def test_default_batch_scales_the_zoo_learning_rate() -> None:
    arch = CATALOGUE["efficientdet_d0"]
    ratio = arch.train.batch_size / arch.train.zoo_batch_size
    config = compiled("efficientdet_d0")
    cosine = config.train_config.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate
    assert config.train_config.batch_size == 8
    assert cosine.learning_rate_base == pytest.approx(0.08 * ratio)
    assert cosine.warmup_learning_rate == pytest.approx(0.001 * ratio)
    assert (cosine.total_steps, cosine.warmup_steps) == (300000, 2500)


def test_larger_efficientdets_never_default_to_larger_batches() -> None:
    batches = [arch.train.batch_size for arch in efficientdet.ENTRIES]
    assert batches == sorted(batches, reverse=True)
    assert [arch.input_size[0] for arch in efficientdet.ENTRIES] == [512, 640, 768, 896, 1024, 1280, 1408, 1536]


@pytest.mark.parametrize("arch", efficientdet.ENTRIES, ids=lambda a: a.name)
def test_efficientdet_crop_matches_input_size(arch: Architecture) -> None:
    crops = dict(arch.train.augmentation)
    assert crops["random_scale_crop_and_pad_to_square"]["output_size"] == arch.input_size[1]


@pytest.mark.parametrize("size", [384, [384, 640]])
def test_fpnlite_compiles_at_other_input_sizes(size: Any) -> None:
    resizer = compiled("ssd_mobilenet_v2_fpnlite_320", model={"input_size": size}).model.ssd.image_resizer.fixed_shape_resizer
    expected = (size, size) if isinstance(size, int) else tuple(size)
    assert (resizer.height, resizer.width) == expected


def test_efficientdet_compiles_with_min_and_max_dimension() -> None:
    resizer = compiled("efficientdet_d1", model={"input_size": [384, 640]}).model.ssd.image_resizer.keep_aspect_ratio_resizer
    assert (resizer.min_dimension, resizer.max_dimension, resizer.pad_to_max_dimension) == (384, 640, True)


def test_variant_blocks_reach_the_compiled_config() -> None:
    classic = compiled("ssd_mobilenet_v2_320").model.ssd
    retina = compiled("ssd_resnet50_v1_fpn_640").model.ssd
    d7 = compiled("efficientdet_d7").model.ssd
    assert classic.anchor_generator.WhichOneof("anchor_generator_oneof") == "ssd_anchor_generator"
    assert classic.box_predictor.WhichOneof("box_predictor_oneof") == "convolutional_box_predictor"
    assert not classic.feature_extractor.HasField("fpn") and not classic.feature_extractor.HasField("bifpn")
    assert retina.feature_extractor.fpn.additional_layer_depth == 256
    assert not d7.add_background_class
    assert d7.feature_extractor.bifpn.combine_method == "sum"
