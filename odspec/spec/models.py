"""The project spec: what a user writes in YAML, as frozen, strict pydantic models.

Every field not written takes the architecture's published model-zoo value, so
most fields here are optional and ``None`` means "use the zoo's". Examples on
each field feed the "(e.g. key: value)" part of error messages and the JSON
Schema that editors read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from odspec.catalogue import CATALOGUE
from odspec.errors import suggest
from odspec.spec.names import PROJECT_NAME_RULE, valid_project_name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Bounds of the proto field types a number lands in, so validation (not rendering) refuses what cannot be stored.
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
FLOAT32_MAX = 3.4028234663852886e38
MAX_SHARDS = 99_999  # = datasets.shards.MAX_SHARDS (five-digit shard names); a test keeps them equal

PositiveInt = Annotated[int, Field(gt=0, le=INT32_MAX)]
Count = Annotated[int, Field(gt=0, le=UINT32_MAX)]  # lands in a uint32 field
StepCount = Annotated[int, Field(ge=0, le=UINT32_MAX)]
Seed = Annotated[int, Field(ge=0, le=UINT32_MAX)]  # NumPy's seed is a uint32
DEFAULT_TRAIN_SEED = 0
PositiveFloat = Annotated[float, Field(gt=0, le=FLOAT32_MAX, allow_inf_nan=False)]
Float32 = Annotated[float, Field(ge=0, le=FLOAT32_MAX, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class Split(Strict):
    """Fractions of images per split; seeded and stable when images are added."""

    train: Fraction = Field(0.8, examples=[0.8])
    val: Fraction = Field(0.1, examples=[0.1])
    test: Fraction = Field(0.1, examples=[0.1])
    seed: int = Field(0, examples=[42])
    from_source: bool = Field(False, description="keep the split the annotations give (COCO files, VOC ImageSets)",
                              examples=[True])

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must add up to 1, got {total:g}")
        if self.train == 0 or self.val == 0:
            raise ValueError("train and val must each get a share above 0")
        return self


class Dataset(Strict):
    path: str | None = Field(
        None,
        description="an export's root folder, relative to the spec file: its format, image and annotation folders, "
        "class names and split are found there (instead of images + annotations)",
        examples=["data/roboflow-export"],
    )
    format: Literal["voc", "coco", "yolo", "csv"] | None = Field(
        None, description="annotation format; with path it is detected when left out", examples=["voc"]
    )
    images: str | None = Field(None, description="folder of images, relative to the spec file",
                               examples=["data/images"])
    annotations: str | list[str] | None = Field(
        None,
        description="annotation folder (voc, yolo) or file(s) (coco, csv), relative to the spec file",
        examples=["data/annotations"],
    )
    names: str | None = Field(
        None,
        description="class-names file for labels that carry only ids (YOLO): classes.txt, obj.names, data.yaml; "
        "default: the one found beside the labels",
        examples=["data/obj.names"],
    )
    classes: list[str] = Field(min_length=1, description="label ids 1..N follow this order", examples=[["cat", "dog"]])
    split: Split = Field(default_factory=Split)
    on_bad_annotation: Literal["stop", "skip_box", "skip_image", "repair"] = Field("stop", examples=["skip_box"])
    keep_empty_images: bool = Field(True, description="images without boxes stay in as negatives", examples=[False])
    shards: Annotated[int, Field(gt=0, le=MAX_SHARDS)] | None = Field(
        None, description="TFRecord shards per split; default follows the size", examples=[4])
    orientation_fallback: Literal["rotated", "raw"] = Field(
        "rotated",
        description="for EXIF-rotated images whose annotation size cannot tell: were boxes drawn on the image as "
        "displayed (rotated) or as stored (raw)?",
        examples=["raw"],
    )
    verify_pixels: bool = Field(False, description="fully decode every image to find corrupt pixel data (slower)",
                                examples=[True])

    @property
    def annotation_list(self) -> list[str]:
        """``annotations`` as a list, whether the spec gave one path or several (``[path]`` for an export root)."""
        if self.annotations is None:
            return [self.path] if self.path is not None else []
        return [self.annotations] if isinstance(self.annotations, str) else list(self.annotations)

    @property
    def images_root(self) -> str:
        """The folder every example's image path is relative to: ``images``, or the export root ``path``."""
        root = self.images if self.images is not None else self.path
        assert root is not None  # the validator below guarantees one
        return root

    @model_validator(mode="after")
    def _one_location(self) -> Dataset:
        if self.path is not None:
            given = [k for k in ("images", "annotations") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"give either path (an export's root) or images + annotations, not both "
                                 f"(remove {' and '.join(given)})")
            return self
        missing = [k for k in ("format", "images", "annotations") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}: give path (an export's root folder, format detected) "
                             f"or format + images + annotations")
        return self

    @field_validator("classes")
    @classmethod
    def _classes_unique(cls, classes: list[str]) -> list[str]:
        for name in classes:
            if not name.strip():
                raise ValueError("class names must not be empty")
        duplicates = sorted({c for c in classes if classes.count(c) > 1})
        if duplicates:
            raise ValueError(f"class names must be unique, repeated: {', '.join(map(repr, duplicates))}")
        return classes


class Pretrained(Strict):
    checkpoint: str = Field(
        description="checkpoint path prefix (the part before .index), relative to the spec file",
        examples=["zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint/ckpt-0"],
    )
    kind: Literal["detection", "classification", "full", "fine_tune"] = Field(
        "detection",
        description="detection: a zoo detection checkpoint (backbone + box tower); "
                    "classification: an ImageNet backbone",
        examples=["detection"],
    )


class Model(Strict):
    architecture: str = Field(examples=["ssd_mobilenet_v2_fpnlite_320"])
    input_size: PositiveInt | list[PositiveInt] | None = Field(
        None,
        description="square size, or [height, width] (fixed-shape resizers) / "
                    "[min, max] dimension (keep-aspect resizers)",
        examples=[320],
    )
    pretrained: Pretrained | None = None
    batch_norm_decay: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = Field(
        None, description="every batch-norm decay in the model; 0.9 helps short runs from scratch", examples=[0.9]
    )
    max_detections: PositiveInt | None = Field(None, description="post-processing limit per image", examples=[100])

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, name: str) -> str:
        if name not in CATALOGUE:
            raise ValueError(f"unknown architecture {name!r}{suggest(name, CATALOGUE)} (see `odspec models`)")
        return name

    @field_validator("input_size")
    @classmethod
    def _two_sizes(cls, size: Any) -> Any:
        if isinstance(size, list) and len(size) != 2:
            raise ValueError(f"expected one size or a list of two, got {len(size)} values")
        return size


class Momentum(Strict):
    type: Literal["momentum"]
    momentum: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(0.9, examples=[0.9])


class Adam(Strict):
    type: Literal["adam"]
    epsilon: PositiveFloat = Field(1e-8, examples=[1e-8])


class RMSProp(Strict):
    type: Literal["rmsprop"]
    momentum: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(0.9, examples=[0.9])
    decay: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(0.9, examples=[0.9])
    epsilon: PositiveFloat = Field(1.0, examples=[1.0])


Optimizer = Annotated[Momentum | Adam | RMSProp, Field(discriminator="type")]


class ConstantRate(Strict):
    type: Literal["constant"]
    rate: PositiveFloat = Field(examples=[0.001])


class CosineRate(Strict):
    type: Literal["cosine"]
    base: PositiveFloat = Field(examples=[0.04])
    warmup_rate: Float32 | None = Field(None, examples=[0.01])
    warmup_steps: StepCount | None = Field(None, examples=[50])
    hold_base_steps: StepCount = Field(0, examples=[0])


class ExponentialRate(Strict):
    type: Literal["exponential"]
    initial: PositiveFloat = Field(examples=[0.004])
    decay_steps: Count = Field(examples=[800])
    decay_factor: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = Field(examples=[0.95])
    staircase: bool = Field(True, examples=[True])
    min_rate: Float32 = Field(0.0, examples=[0.0])


class RateStep(Strict):
    step: Count = Field(examples=[10000])
    rate: PositiveFloat = Field(examples=[0.0003])


class ManualStepRate(Strict):
    type: Literal["manual_step"]
    initial: PositiveFloat = Field(examples=[0.003])
    schedule: list[RateStep] = Field(min_length=1, examples=[[{"step": 10000, "rate": 0.0003}]])
    warmup: bool = Field(False, examples=[True])

    @field_validator("schedule")
    @classmethod
    def _increasing(cls, schedule: list[RateStep]) -> list[RateStep]:
        steps = [s.step for s in schedule]
        if steps != sorted(set(steps)):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        return schedule


LearningRate = Annotated[
    ConstantRate | CosineRate | ExponentialRate | ManualStepRate, Field(discriminator="type")
]

AugmentationStep = dict[str, dict[str, Any] | None]


class Train(Strict):
    batch_size: Count | None = Field(None, examples=[8])
    steps: Count | None = Field(None, examples=[20000])
    optimizer: Optimizer | None = None
    learning_rate: LearningRate | None = None
    augmentation: list[AugmentationStep] | None = Field(
        None,
        description="OD API preprocessing steps in order, each `op: {param: value}`; [] for none; unset for the zoo's",
        examples=[[{"random_horizontal_flip": {}}]],
    )
    checkpoint_every: PositiveInt | None = Field(None, description="default: 1000, or the run's length if shorter",
                                                 examples=[500])
    keep_checkpoints: PositiveInt = Field(7, examples=[10])
    max_boxes: PositiveInt | None = Field(None, description="max_number_of_boxes per image", examples=[100])
    gradient_clipping: PositiveFloat | Literal[False] | None = Field(
        None, description="clip gradients by this norm; false turns off the zoo's clipping", examples=[10.0]
    )
    seed: Seed | None = Field(
        DEFAULT_TRAIN_SEED,
        description="seeds every random draw of training and evaluation (initial weights, input order, augmentation) "
        "and makes TensorFlow's ops deterministic, so the same spec and data train the same model; null for an "
        "unseeded run",
        examples=[42],
    )


class Eval(Strict):
    metrics: Literal["coco_detection_metrics", "pascal_voc_detection_metrics", "oid_V2_detection_metrics"] = Field(
        "coco_detection_metrics", examples=["coco_detection_metrics"]
    )
    split: Literal["val", "test"] = Field("val", examples=["val"])
    every: PositiveInt | None = Field(None, description="evaluate every N steps; default: every checkpoint",
                                      examples=[1000])
    visualizations: StepCount = Field(10, description="eval images drawn in TensorBoard", examples=[10])


class EarlyStopping(Strict):
    metric: str = Field("DetectionBoxes_Precision/mAP", examples=["DetectionBoxes_Precision/mAP"])
    mode: Literal["max", "min"] = Field("max", examples=["max"])
    patience: PositiveInt = Field(5, description="evaluations without improvement before stopping", examples=[5])
    min_delta: Float32 = Field(0.0, description="a gain of this much or less does not reset patience (best/ still "
                                                "takes any better checkpoint)", examples=[0.001])


class Export(Strict):
    saved_model: bool = Field(True, examples=[True])
    tflite: bool = Field(False, examples=[True])


class Runtime(Strict):
    accelerator: Literal["cpu", "gpu", "tpu"] = Field("gpu", examples=["gpu"])
    replicas: PositiveInt = Field(1, description="devices per machine training in sync; the batch is split across "
                                                 "every device of every worker", examples=[1])
    workers: PositiveInt = Field(1, description="machines training in sync (MultiWorkerMirroredStrategy); each is "
                                                "started with TF_CONFIG, as Kubeflow's TFJob and Vertex AI set it",
                                 examples=[1])
    bfloat16: bool = Field(False, description="mixed precision; TPU only", examples=[False])

    @property
    def total_replicas(self) -> int:
        """Devices training in sync over all workers: the global batch (``train.batch_size``) is split over them."""
        return self.workers * self.replicas


class Spec(Strict):
    version: Literal[1] = Field(1, examples=[1])
    project: str = Field(examples=["pets"])
    dataset: Dataset
    model: Model
    train: Train = Field(default_factory=Train)
    eval: Eval = Field(default_factory=Eval)
    early_stopping: EarlyStopping | None = None
    export: Export = Field(default_factory=Export)
    runtime: Runtime = Field(default_factory=Runtime)
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="set any pipeline.config field by dotted path, applied last",
        examples=[{"model.ssd.box_predictor.weight_shared_convolutional_box_predictor.depth": 96}],
    )

    @field_validator("project")
    @classmethod
    def _project_name(cls, name: str) -> str:
        if not valid_project_name(name):
            raise ValueError(f"expected {PROJECT_NAME_RULE}, got {name!r}")
        return name
