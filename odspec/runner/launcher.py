"""Child-process entry point that runs the OD API for ``odspec run``.

::

    python -m odspec.runner.launcher train --pipeline-config P --model-dir D --num-steps N
                                           --checkpoint-every K --keep M [--steps-per-iteration S] [--seed X]
    python -m odspec.runner.launcher eval --pipeline-config P --model-dir D --checkpoint ckpt-7 [--seed X]
    python -m odspec.runner.launcher export --pipeline-config P --checkpoint D/ckpt-7 --output O [--tflite]

It calls ``model_lib_v2`` and ``exporter_lib_v2`` directly, with what
``model_main_tf2`` cannot pass: checkpoints every K steps *and* at step N,
iterations that land on both, a retention count, evaluation of one named
checkpoint without the 300 s wait, and export of a checkpoint other than the
newest. With ``--seed``, Python, NumPy and TensorFlow are seeded and TensorFlow's
ops (tf.data included) made deterministic before anything runs (:func:`seed_everything`).
Results are JSON lines on stdout among TensorFlow's logging; read
them with :func:`json_lines`. ``train`` prints ``{"event": "checkpoint",
"checkpoint": "ckpt-3", "step": 100}`` as each checkpoint is written, then
``{"trained_to", "checkpoints": [{"checkpoint", "step"}, ...] (kept after
rotation), "written", "steps_per_iteration", timings}``; ``eval`` prints
``{"checkpoint", "step", "metrics": {name: float or null}}``; ``export``
prints ``{"checkpoint", "step", "saved_model", "tflite", ...}``. On failure the
last line is ``{"command", "error"}`` and the exit code is 1. Build the argv
with :mod:`odspec.runner.argv`. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odspec.distribute import ONE_CPU, Distribution, StrategyKind, too_few_devices
from odspec.errors import LaunchError, OdspecError
from odspec.io import replace_dir
from odspec.odapi.smoke import peak_rss_mb
from odspec.runner.argv import MAX_STEPS_PER_ITERATION, STOP_LINE
from odspec.runner.best import checkpoint_files, link_or_copy, write_checkpoint_index

STEP_VARIABLE = "step/.ATTRIBUTES/VARIABLE_VALUE"  # global_step in train_loop's tf.train.Checkpoint(step=...)


def steps_per_iteration(start: int, num_steps: int, every: int, requested: int | None = None) -> int:
    """Steps per ``train_loop`` iteration, so iterations end on every checkpoint step and on ``num_steps``.

    ``train_loop`` runs whole iterations from the restored step ``start`` (so it
    overshoots ``num_steps`` unless the size divides the distance) and can only
    checkpoint between them; it records train summaries only at multiples of the
    size, so that must include ``start`` too. The default is the largest fitting
    size up to 100 (fewer Python round trips and image summaries); 1 in the worst
    case, which still works, only slower.
    """
    common = math.gcd(num_steps - start, start)
    first = (start // every + 1) * every
    if first < num_steps:
        common = math.gcd(common, first - start)
        if first + every < num_steps:
            common = math.gcd(common, every)
    if requested is None:
        return max(d for d in range(1, min(common, MAX_STEPS_PER_ITERATION) + 1) if common % d == 0)
    if requested < 1 or common % requested:
        suggestion = steps_per_iteration(start, num_steps, every)
        raise LaunchError(
            f"--steps-per-iteration {requested} does not fit: training runs from step {start} to {num_steps} "
            f"with a checkpoint every {every} steps",
            f"e.g. --steps-per-iteration {suggestion}, a divisor of {common}; or leave it out")
    return requested


def should_checkpoint(step: int, every: int, num_steps: int) -> bool:
    """Save at step 0, every multiple of ``every``, and at the end even when it is off that grid."""
    return step % every == 0 or step >= num_steps


def _emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, sort_keys=True), flush=True)


def _finite_or_none(value: Any) -> float | None:
    number = float(getattr(value, "numpy", lambda: value)())
    return number if math.isfinite(number) else None


def seed_everything(seed: int | None) -> None:
    """Seed every random draw of this process and make TensorFlow's ops deterministic; None leaves both alone.

    ``set_random_seed`` seeds Python, NumPy and TensorFlow's global seed, from which
    every unseeded op (initialisers, ``Dataset.shuffle``, the preprocessor's random
    ops) takes its own. Op determinism makes the rest repeatable: tf.data's parallel
    ``map`` and ``interleave`` keep their order (the OD API reads with a *sloppy*
    interleave when it shuffles) and map functions with random ops run serially, so
    each image meets the same draws. Ops with no deterministic kernel raise instead
    of varying (on GPU; on CPU every op odspec's models use has one). The OD API's
    input pipeline would not see the seed without :func:`compat.apply_seeded`, and
    sums of three or more tensors would round as the timing falls (the same shim
    set). The order in which independent ops finish is fixed by the child's
    environment (one inter-op thread, set before TensorFlow starts: ``argv.launcher_env``).
    """
    if seed is None:
        return
    import tensorflow as tf

    from odspec.odapi import compat

    compat.apply_seeded()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# --- distribution --------------------------------------------------------------------------------------------------

def make_strategy(distribution: Distribution) -> tuple[Any, dict[str, Any]]:
    """The tf.distribute strategy ``distribution`` names (as ``model_main_tf2.py`` builds it), and what it found.

    Called before TensorFlow places anything: splitting the CPU into logical devices is only possible then.
    Refuses (LaunchError) when this machine has fewer devices than ``runtime.replicas`` or no TPU.
    """
    import tensorflow as tf

    if distribution.kind == "tpu":
        return _tpu_strategy(tf), {"devices": [d.name for d in tf.config.list_logical_devices("TPU")]}
    if distribution.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(distribution.logical_cpus)])
    gpus = tf.config.list_physical_devices("GPU")
    problem = too_few_devices(distribution, len(gpus))
    if problem:
        raise LaunchError(problem, f"set runtime.replicas: {max(1, len(gpus))} (keeping train.batch_size), or run on "
                                   f"a machine with {distribution.replicas} GPUs (CUDA_VISIBLE_DEVICES may hide some)")
    found: dict[str, Any] = {}
    if distribution.accelerator == "gpu" and not gpus:
        found["warning"] = "runtime.accelerator is gpu, but TensorFlow sees no GPU: training on the CPU"
    if distribution.kind == "default":
        return tf.distribute.get_strategy(), {**found, "devices": []}
    if distribution.kind == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        kind = "CPU" if distribution.accelerator == "cpu" else "GPU"
        devices = [d.name for d in tf.config.list_logical_devices(kind)][: distribution.replicas]
        # NCCL (the GPU default) has no CPU kernels; one device reducing works everywhere
        ops = tf.distribute.ReductionToOneDevice() if kind == "CPU" else None
        strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)
    return strategy, {**found, "devices": list(strategy.extended.worker_devices)}


def _tpu_strategy(tf: Any) -> Any:
    try:  # tpu=None: the TPU this VM or the TPU_NAME environment variable names, as model_main_tf2 without --tpu_name
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise LaunchError(f"runtime.accelerator is tpu, but no TPU was found ({type(err).__name__}: {err})",
                          "run on a Cloud TPU VM (or set TPU_NAME to the TPU's name), or set runtime.accelerator: "
                          "gpu or cpu") from None
    return tf.distribute.TPUStrategy(resolver)


# --- checkpoints ---------------------------------------------------------------------------------------------------

def _checkpoint_step(path: str | Path) -> int:
    import tensorflow as tf

    return int(tf.train.load_variable(os.fspath(path), STEP_VARIABLE))


def _checkpoint_step_or_none(path: Path) -> int | None:
    """The training step, or None for checkpoints that do not record it (exports, zoo checkpoints)."""
    import tensorflow as tf

    names = {name for name, _ in tf.train.list_variables(os.fspath(path))}
    return _checkpoint_step(path) if STEP_VARIABLE in names else None


def _kept_checkpoints(model_dir: Path) -> list[dict[str, Any]]:
    """The checkpoints the ``checkpoint`` index still lists after rotation, oldest first, with their steps."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(os.fspath(model_dir))
    paths = list(state.all_model_checkpoint_paths) if state else []
    return [{"checkpoint": Path(p).name, "step": _checkpoint_step(model_dir / Path(p).name)} for p in paths]


def _resolve_checkpoint(model_dir: Path | None, checkpoint: str) -> Path:
    """``ckpt-7`` inside ``model_dir``, or a checkpoint path as given; it must have its ``.index`` file."""
    path = Path(checkpoint)
    if model_dir is not None and len(path.parts) == 1:
        path = model_dir / path
    if not Path(f"{path}.index").is_file():
        present = sorted(p.name[: -len(".index")] for p in path.parent.glob("ckpt-*.index"))
        known = ", ".join(present) if present else "none"
        raise LaunchError(f"{path}: no such checkpoint (no {path.name}.index in {path.parent})",
                          f"checkpoints there: {known}")
    return path


def _require_weights(path: Path) -> None:
    """A checkpoint without model variables would evaluate or export the random initial weights."""
    import tensorflow as tf

    if not any(name.startswith("model/") for name, _ in tf.train.list_variables(os.fspath(path))):
        raise LaunchError(f"{path}: holds no model weights (train_loop saves the first checkpoint at step 0, "
                          "before the model is built)", "use a later checkpoint")


@contextlib.contextmanager
def _staged(checkpoint: Path) -> Iterator[Path]:
    """A temporary directory whose ``checkpoint`` index names only ``checkpoint``, for APIs that take the latest."""
    with tempfile.TemporaryDirectory(prefix="odspec-checkpoint-") as folder:
        staged = Path(folder)
        for part in checkpoint_files(checkpoint):
            link_or_copy(part, staged / part.name)  # a link survives rotation deleting the original meanwhile
        write_checkpoint_index(staged, checkpoint.name)
        yield staged


# --- train ---------------------------------------------------------------------------------------------------------

@dataclass
class _TrainRecorder:
    """Sees every end of iteration (``train_loop`` offers a save after each one) and decides whether to save."""

    every: int
    num_steps: int
    started: float
    marks: list[tuple[int, float]] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)

    scalars: dict[str, float | None] = field(default_factory=dict)

    def offered(self, step: int) -> bool:
        self.marks.append((step, time.monotonic()))
        if self.scalars:  # not at step 0, before any training
            _emit({"event": "step", "step": step, "time": time.time(), **self.scalars})
        return should_checkpoint(step, self.every, self.num_steps)

    def scalar(self, name: str, value: Any) -> None:
        """What ``train_loop`` writes to the train summaries each iteration: losses and the learning rate."""
        if name.startswith("Loss/") or name == "learning_rate":
            self.scalars[name] = _finite_or_none(value)

    def saved(self, path: str, step: int) -> None:
        record = {"checkpoint": Path(path).name, "step": step}
        self.written.append(record)
        _emit({"event": "checkpoint", **record, "time": time.time()})

    def timings(self, start: int, per_iteration: int) -> dict[str, float | None]:
        """Seconds to the end of the first iteration (mostly tracing), and per step after it."""
        marks = [(s, t) for s, t in self.marks if s > start]
        reference = next((t for s, t in self.marks if s == start), self.started)  # the step-0 save, if any
        if not marks:
            return {"first_iteration_seconds": None, "step_seconds": None, "trace_seconds": None}
        first = marks[0][1] - reference
        gaps = [(t1 - t0) / per_iteration for (_, t0), (_, t1) in itertools.pairwise(marks)]
        step = statistics.median(gaps) if gaps else None
        trace = first - per_iteration * step if step is not None else None
        return {"first_iteration_seconds": round(first, 2), "step_seconds": None if step is None else round(step, 4),
                "trace_seconds": None if trace is None else round(trace, 1)}


class _StopTraining(Exception):
    """Every worker agreed to stop at this step (not an error)."""

    def __init__(self, step: int) -> None:
        super().__init__(f"stopped at step {step}")
        self.step = step


def _stop_requests(lines: Iterable[str]) -> threading.Event:
    """Set once ``lines`` (the trainer's stdin, read in a thread) give :data:`STOP_LINE`."""
    requested = threading.Event()

    def read() -> None:
        for line in lines:
            if line.strip() == STOP_LINE:
                requested.set()

    threading.Thread(target=read, name="stop-requests", daemon=True).start()
    return requested


def _agreement(tf: Any, strategy: Any, requested: threading.Event) -> Callable[[], bool]:
    """Whether any worker was asked to stop, agreed by all of them (a collective sum, so every worker must call it
    at the same point: ``train_loop`` offers a checkpoint at every iteration's end, in every worker)."""
    @tf.function  # type: ignore[untyped-decorator]
    def total(flag: Any) -> Any:
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(flag)), axis=None)

    return lambda: float(total(tf.constant(1.0 if requested.is_set() else 0.0))) > 0


@contextlib.contextmanager
def _checkpoint_policy(model_lib_v2: Any, recorder: _TrainRecorder,
                       should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """While ``train_loop`` runs, its CheckpointManager saves only the steps ``recorder`` accepts.

    ``recorder`` also sees the losses ``train_loop`` writes as summaries, and reports them after each iteration.
    ``should_stop`` (several workers) is asked at every iteration's end; when it says so, training ends there
    (:class:`_StopTraining`) in every worker at once, so none waits forever for the others.

    ``train_loop`` has no hook for this; it looks the class up as
    ``tf.compat.v2.train.CheckpointManager`` at call time, so swapping that
    attribute for the duration of the call is enough, and is undone after.
    """
    namespace = model_lib_v2.tf.compat.v2.train
    base = namespace.CheckpointManager
    summary = model_lib_v2.tf.compat.v2.summary
    base_scalar = summary.scalar

    def scalar(name: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        recorder.scalar(name, data)
        return base_scalar(name, data, *args, **kwargs)

    class PolicyCheckpointManager(base):  # type: ignore[misc, valid-type]
        def save(self, checkpoint_number: Any = None, check_interval: bool = True, options: Any = None) -> Any:
            step = int(self._checkpoint.step.numpy())
            if should_stop is not None and should_stop():
                raise _StopTraining(step)
            if not recorder.offered(step):
                return None
            path = super().save(checkpoint_number, check_interval, options)
            recorder.saved(path, step)
            return path

    namespace.CheckpointManager = PolicyCheckpointManager
    summary.scalar = scalar
    try:
        yield
    finally:
        namespace.CheckpointManager = base
        summary.scalar = base_scalar


def train(pipeline_config: Path, model_dir: Path, num_steps: int, every: int, keep: int,
          requested: int | None = None, seed: int | None = None,
          distribution: Distribution = ONE_CPU) -> dict[str, Any]:
    """Train to ``num_steps`` from the newest checkpoint in ``model_dir`` (or from scratch).

    Checkpoints land on every multiple of ``every`` and at ``num_steps``; rotation keeps the newest ``keep``.
    """
    started = time.monotonic()
    from odspec.odapi import compat

    compat.apply()
    import tensorflow as tf
    from object_detection import model_lib_v2

    strategy, found = make_strategy(distribution)
    _emit({"event": "strategy", "strategy": distribution.kind, "replicas": strategy.num_replicas_in_sync, **found})
    seed_everything(seed)
    _restore_box_tower_too()
    latest = tf.train.latest_checkpoint(os.fspath(model_dir)) if model_dir.is_dir() else None
    start = _checkpoint_step(latest) if latest else 0
    result: dict[str, Any] = {"start_step": start, "trained_to": start, "steps_per_iteration": None}
    recorder = _TrainRecorder(every, num_steps, time.monotonic())
    should_stop = _agreement(tf, strategy, _stop_requests(sys.stdin)) if distribution.kind == "multi_worker" \
        else None
    if start < num_steps:
        per_iteration = steps_per_iteration(start, num_steps, every, requested)
        last: dict[str, float] = {}
        try:
            with _checkpoint_policy(model_lib_v2, recorder, should_stop), strategy.scope():
                model_lib_v2.train_loop(
                    pipeline_config_path=os.fspath(pipeline_config), model_dir=os.fspath(model_dir),
                    train_steps=num_steps, checkpoint_every_n=per_iteration, checkpoint_max_to_keep=keep,
                    num_steps_per_iteration=per_iteration, use_tpu=distribution.kind == "tpu",
                    performance_summary_exporter=lambda metrics, _precision: last.update(metrics))
        except _StopTraining as stop:
            result["stopped_at"] = stop.step
            for folder in (model_dir, model_dir / "train"):  # a worker's temp_worker_NNN, as train_loop's end does
                model_lib_v2.clean_temporary_directories(strategy, model_lib_v2.get_filepath(strategy,
                                                                                            os.fspath(folder)))
        newest = tf.train.latest_checkpoint(os.fspath(model_dir))  # the chief's, in every worker
        result.update(steps_per_iteration=per_iteration, trained_to=_checkpoint_step(newest) if newest else start,
                      last_loss=_finite_or_none(last.get("last_batch_loss", math.nan)),
            **recorder.timings(start, per_iteration))
    return {**result, "checkpoints": _kept_checkpoints(model_dir), "written": recorder.written,
            "seconds": round(time.monotonic() - started, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _restore_box_tower_too() -> None:
    """A ``detection`` fine-tune checkpoint gives SSD its backbone, FPN *and* box tower; only the class head is new.

    The OD API restores only the feature extractor for ``detection``, so the
    weight-shared box tower and the box regression head (which do not depend on the
    classes) would start from random. This is the restore the OD API's own few-shot
    fine-tuning tutorial does by hand; the class prediction head stays fresh, sized
    for the new classes.
    """
    from object_detection.meta_architectures import ssd_meta_arch

    base = ssd_meta_arch.SSDMetaArch.restore_from_objects
    if getattr(base, "odspec_box_tower", False):
        return

    def restore_from_objects(self: Any, fine_tune_checkpoint_type: str = "detection") -> dict[str, Any]:
        predictor = self._box_predictor
        tower = getattr(predictor, "_base_tower_layers_for_heads", None)
        box_head = getattr(predictor, "_box_prediction_head", None)
        if fine_tune_checkpoint_type != "detection" or tower is None or box_head is None:
            restored: dict[str, Any] = base(self, fine_tune_checkpoint_type)
            return restored
        checkpoint = ssd_meta_arch.tf.train.Checkpoint  # the class the OD API checks for (tf.compat.v1's)
        box_predictor = checkpoint(_base_tower_layers_for_heads=tower, _box_prediction_head=box_head)
        return {"model": checkpoint(_feature_extractor=self._feature_extractor, _box_predictor=box_predictor)}

    restore_from_objects.odspec_box_tower = True  # type: ignore[attr-defined]
    ssd_meta_arch.SSDMetaArch.restore_from_objects = restore_from_objects


# --- eval ----------------------------------------------------------------------------------------------------------

def evaluate(pipeline_config: Path, model_dir: Path, checkpoint: str, seed: int | None = None) -> dict[str, Any]:
    """One pass of the config's eval input over ``checkpoint``, as ``eval_continuously`` does for the newest one.

    Summaries go to ``model_dir/eval`` like ``model_main_tf2``'s, so TensorBoard
    shows them beside training.
    """
    started = time.monotonic()
    path = _resolve_checkpoint(model_dir, checkpoint)
    result = _Evaluator(pipeline_config, model_dir, seed).evaluate(path)
    return {**result, "seconds": round(time.monotonic() - started, 1)}


class _Evaluator:
    """TensorFlow imported and the config read once; then any number of checkpoints evaluated one by one."""

    def __init__(self, pipeline_config: Path, model_dir: Path, seed: int | None = None) -> None:
        from odspec.odapi import compat

        compat.apply()
        import tensorflow as tf
        from object_detection.utils import config_util

        self.pipeline_config, self.model_dir, self.seed = pipeline_config, model_dir, seed
        configs = config_util.get_configs_from_pipeline_file(os.fspath(pipeline_config))
        self.configs = config_util.merge_external_params_with_configs(
            configs, None, kwargs_dict={"sample_1_of_n_eval_examples": 1, "use_bfloat16": False, "eval_num_epochs": 1})
        name = self.configs["eval_input_configs"][0].name
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval", name))

    def evaluate(self, path: Path) -> dict[str, Any]:
        import tensorflow as tf
        from object_detection import model_lib_v2

        _require_weights(path)
        tf.keras.backend.clear_session()  # the previous checkpoint's model and graphs go
        seed_everything(self.seed)  # again for each: its result must not depend on what was evaluated before
        model, dataset, global_step, status = _restored_for_eval(self.configs, path)
        loop_started = time.monotonic()
        with self.writer.as_default():
            metrics = model_lib_v2.eager_eval_loop(model, self.configs, dataset, global_step=global_step)
        self.writer.flush()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as exc:
            raise LaunchError(f"{path}: does not match the model of {self.pipeline_config}: "
                              f"{str(exc).split('. Showing')[0]}",
                              "evaluate it with the pipeline config it was trained with") from exc
        return {"checkpoint": path.name, "step": int(global_step.numpy()),
                "metrics": {name: _finite_or_none(value) for name, value in sorted(metrics.items())},
                "loop_seconds": round(time.monotonic() - loop_started, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def serve_evaluations(pipeline_config: Path, model_dir: Path, lines: Iterable[str],
                      seed: int | None = None) -> dict[str, Any]:
    """Evaluate each checkpoint path read from ``lines`` (stdin), in order, until they end.

    For each: ``{"event": "eval-start", "checkpoint", "time"}`` when it begins, then
    ``{"event": "evaluated", "checkpoint", "step", "metrics", ...}`` or
    ``{"event": "eval-failed", "checkpoint", "error"}``. TensorFlow is imported and the
    config parsed once, before the first line is read, so an evaluation starts as soon
    as its checkpoint is named.
    """
    evaluator = _Evaluator(pipeline_config, model_dir, seed)
    _emit({"event": "eval-ready"})
    count = 0
    for line in lines:
        name = line.strip()
        if not name:
            continue
        _emit({"event": "eval-start", "checkpoint": name, "time": time.time()})
        started = time.monotonic()
        try:
            result = evaluator.evaluate(_resolve_checkpoint(model_dir, name))
        except Exception as exc:  # noqa: BLE001 (reported per checkpoint; the next one may still work)
            traceback.print_exc(file=sys.stderr)
            _emit({"event": "eval-failed", "checkpoint": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        count += 1
        _emit({"event": "evaluated", **result, "path": name, "seconds": round(time.monotonic() - started, 1)})
    return {"evaluated": count, "peak_rss_mb": round(peak_rss_mb(), 1)}


def _restored_for_eval(configs: dict[str, Any], path: Path) -> tuple[Any, Any, Any, Any]:
    """Model, eval dataset, step variable and restore status, set up exactly as ``eval_continuously`` does."""
    import tensorflow as tf
    from object_detection import inputs, model_lib_v2
    from object_detection.builders import optimizer_builder

    eval_config = configs["eval_config"]
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = model_lib_v2.MODEL_BUILD_UTIL_MAP["detection_model_fn_base"](
            model_config=configs["model"], is_training=True)  # eager_eval_loop switches it to inference
    dataset = strategy.experimental_distribute_dataset(inputs.eval_input(
        eval_config=eval_config, eval_input_config=configs["eval_input_configs"][0], model_config=configs["model"],
        model=model))
    global_step = tf.Variable(0, trainable=False, dtype=tf.int64)
    optimizer, _ = optimizer_builder.build(configs["train_config"].optimizer, global_step=global_step)
    if eval_config.use_moving_averages:
        model_lib_v2._ensure_model_is_built(model, dataset, eval_config.batch_size == 1)
        optimizer.shadow_copy(model)
    status = tf.train.Checkpoint(step=global_step, model=model, optimizer=optimizer).restore(
        os.fspath(path)).expect_partial()
    if eval_config.use_moving_averages:
        optimizer.swap_weights()
    return model, dataset, global_step, status


# --- export --------------------------------------------------------------------------------------------------------

def export(pipeline_config: Path, checkpoint: Path, output: Path, tflite: bool = False) -> dict[str, Any]:
    """SavedModel (``image_tensor`` input) of ``checkpoint`` in ``output``; with ``tflite`` also ``model.tflite``.

    Everything is written to a sibling folder first and renamed into place, so
    ``output`` is either the previous export or the complete new one.
    """
    started = time.monotonic()
    path = _resolve_checkpoint(None, os.fspath(checkpoint))
    from odspec.odapi import compat

    compat.apply()
    from google.protobuf import text_format
    from object_detection import exporter_lib_v2
    from object_detection.protos import pipeline_pb2

    _require_weights(path)
    config = text_format.Parse(pipeline_config.read_text(encoding="utf-8"), pipeline_pb2.TrainEvalPipelineConfig())
    max_detections = _max_detections(config) if tflite else 0  # fails before the slow part for other models
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)  # not mkdtemp: its 0700 mode would stay on the renamed export
    result: dict[str, Any] = {"checkpoint": path.name, "step": _checkpoint_step_or_none(path),
                              "output": os.fspath(output), "saved_model": os.fspath(output / "saved_model"),
                              "tflite": None}
    try:
        with _staged(path) as staged:
            exporter_lib_v2.export_inference_graph("image_tensor", config, os.fspath(staged), os.fspath(partial))
            result["saved_model_seconds"] = round(time.monotonic() - started, 1)
            if tflite:
                result.update(_export_tflite(config, max_detections, staged, partial, output))
        replace_dir(partial, output)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return {**result, "seconds": round(time.monotonic() - started, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _max_detections(config: Any) -> int:
    meta = config.model.WhichOneof("model")
    if meta == "ssd":
        return int(config.model.ssd.post_processing.batch_non_max_suppression.max_total_detections) or 10
    if meta == "center_net":
        return int(config.model.center_net.object_center_params.max_box_predictions) or 10
    raise LaunchError(f"TFLite export supports SSD and CenterNet models only, not {meta}",
                      "export without --tflite")


def _export_tflite(config: Any, max_detections: int, staged: Path, partial: Path, output: Path) -> dict[str, Any]:
    """The OD API's TFLite-ready SavedModel (NMS as the TFLite_Detection_PostProcess op), converted to ``.tflite``."""
    started = time.monotonic()
    import tensorflow as tf
    from object_detection import export_tflite_graph_lib_tf2

    export_tflite_graph_lib_tf2.export_tflite_model(
        config, os.fspath(staged), os.fspath(partial / "tflite"), max_detections, use_regular_nms=False)
    graph_seconds = time.monotonic() - started
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(partial / "tflite" / "saved_model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        data = converter.convert()
    except Exception as exc:
        raise LaunchError(f"the TFLite graph was exported but converting it to .tflite failed: "
                          f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}",
                          "export without --tflite, or convert tflite/saved_model with SELECT_TF_OPS") from exc
    (partial / "model.tflite").write_bytes(data)
    return {"tflite": os.fspath(output / "model.tflite"),
            "tflite_saved_model": os.fspath(output / "tflite" / "saved_model"), "tflite_bytes": len(data),
            "tflite_graph_seconds": round(graph_seconds, 1),
            "tflite_convert_seconds": round(time.monotonic() - started - graph_seconds, 1)}


# --- predict -------------------------------------------------------------------------------------------------------

def predict(saved_model: Path, images: list[Path], output: Path, min_score: float = 0.05) -> dict[str, Any]:
    """Detections of an exported SavedModel on ``images``, written to ``output`` as JSON.

    Boxes are normalised ``[ymin, xmin, ymax, xmax]`` as the exporter returns them,
    classes are label-map ids, only scores of at least ``min_score`` are kept.
    """
    started = time.monotonic()
    if not (saved_model / "saved_model.pb").is_file():
        raise LaunchError(f"{saved_model}: no saved_model.pb here", "export the run first: `odspec export SPEC`")
    import numpy as np
    import tensorflow as tf
    from PIL import Image, ImageOps

    detect = tf.saved_model.load(os.fspath(saved_model))
    load_seconds = time.monotonic() - started
    found: list[dict[str, Any]] = []
    for image_path in images:
        with Image.open(image_path) as opened:
            pixels = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        out = detect(tf.constant(pixels[np.newaxis, ...], dtype=tf.uint8))
        count = int(out["num_detections"][0])
        scores = out["detection_scores"][0][:count].numpy().tolist()
        keep = [i for i, score in enumerate(scores) if score >= min_score]
        boxes = out["detection_boxes"][0][:count].numpy().tolist()
        classes = out["detection_classes"][0][:count].numpy().tolist()
        found.append({"image": os.fspath(image_path), "height": int(pixels.shape[0]), "width": int(pixels.shape[1]),
                      "boxes": [[round(v, 5) for v in boxes[i]] for i in keep],
                      "classes": [int(classes[i]) for i in keep], "scores": [round(scores[i], 5) for i in keep]})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"saved_model": os.fspath(saved_model), "images": found}, indent=1) + "\n",
                      encoding="utf-8")
    return {"output": os.fspath(output), "images": len(found), "detections": sum(len(f["scores"]) for f in found),
            "load_seconds": round(load_seconds, 1), "seconds": round(time.monotonic() - started, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


# --- command line --------------------------------------------------------------------------------------------------

def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 4294967295, got {text!r}")
    return value


def _seed_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--seed", type=_seed, default=None,
                         help="seed everything random and make TensorFlow deterministic; default: unseeded")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m odspec.runner.launcher",
                                     description="Run the OD API for odspec: train, eval one checkpoint, export.")
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train to --num-steps, resuming from the newest checkpoint")
    train_cmd.add_argument("--pipeline-config", type=Path, required=True)
    train_cmd.add_argument("--model-dir", type=Path, required=True)
    train_cmd.add_argument("--num-steps", type=_positive, required=True)
    train_cmd.add_argument("--checkpoint-every", type=_positive, required=True)
    train_cmd.add_argument("--keep", type=_positive, required=True, help="checkpoints kept by rotation")
    train_cmd.add_argument("--steps-per-iteration", type=_positive, default=None,
                           help="default: the largest value <= 100 that ends iterations on every checkpoint step "
                                "and on --num-steps")
    _seed_option(train_cmd)
    train_cmd.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"], default="default",
                           help="the tf.distribute strategy (odspec.distribute decides it from the spec)")
    train_cmd.add_argument("--accelerator", choices=["cpu", "gpu", "tpu"], default="cpu")
    train_cmd.add_argument("--replicas", type=_positive, default=1, help="devices per worker")
    train_cmd.add_argument("--workers", type=_positive, default=1)
    eval_cmd = commands.add_parser("eval", help="evaluate one checkpoint once on the config's eval input")
    eval_cmd.add_argument("--pipeline-config", type=Path, required=True)
    eval_cmd.add_argument("--model-dir", type=Path, required=True)
    eval_cmd.add_argument("--checkpoint", required=True, help="a name in --model-dir (ckpt-7) or a path")
    _seed_option(eval_cmd)
    serve_cmd = commands.add_parser("eval-serve", help="evaluate each checkpoint path read from stdin, in order")
    serve_cmd.add_argument("--pipeline-config", type=Path, required=True)
    serve_cmd.add_argument("--model-dir", type=Path, required=True)
    _seed_option(serve_cmd)
    predict_cmd = commands.add_parser("predict", help="run an exported SavedModel on images; detections as JSON")
    predict_cmd.add_argument("--saved-model", type=Path, required=True)
    predict_cmd.add_argument("--output", type=Path, required=True, help="the JSON file to write")
    predict_cmd.add_argument("--min-score", type=float, default=0.05)
    predict_cmd.add_argument("images", type=Path, nargs="+")
    export_cmd = commands.add_parser("export", help="export one checkpoint as a SavedModel (and .tflite)")
    export_cmd.add_argument("--pipeline-config", type=Path, required=True)
    export_cmd.add_argument("--checkpoint", type=Path, required=True, help="checkpoint path, e.g. runs/x/ckpt-7")
    export_cmd.add_argument("--output", type=Path, required=True)
    export_cmd.add_argument("--tflite", action="store_true",
                            help="also the TFLite-ready graph and model.tflite (SSD and CenterNet only)")
    return parser


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "pipeline_config", None) is not None and not args.pipeline_config.is_file():
        raise LaunchError(f"{args.pipeline_config}: no such pipeline config", "run `odspec build` first")
    if args.command == "train":
        kind: StrategyKind = args.strategy
        distribution = Distribution(kind, args.accelerator, args.replicas, args.workers)
        return train(args.pipeline_config, args.model_dir, args.num_steps, args.checkpoint_every, args.keep,
                     args.steps_per_iteration, args.seed, distribution)
    if args.command == "eval":
        return evaluate(args.pipeline_config, args.model_dir, args.checkpoint, args.seed)
    if args.command == "eval-serve":
        return serve_evaluations(args.pipeline_config, args.model_dir, sys.stdin, args.seed)
    if args.command == "predict":
        return predict(args.saved_model, args.images, args.output, args.min_score)
    return export(args.pipeline_config, args.checkpoint, args.output, args.tflite)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _emit(_run(args))
    except Exception as exc:  # noqa: BLE001 (the caller reads the last line; it must say what failed)
        if not isinstance(exc, OdspecError):
            traceback.print_exc(file=sys.stderr)
        elif exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        message = str(exc) if isinstance(exc, OdspecError) else f"{type(exc).__name__}: {exc}"
        _emit({"command": args.command, "error": message})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
