"""Typed options for the launcher's commands, and the argv that runs each.

The orchestrator decides *what* to run; these builders only spell it as the
command line ``python -m odspec.runner.launcher`` parses, so the two cannot
drift apart (the unit tests parse every argv built here with the launcher's
own parser). Pure: no TensorFlow, no file system access.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from odspec.distribute import ONE_CPU, Distribution

LAUNCHER_MODULE = "odspec.runner.launcher"
MAX_STEPS_PER_ITERATION = 100  # what model_main_tf2 hard-codes; more only delays summaries and checkpoints
# The line a multi-worker trainer reads on stdin: end training at the next iteration boundary, every worker with it
STOP_LINE = "stop"


def _require_seed(seed: int | None) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1):
        raise ValueError(f"seed must be an integer from 0 to 4294967295 or None, got {seed!r}")


def _seed_argv(seed: int | None) -> list[str]:
    return [] if seed is None else ["--seed", str(seed)]


def launcher_env(seed: int | None) -> dict[str, str]:
    """Environment a seeded child needs from its start (TensorFlow reads both when its runtime starts).

    ``PYTHONHASHSEED``: Python's string hashing fixed, so set iteration (and with it the order in which the OD API
    creates ops, which TensorFlow's per-op seeds follow) is the same in every run. ``TF_NUM_INTEROP_THREADS=1``:
    independent ops run one after another (each op still uses every core), so results that meet in one op, such as
    the gradients of SSD FPNLite's weight-shared box-predictor tower summed over its five levels, arrive in the same
    order; with the default pool two runs differed in those kernels' last bits within 20 steps (measured on CPU,
    oneDNN on or off), and training amplified it. One inter-op thread made runs alone bit-identical, but not runs
    beside other work: the sum's kernel (``AddN``) picks its rounding order from which inputs are still held, that
    is from timing, which ``compat._seed_sum_order`` takes away (two 200-step runs beside two busy processes: the
    same checkpoints).
    """
    return {} if seed is None else {"PYTHONHASHSEED": str(seed), "TF_NUM_INTEROP_THREADS": "1"}


def _require_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TrainOptions:
    """Train to ``num_steps`` (resuming from the newest checkpoint in ``model_dir``).

    ``steps_per_iteration`` None lets the launcher pick the largest value that
    lands iterations on every checkpoint step and on ``num_steps``.
    """

    pipeline_config: Path
    model_dir: Path
    num_steps: int
    checkpoint_every: int
    keep: int
    steps_per_iteration: int | None = None
    seed: int | None = None  # None: unseeded
    distribution: Distribution = ONE_CPU

    def __post_init__(self) -> None:
        _require_positive(num_steps=self.num_steps, checkpoint_every=self.checkpoint_every, keep=self.keep,
                          steps_per_iteration=self.steps_per_iteration)
        _require_seed(self.seed)


@dataclass(frozen=True)
class EvalOptions:
    """Evaluate one checkpoint of ``model_dir``, named like ``ckpt-7`` (or given as a path)."""

    pipeline_config: Path
    model_dir: Path
    checkpoint: str
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ValueError("checkpoint must name a checkpoint, e.g. ckpt-7")
        _require_seed(self.seed)


@dataclass(frozen=True)
class ExportOptions:
    """Export the checkpoint at path ``checkpoint`` (e.g. ``runs/shapes/ckpt-7``) into ``output``."""

    pipeline_config: Path
    checkpoint: Path
    output: Path
    tflite: bool = False


@dataclass(frozen=True)
class EvalServeOptions:
    """Evaluate each checkpoint path written to the child's stdin, one per line, until stdin closes."""

    pipeline_config: Path
    model_dir: Path
    seed: int | None = None

    def __post_init__(self) -> None:
        _require_seed(self.seed)


@dataclass(frozen=True)
class PredictOptions:
    """Run the SavedModel in ``saved_model`` on ``images``; detections go to the JSON file ``output``."""

    saved_model: Path
    images: tuple[Path, ...]
    output: Path
    min_score: float = 0.05

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("predict needs at least one image")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {self.min_score!r}")


LauncherOptions = TrainOptions | EvalOptions | ExportOptions | EvalServeOptions | PredictOptions


def train_argv(options: TrainOptions) -> list[str]:
    argv = ["train", "--pipeline-config", os.fspath(options.pipeline_config),
            "--model-dir", os.fspath(options.model_dir),
            "--num-steps", str(options.num_steps),
            "--checkpoint-every", str(options.checkpoint_every),
            "--keep", str(options.keep)]
    if options.steps_per_iteration is not None:
        argv += ["--steps-per-iteration", str(options.steps_per_iteration)]
    return argv + options.distribution.argv() + _seed_argv(options.seed)


def eval_argv(options: EvalOptions) -> list[str]:
    return ["eval", "--pipeline-config", os.fspath(options.pipeline_config),
            "--model-dir", os.fspath(options.model_dir),
            "--checkpoint", options.checkpoint, *_seed_argv(options.seed)]


def export_argv(options: ExportOptions) -> list[str]:
    argv = ["export", "--pipeline-config", os.fspath(options.pipeline_config),
            "--checkpoint", os.fspath(options.checkpoint),
            "--output", os.fspath(options.output)]
    return [*argv, "--tflite"] if options.tflite else argv


def eval_serve_argv(options: EvalServeOptions) -> list[str]:
    return ["eval-serve", "--pipeline-config", os.fspath(options.pipeline_config),
            "--model-dir", os.fspath(options.model_dir), *_seed_argv(options.seed)]


def predict_argv(options: PredictOptions) -> list[str]:
    return ["predict", "--saved-model", os.fspath(options.saved_model), "--output", os.fspath(options.output),
            "--min-score", repr(options.min_score), "--", *map(os.fspath, options.images)]


def launcher_argv(options: LauncherOptions) -> list[str]:
    """The arguments after ``python -m odspec.runner.launcher`` for any of its commands."""
    if isinstance(options, TrainOptions):
        return train_argv(options)
    if isinstance(options, EvalOptions):
        return eval_argv(options)
    if isinstance(options, ExportOptions):
        return export_argv(options)
    if isinstance(options, EvalServeOptions):
        return eval_serve_argv(options)
    if isinstance(options, PredictOptions):
        return predict_argv(options)
    raise TypeError(f"not launcher options: {type(options).__name__}")
