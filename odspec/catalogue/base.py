"""What an architecture is: the published zoo hyperparameters odspec starts from.

Pure data, no TensorFlow. Each family module (``ssd``, ``faster_rcnn``,
``center_net``) builds :class:`Architecture` entries; numbers that the zoo
configs publish are written here once, and the templates only format them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Family = Literal["ssd", "faster_rcnn", "center_net"]
Resizer = Literal["fixed_shape", "keep_aspect_ratio"]
AugmentationStep = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class TrainDefaults:
    """The zoo config's ``train_config``, at the zoo's own (TPU-pod) batch size."""

    zoo_batch_size: int
    batch_size: int  # what odspec uses by default: fits one GPU
    num_steps: int
    optimizer: Mapping[str, Any]  # same shape as the spec's `train.optimizer`
    learning_rate: Mapping[str, Any]  # same shape as the spec's `train.learning_rate`, at zoo_batch_size
    augmentation: tuple[AugmentationStep, ...]
    max_number_of_boxes: int
    extra: Mapping[str, Any] = field(default_factory=dict)  # other train_config fields, verbatim
    optimizer_extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. use_moving_average
    # The zoo config trains in bfloat16 (``use_bfloat16: true``, on the TPU it was trained on). A spec on a TPU
    # that leaves runtime.bfloat16 unset follows it (odspec.spec.models.Spec); on a CPU or GPU it is always off.
    tpu_bfloat16: bool = False


@dataclass(frozen=True)
class Architecture:
    name: str
    family: Family
    title: str
    zoo_config: str  # file name of the published config it reproduces (or derives from)
    template: str  # model-block template under templates/model/
    input_size: tuple[int, int]  # (height, width) for fixed_shape, (min, max) dimension otherwise
    resizer: Resizer
    speed_ms: int  # zoo-published GPU latency
    coco_map: float  # zoo-published COCO mAP
    model: Mapping[str, Any]  # the model template's values (num_classes and resizer are added at compile time)
    train: TrainDefaults
    eval_extra: Mapping[str, Any] = field(default_factory=dict)  # eval_config fields besides metrics
    derived: str | None = None  # why this is not a published config as is
    input_multiple: int = 1  # input sizes must be multiples of this

    @property
    def tflite(self) -> bool:
        """export_tflite_graph_tf2 supports the SSD and CenterNet meta-architectures only."""
        return self.family in ("ssd", "center_net")

    @property
    def speed_class(self) -> str:
        if self.speed_ms <= 30:
            return "fast"
        if self.speed_ms <= 80:
            return "medium"
        return "slow"
