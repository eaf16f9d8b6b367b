"""Numbers decided in Python: batch scaling of the zoo's rates, step scaling, sizes that follow the input."""

from __future__ import annotations

import pytest
from support import compiled_config, minimal_spec

from odspec.catalogue import CATALOGUE
from odspec.compile import context
from odspec.spec import defaults
from odspec.spec.models import CosineRate, ManualStepRate, RateStep, Spec


def spec(name: str, **sections: object) -> Spec:
    return Spec.model_validate(minimal_spec(name, **sections))


def test_zoo_rate_scaled_by_batch_and_steps() -> None:
    s = spec("ssd_mobilenet_v2_fpnlite_320", train={"batch_size": 4, "steps": 5000})
    rate = context.rate_message(context.learning_rate(s, CATALOGUE[s.model.architecture]), 5000)
    cosine = rate["cosine_decay_learning_rate"]
    assert cosine["learning_rate_base"] == pytest.approx(0.08 * 4 / 128)
    assert cosine["warmup_learning_rate"] == pytest.approx(0.026666 * 4 / 128)
    assert cosine["warmup_steps"] == 100  # the zoo's 1000 of 50000 steps, kept in proportion
    assert cosine["total_steps"] == 5000


def test_spec_rate_is_used_as_written() -> None:
    s = spec("ssd_mobilenet_v2_fpnlite_320", train={"steps": 300, "learning_rate": {"type": "cosine", "base": 0.04, "warmup_steps": 50}})
    cosine = context.rate_message(context.learning_rate(s, CATALOGUE[s.model.architecture]), 300)["cosine_decay_learning_rate"]
    assert (cosine["learning_rate_base"], cosine["warmup_steps"], cosine["total_steps"]) == (0.04, 50, 300)
    assert cosine["warmup_learning_rate"] == pytest.approx(0.04 / 3)


def test_manual_steps_scale_with_the_run() -> None:
    rate = ManualStepRate(type="manual_step", initial=0.01, schedule=[RateStep(step=1000, rate=0.001)])
    scaled = context.scale_rate(rate, 0.5, 0.1)
    assert isinstance(scaled, ManualStepRate)
    assert scaled.initial == pytest.approx(0.005)
    assert (scaled.schedule[0].step, scaled.schedule[0].rate) == (100, pytest.approx(0.0005))


def test_cosine_hold_never_exceeds_the_run() -> None:
    rate = CosineRate(type="cosine", base=0.1, warmup_steps=10, hold_base_steps=500)
    cosine = context.rate_message(rate, 100)["cosine_decay_learning_rate"]
    assert (cosine["warmup_steps"], cosine["hold_base_rate_steps"]) == (10, 90)


def test_efficientdet_crop_follows_input_size() -> None:
    s = spec("efficientdet_d0", model={"architecture": "efficientdet_d0", "input_size": 384})
    steps = context.augmentation(s, CATALOGUE["efficientdet_d0"])
    crop = next(step["random_scale_crop_and_pad_to_square"] for step in steps if "random_scale_crop_and_pad_to_square" in step)
    assert crop["output_size"] == 384


def test_checkpoint_interval_defaults_to_run_length_when_short() -> None:
    arch = CATALOGUE["ssd_mobilenet_v2_fpnlite_320"]
    assert defaults.checkpoint_every(spec(arch.name, train={"steps": 300}), arch) == 300
    assert defaults.checkpoint_every(spec(arch.name), arch) == 1000
    assert defaults.checkpoint_every(spec(arch.name, train={"checkpoint_every": 50}), arch) == 50


def test_gradient_clipping_can_be_turned_off() -> None:
    gpu_recipe = "faster_rcnn_resnet50_v1_800x1333"
    assert compiled_config(gpu_recipe).train_config.gradient_clipping_by_norm == 10.0
    assert compiled_config(gpu_recipe, train={"gradient_clipping": 5.0}).train_config.gradient_clipping_by_norm == 5.0
    assert not compiled_config(gpu_recipe, train={"gradient_clipping": False}).train_config.HasField("gradient_clipping_by_norm")
