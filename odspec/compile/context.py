"""Spec + architecture -> the values the templates format. Every number is decided here.

Pure: no file system, no TensorFlow. The three deliberate departures from the
zoo configs (batch size and learning-rate scaling, bfloat16, TF1-only fields)
are decided here and explained in the header comment of the compiled config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from pydantic import TypeAdapter

from odspec.catalogue import CATALOGUE, Architecture
from odspec.odapi.pbtext import Enum
from odspec.spec.defaults import num_steps
from odspec.spec.models import (
    Adam,
    ConstantRate,
    CosineRate,
    ExponentialRate,
    LearningRate,
    ManualStepRate,
    Momentum,
    Optimizer,
    RateStep,
    RMSProp,
    Spec,
)

_OPTIMIZER = TypeAdapter(Optimizer)
_RATE = TypeAdapter(LearningRate)


@dataclass(frozen=True)
class Paths:
    """Where the compiled config points; absolute, so the OD API works from any folder."""

    build_dir: PurePath
    fine_tune_checkpoint: PurePath | None = None

    @property
    def label_map(self) -> str:
        return str(self.build_dir / "label_map.pbtxt")

    def records(self, split: str) -> str:
        return str(self.build_dir / f"{split}-?????-of-?????.tfrecord")


def input_size(spec: Spec, arch: Architecture) -> tuple[int, int]:
    size = spec.model.input_size
    if size is None:
        return arch.input_size
    if isinstance(size, int):
        return (size, size)
    return (size[0], size[1])


def resizer(arch: Architecture, size: tuple[int, int]) -> dict[str, Any]:
    """The ``image_resizer`` message: fixed shape, or keep-aspect padded to the max dimension."""
    if arch.resizer == "fixed_shape":
        return {"fixed_shape_resizer": {"height": size[0], "width": size[1]}}
    keep = {"min_dimension": size[0], "max_dimension": size[1], "pad_to_max_dimension": True}
    return {"keep_aspect_ratio_resizer": keep}


def batch_size(spec: Spec, arch: Architecture) -> int:
    return spec.train.batch_size or arch.train.batch_size


def optimizer(spec: Spec, arch: Architecture) -> Momentum | Adam | RMSProp:
    return spec.train.optimizer or _OPTIMIZER.validate_python(dict(arch.train.optimizer))


def learning_rate(spec: Spec, arch: Architecture) -> LearningRate:
    """The spec's schedule, or the zoo's scaled by batch ratio (rates) and step ratio (step counts)."""
    if spec.train.learning_rate is not None:
        return spec.train.learning_rate
    zoo = _RATE.validate_python(dict(arch.train.learning_rate))
    rate_ratio = batch_size(spec, arch) / arch.train.zoo_batch_size
    step_ratio = num_steps(spec, arch) / arch.train.num_steps
    return scale_rate(zoo, rate_ratio, step_ratio)


def _steps(count: int, ratio: float) -> int:
    return max(1, round(count * ratio)) if count else 0


def scale_rate(rate: LearningRate, by: float, steps_by: float) -> LearningRate:
    """``rate`` with learning rates times ``by`` and step counts times ``steps_by``."""
    if isinstance(rate, ConstantRate):
        return rate.model_copy(update={"rate": rate.rate * by})
    if isinstance(rate, CosineRate):
        warmup_rate = None if rate.warmup_rate is None else rate.warmup_rate * by
        return rate.model_copy(
            update={
                "base": rate.base * by,
                "warmup_rate": warmup_rate,
                "warmup_steps": _steps(rate.warmup_steps or 0, steps_by),
                "hold_base_steps": _steps(rate.hold_base_steps, steps_by),
            }
        )
    if isinstance(rate, ExponentialRate):
        return rate.model_copy(
            update={"initial": rate.initial * by, "decay_steps": _steps(rate.decay_steps, steps_by),
                    "min_rate": rate.min_rate * by}
        )
    schedule = [RateStep(step=_steps(s.step, steps_by), rate=s.rate * by) for s in rate.schedule]
    return rate.model_copy(update={"initial": rate.initial * by, "schedule": schedule})


def rate_message(rate: LearningRate, total_steps: int) -> dict[str, Any]:
    """The ``learning_rate`` message for ``rate``; cosine decays over the whole run."""
    if isinstance(rate, ConstantRate):
        return {"constant_learning_rate": {"learning_rate": rate.rate}}
    if isinstance(rate, CosineRate):
        warmup_steps = min(rate.warmup_steps or 0, total_steps)
        warmup_rate = rate.warmup_rate if rate.warmup_rate is not None else rate.base / 3
        cosine = {
            "learning_rate_base": rate.base,
            "total_steps": total_steps,
            "warmup_learning_rate": min(warmup_rate, rate.base),
            "warmup_steps": warmup_steps,
            "hold_base_rate_steps": min(rate.hold_base_steps, total_steps - warmup_steps),
        }
        return {"cosine_decay_learning_rate": cosine}
    if isinstance(rate, ExponentialRate):
        exponential = {
            "initial_learning_rate": rate.initial,
            "decay_steps": rate.decay_steps,
            "decay_factor": rate.decay_factor,
            "staircase": rate.staircase,
            "min_learning_rate": rate.min_rate,
        }
        return {"exponential_decay_learning_rate": exponential}
    assert isinstance(rate, ManualStepRate)
    schedule = [{"step": s.step, "learning_rate": s.rate} for s in rate.schedule]
    return {"manual_step_learning_rate": {"initial_learning_rate": rate.initial, "schedule": schedule,
                                          "warmup": rate.warmup}}


def optimizer_message(spec: Spec, arch: Architecture) -> dict[str, Any]:
    """The ``optimizer`` message: the chosen optimizer with its schedule, plus the zoo's extras."""
    chosen = optimizer(spec, arch)
    rate = rate_message(learning_rate(spec, arch), num_steps(spec, arch))
    if isinstance(chosen, Momentum):
        body = {"learning_rate": rate, "momentum_optimizer_value": chosen.momentum}
        name = "momentum_optimizer"
    elif isinstance(chosen, Adam):
        body = {"learning_rate": rate, "epsilon": chosen.epsilon}
        name = "adam_optimizer"
    else:
        body = {"learning_rate": rate, "momentum_optimizer_value": chosen.momentum, "decay": chosen.decay,
                "epsilon": chosen.epsilon}
        name = "rms_prop_optimizer"
    return {name: body, **arch.train.optimizer_extra}


def augmentation(spec: Spec, arch: Architecture) -> list[dict[str, Any]]:
    """Preprocessing steps as ``[{op: {param: value}}]``, in order."""
    if spec.train.augmentation is None:
        size = max(input_size(spec, arch))
        return [{op: _follow_input_size(op, dict(params), size)} for op, params in arch.train.augmentation]
    return [{op: dict(params or {}) for op, params in step.items()} for step in spec.train.augmentation]


def _follow_input_size(op: str, params: dict[str, Any], size: int) -> dict[str, Any]:
    """The zoo's square crop (EfficientDet) is sized to the input; keep it so when the input changes."""
    if op == "random_scale_crop_and_pad_to_square" and "output_size" in params:
        return {**params, "output_size": size}
    return params


def train_config(spec: Spec, arch: Architecture, paths: Paths) -> dict[str, Any]:
    config: dict[str, Any] = {
        "batch_size": batch_size(spec, arch),
        "num_steps": num_steps(spec, arch),
        "data_augmentation_options": augmentation(spec, arch),
        "optimizer": optimizer_message(spec, arch),
        "max_number_of_boxes": spec.train.max_boxes or arch.train.max_number_of_boxes,
        **arch.train.extra,
    }
    if spec.runtime.bfloat16:
        config["use_bfloat16"] = True
    if spec.train.gradient_clipping is False:
        config.pop("gradient_clipping_by_norm", None)
    elif spec.train.gradient_clipping is not None:
        config["gradient_clipping_by_norm"] = spec.train.gradient_clipping
    pretrained = spec.model.pretrained
    if pretrained is not None and paths.fine_tune_checkpoint is not None:
        config["fine_tune_checkpoint"] = str(paths.fine_tune_checkpoint)
        config["fine_tune_checkpoint_type"] = pretrained.kind
        config["fine_tune_checkpoint_version"] = Enum("V2")
    return config


def eval_config(spec: Spec, arch: Architecture) -> dict[str, Any]:
    return {
        "metrics_set": spec.eval.metrics,
        "num_visualizations": spec.eval.visualizations,
        **arch.eval_extra,
    }


def template_context(spec: Spec, paths: Paths) -> dict[str, Any]:
    """Everything ``templates/pipeline.config.j2`` formats."""
    arch = CATALOGUE[spec.model.architecture]
    size = input_size(spec, arch)
    model = {**arch.model, "num_classes": len(spec.dataset.classes), "image_resizer": resizer(arch, size)}
    return {
        "model_template": f"model/{arch.template}",
        "model": model,
        "train_config": train_config(spec, arch, paths),
        "train_input_reader": {
            "label_map_path": paths.label_map,
            "tf_record_input_reader": {"input_path": paths.records("train")},
        },
        "eval_config": eval_config(spec, arch),
        "eval_input_reader": {
            "label_map_path": paths.label_map,
            "shuffle": False,
            "num_epochs": 1,
            "tf_record_input_reader": {"input_path": paths.records(spec.eval.split)},
        },
    }
