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
    evaluator: Literal["chief", "task"] = Field(
        "chief", description="who evaluates every checkpoint when several workers train: the chief, beside its "
                             "training, or a separate evaluator task (TF_CONFIG's task type evaluator; odspec deploy "
                             "adds one), so that evaluating never slows the chief's steps", examples=["chief"])
    bfloat16: bool = Field(False, description="train in bfloat16 (TPU only); unset on a TPU: as the architecture's "
                                              "zoo config does (EfficientDet, RetinaNet and the TPU-trained Faster "
                                              "R-CNNs on), else off", examples=[False])

    @property
    def total_replicas(self) -> int:
        """Devices training in sync over all workers: the global batch (``train.batch_size``) is split over them."""
        return self.workers * self.replicas


# --- tune: hyperparameter search (odspec.tune) ---------------------------------------------------------------------

Number = int | float
DEFAULT_TUNE_TRIALS = 20  # when neither trials nor timeout_minutes is given


class SearchParam(Strict):
    """One tuned field: a range (``low`` + ``high``; integers when both ends and the step are) or ``choices``."""

    low: Number | None = Field(None, allow_inf_nan=False, examples=[0.004])
    high: Number | None = Field(None, allow_inf_nan=False, examples=[0.08])
    log: bool = Field(False, description="sample on a log scale (both ends above 0)", examples=[True])
    step: Annotated[Number, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None, description="only multiples of step from low", examples=[2])
    choices: list[Any] | None = Field(None, min_length=1, description="any YAML values, lists and mappings too",
                                      examples=[[4, 8]])

    @property
    def kind(self) -> Literal["choices", "int", "float"]:
        """``int`` when both ends (and the step) are integers, so ``{low: 4, high: 16}`` draws whole numbers."""
        if self.choices is not None:
            return "choices"
        ends = (self.low, self.high, self.step if self.step is not None else 1)
        return "int" if all(isinstance(v, int) and not isinstance(v, bool) for v in ends) else "float"

    @model_validator(mode="after")
    def _one_kind(self) -> SearchParam:
        ranged = [k for k in ("low", "high", "step") if getattr(self, k) is not None] + (["log"] if self.log else [])
        if self.choices is not None:
            if ranged:
                raise ValueError(f"give choices or a range (low, high), not both (remove {', '.join(ranged)})")
            return self._distinct_choices()
        if self.low is None or self.high is None:
            raise ValueError("give low and high (a range), or choices, e.g. {low: 0.004, high: 0.08, log: true}")
        return self._sound_range(self.low, self.high)

    def _distinct_choices(self) -> SearchParam:
        assert self.choices is not None
        seen = [(type(c).__name__, repr(c)) for c in self.choices]
        repeated = sorted({repr(c) for c, key in zip(self.choices, seen, strict=True) if seen.count(key) > 1})
        if repeated:
            raise ValueError(f"choices must differ, repeated: {', '.join(repeated)}")
        return self

    def _sound_range(self, low: Number, high: Number) -> SearchParam:
        if low == high:
            raise ValueError(f"low and high are both {low:g}: for one value write choices: [{low:g}]")
        if low > high:
            raise ValueError(f"low must be below high, got low {low:g} and high {high:g}")
        if self.log and low <= 0:
            raise ValueError(f"a log range must start above 0, got low {low:g}")
        if self.log and self.step is not None:
            raise ValueError("give log or step, not both (Optuna samples a log range continuously)")
        if self.step is not None:
            count = (high - low) / self.step
            if abs(count - round(count)) > 1e-9 * max(1.0, count):
                raise ValueError(f"high - low ({high - low:g}) must be a multiple of step {self.step:g}, so high "
                                 f"is reachable (e.g. high: {low + self.step * max(1, int(count)):g})")
        return self


class Objective(Strict):
    metric: str = Field(examples=["DetectionBoxes_Precision/mAP"])
    mode: Literal["max", "min"] = Field("max", examples=["max"])


def _named(value: Any) -> Any:
    """``pruner: median`` is ``pruner: {type: median}``."""
    return {"type": value} if isinstance(value, str) else value


def _or_a_name(schema: dict[str, Any]) -> None:
    """The JSON Schema accepts the shorthand too: a oneof's ``type`` alone, as a string."""
    tags = list(schema.get("discriminator", {}).get("mapping", {}))
    union = {key: schema.pop(key) for key in ("oneOf", "discriminator") if key in schema}
    if union and tags:
        schema["anyOf"] = [union, {"enum": tags, "type": "string"}]


class TPESampler(Strict):
    type: Literal["tpe"]
    startup_trials: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(
        10, description="random trials before TPE models the space", examples=[5])


class RandomSampler(Strict):
    type: Literal["random"]


class GridSampler(Strict):
    type: Literal["grid"]


Sampler = Annotated[TPESampler | RandomSampler | GridSampler, Field(discriminator="type")]


class MedianPruner(Strict):
    type: Literal["median"]
    startup_trials: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(
        5, description="trials that finish before any is pruned", examples=[2])
    warmup_evaluations: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(
        1, description="evaluations of a trial before it can be pruned", examples=[1])


class SuccessiveHalvingPruner(Strict):
    type: Literal["successive_halving"]
    min_evaluations: PositiveInt | None = Field(
        None, description="evaluations every trial gets (the first rung); default: Optuna's estimate", examples=[1])
    reduction_factor: Annotated[int, Field(ge=2, le=INT32_MAX)] = Field(
        4, description="1 in this many trials goes on to each next rung", examples=[3])


class NoPruner(Strict):
    type: Literal["none"]


Pruner = Annotated[MedianPruner | SuccessiveHalvingPruner | NoPruner, Field(discriminator="type")]


class Tune(Strict):
    """A hyperparameter search (``odspec tune``): each trial trains the spec with ``space``'s values substituted."""

    space: dict[str, SearchParam] = Field(
        min_length=1, description="spec field by dotted path -> its range or choices",
        examples=[{"train.batch_size": {"choices": [4, 8]}}])
    objective: Objective | None = Field(
        None, description="default: the early-stopping metric and mode (the run's best-checkpoint selection)")
    trials: PositiveInt | None = Field(None, description=f"default: {DEFAULT_TUNE_TRIALS}, unless timeout_minutes "
                                                         "is given", examples=[20])
    timeout_minutes: PositiveFloat | None = Field(None, description="no new trial starts after this", examples=[120])
    sampler: Sampler = Field(default_factory=lambda: TPESampler(type="tpe"),
                             description="seeded from train.seed", examples=["tpe"], json_schema_extra=_or_a_name)
    pruner: Pruner = Field(default_factory=lambda: MedianPruner(type="median"), examples=["median"],
                           json_schema_extra=_or_a_name)
    baseline: bool = Field(
        True, description="the first trial trains the spec's own values of the space's fields, the point the "
                          "search is measured against (not with the grid sampler, whose cells are the trials)",
        examples=[True])

    _by_name = field_validator("sampler", "pruner", mode="before")(_named)

    @property
    def max_trials(self) -> int | None:
        """Trials to run; None: as many as ``timeout_minutes`` allows."""
        if self.trials is None and self.timeout_minutes is None:
            return DEFAULT_TUNE_TRIALS
        return self.trials


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
    # A search over trainings, not part of one: left out of every dump (fingerprints, lock, build manifest).
    tune: Tune | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _bfloat16_as_the_zoo(cls, data: Any) -> Any:
        """``runtime.bfloat16`` left unset on a TPU follows the architecture's zoo config (``tpu_bfloat16``).

        Resolved here, before validation, so the validated spec (its dumps, fingerprints and lock) holds the value
        that trains; anything malformed is passed on untouched for validation to report.
        """
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            return data
        runtime = data.get("runtime")
        name = data["model"].get("architecture")
        arch = CATALOGUE.get(name) if isinstance(name, str) else None
        if arch is None or not isinstance(runtime, dict) or "bfloat16" in runtime:
            return data
        if runtime.get("accelerator") != "tpu":
            return data
        return {**data, "runtime": {**runtime, "bfloat16": arch.train.tpu_bfloat16}}

    @field_validator("project")
    @classmethod
    def _project_name(cls, name: str) -> str:
        if not valid_project_name(name):
            raise ValueError(f"expected {PROJECT_NAME_RULE}, got {name!r}")
        return name
