"""``odspec run``: one training child, one evaluation child, and the decisions between them.

::

    prepare()   reconcile the model directory with the build (start, resume, refuse), lock it
    execute()   train child  --checkpoint-->  protect (link into .pending/)  -->  evaluation child
                evaluation   --metrics-->     best/ (if better), metrics.jsonl, early stopping
                early stop   -->              stop the train child

The train child is ``launcher train`` (the OD API's ``train_loop``); the evaluation
child is ``launcher eval-serve``, which imports TensorFlow once and evaluates each
checkpoint path written to its stdin, so an evaluation starts as soon as its
checkpoint is written, however long training goes on. :class:`Coordinator` holds the
decisions and is pure; :func:`execute` only moves lines and files. Everything a run
decides is on disk before it acts on it (metrics.jsonl, best/, .pending/), so a run
killed at any moment is resumed by running it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from odspec.distribute import ONE_CPU, ClusterTask, Distribution
from odspec.errors import OdspecError, ReconcileError, RunInterrupted
from odspec.procs import json_lines
from odspec.reconcile.plan import Refuse, Resume, Start, plan
from odspec.reconcile.record import (
    RunRecord,
    Versions,
    write_run_record,
)
from odspec.reconcile.state import Best, observe, own_entry
from odspec.runner import best as best_files
from odspec.runner import mailbox
from odspec.runner.argv import (
    LAUNCHER_MODULE,
    STOP_LINE,
    EvalServeOptions,
    TrainOptions,
    launcher_argv,
    launcher_env,
)
from odspec.runner.early_stopping import EarlyStopper
from odspec.runner.metrics import MetricsRow, append_metrics, read_metrics
from odspec.runner.process import Child, remove_stale_temp
from odspec.runner.run_events import (
    CheckpointEvent,
    DevicesEvent,
    EarlyStopEvent,
    EvalStartEvent,
    EvaluatedEvent,
    EvaluatorRestartedEvent,
    OnEvent,
    PlanEvent,
    StepEvent,
    TrainFinishedEvent,
    TrainStartedEvent,
)

LOCK = ".odspec.lock"
LOGS = "logs"
NO_PATIENCE = 10**9  # best checkpoint kept, early stopping off
DEFAULT_METRICS = {
    "coco_detection_metrics": "DetectionBoxes_Precision/mAP",
    "pascal_voc_detection_metrics": "PascalBoxes_Precision/mAP@0.5IOU",
    "oid_V2_detection_metrics": "OpenImagesV2_Precision/mAP@0.5IOU",
}


StopWhen = Callable[[EvaluatedEvent], "str | None"]  # after an evaluation: why to stop the run now, or None


def versions() -> Versions:
    """odspec, TensorFlow and OD API versions, read from package metadata (TensorFlow is not imported)."""
    from odspec.lock import installed_versions

    return Versions(**installed_versions())


# --- the decisions (pure) ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """How checkpoints are compared: the metric, which way is better, and when to stop."""

    metric: str
    mode: Literal["max", "min"]
    patience: int | None  # None: never stop early, only keep the best
    min_delta: float = 0.0

    def stopper(self) -> EarlyStopper:
        return EarlyStopper(self.metric, self.mode, self.patience or NO_PATIENCE, self.min_delta)


@dataclass(frozen=True)
class Verdict:
    step: int
    value: float
    improved: bool
    stop: bool
    best_step: int | None
    best_value: float | None
    message: str | None  # why training stops, when it does


class Coordinator:
    """Which checkpoints to evaluate, which is best, when to stop. Replays ``history`` (metrics.jsonl) first."""

    def __init__(self, *, num_steps: int, eval_every: int, selection: Selection, history: list[MetricsRow]) -> None:
        self.num_steps, self.eval_every, self.selection = num_steps, eval_every, selection
        self.stopper = selection.stopper()
        self.stopper.from_history(history)
        self.last_evaluated = max((row.step for row in history), default=0)
        self.queued: list[int] = []

    @property
    def stopped(self) -> bool:
        return self.selection.patience is not None and self.stopper.stopped

    def due(self, step: int) -> bool:
        """Evaluate this checkpoint? Every ``eval_every`` steps and the last one; never step 0, never twice."""
        if step <= 0 or self.stopped or step <= max(self.last_evaluated, *self.queued, 0):
            return False
        return step % self.eval_every == 0 or step >= self.num_steps

    def queue(self, step: int) -> None:
        self.queued.append(step)

    def evaluated(self, step: int, metrics: Mapping[str, float]) -> Verdict:
        if step in self.queued:
            self.queued.remove(step)
        value = metrics.get(self.selection.metric, math.nan)
        decision = self.stopper.update(step, value)
        self.last_evaluated = step
        stop = self.selection.patience is not None and decision.stop
        return Verdict(step, value, decision.improved, stop, decision.best_step, decision.best_value,
                       self.stopper.stop_message() if stop else None)


def eta_seconds(steps_left: int, marks: list[tuple[int, float]]) -> tuple[float | None, float | None]:
    """(steps per second, seconds left) from (step, time) marks; the first mark (graph tracing) is not a rate."""
    if len(marks) < 3:
        return None, None
    (s0, t0), (s1, t1) = marks[1], marks[-1]
    if s1 <= s0 or t1 <= t0:
        return None, None
    rate = (s1 - s0) / (t1 - t0)
    return rate, max(0, steps_left) / rate


# --- preparing a model directory -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSetup:
    """Everything ``execute`` needs, decided before any child starts."""

    pipeline_config: Path
    build_dir: Path
    model_dir: Path
    record: RunRecord
    action: Literal["start", "resume"]
    start_step: int
    num_steps: int
    checkpoint_every: int
    eval_every: int
    keep: int
    selection: Selection
    changed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seed: int | None = None  # train.seed; None: unseeded
    distribution: Distribution = ONE_CPU
    batch_size: int | None = None  # the global batch, for describing the distribution
    task: ClusterTask | None = None  # this process's task when several workers train (None: one machine)
    evaluator: Literal["chief", "task"] = "chief"  # runtime.evaluator: who evaluates (a cluster's chief or a task)

    @property
    def fingerprint(self) -> str:
        """One hash of the spec as trained (every field), for best/info.json."""
        return hashlib.sha256(json.dumps(self.record.spec_fields, sort_keys=True).encode()).hexdigest()


def reconcile(model_dir: Path, record: RunRecord, *, restart: bool) -> Start | Resume:
    """Start or Resume ``record`` in ``model_dir``; ReconcileError (naming what changed) when it must not."""
    best_files.recover(model_dir)
    state = observe(model_dir)
    if restart:
        decided = plan(state, record)
        if isinstance(decided, Refuse) and decided.reason == "not-a-model-dir":
            raise decided.error()
        clear(model_dir)
        return Start()
    decided = plan(state, record)
    if isinstance(decided, Refuse):
        raise decided.error()
    if isinstance(decided, Start) and decided.leftovers:
        clear(model_dir)  # what a run that saved no checkpoint left (logs, event files): nothing to keep
    return decided


def clear(model_dir: Path) -> None:
    """Delete what odspec and the OD API put in ``model_dir`` (``--restart``); anything else stays."""
    if not model_dir.is_dir():
        return
    for entry in sorted(model_dir.iterdir()):
        if entry.name == LOCK:
            continue
        if own_entry(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


@contextlib.contextmanager
def locked(model_dir: Path) -> Iterator[None]:
    """Only one odspec trains into a model directory at a time; the lock goes when the process does."""
    model_dir.mkdir(parents=True, exist_ok=True)
    handle = open(model_dir / LOCK, "a+")  # noqa: SIM115 (held for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ReconcileError(f"{model_dir}: another odspec run is training here ({holder})",
                                 "wait for it to finish, or stop it; two runs in one model directory would mix "
                                 "their checkpoints") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


# --- running -------------------------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    model_dir: Path
    trained_to: int | None
    stopped_early: str | None
    best: Best | None  # best/info.json at the end
    evaluations: int
    eval_latencies: list[float]
    step_seconds: float | None


@dataclass
class _Live:
    """What the loop has seen so far."""

    marks: list[tuple[int, float]] = field(default_factory=list)
    checkpoint_times: dict[str, float] = field(default_factory=dict)
    outstanding: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    evaluator_free_at: float | None = None  # wall time the evaluator was last ready for a checkpoint
    train_result: dict[str, Any] | None = None
    train_error: str | None = None
    train_done: bool = False
    stopped_early: str | None = None
    evaluations: int = 0
    evaluator_restarts: int = 0


def execute(setup: RunSetup, on_event: OnEvent, *, poll_seconds: float = 0.5,
            launcher: str = LAUNCHER_MODULE, stop_when: StopWhen | None = None) -> RunOutcome:
    """Train to ``setup.num_steps`` (unless already there or stopped), evaluating every due checkpoint.

    ``launcher`` is the module both children run (tests stand a fake in for the OD API's). ``stop_when`` is asked
    after each evaluation (``odspec tune``'s pruner): a message ends the run as early stopping does.
    """
    model_dir = setup.model_dir
    write_run_record(model_dir, setup.record)
    history = read_metrics(model_dir)
    coordinator = Coordinator(num_steps=setup.num_steps, eval_every=setup.eval_every, selection=setup.selection,
                              history=history)
    live = _Live()
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    logs = model_dir / LOGS
    logs.mkdir(exist_ok=True)
    remove_stale_temp(model_dir)  # of children whose odspec was killed; under the lock none of ours runs here
    env = launcher_env(setup.seed)
    leftovers = _leftovers(model_dir, coordinator)
    needs_training = _needs_training(setup, coordinator)
    if coordinator.stopped:
        live.stopped_early = coordinator.stopper.stop_message()
        for name in best_files.pending_checkpoints(model_dir):
            best_files.release(model_dir, name)
    on_event(_plan_event(setup, needs_training, [name for name, _ in leftovers], live.stopped_early))
    if not needs_training and not leftovers:
        return _outcome(setup, live)

    evaluator: Child | mailbox.RemoteEvaluator | None = None
    trainer: Child | None = None
    with open(logs / "train.log", "a", encoding="utf-8", buffering=1) as train_log, \
            open(logs / "eval.log", "a", encoding="utf-8", buffering=1) as eval_log:
        def from_train(line: str) -> None:
            train_log.write(line + "\n")
            lines.put(("train", line))

        def from_eval(line: str) -> None:
            eval_log.write(line + "\n")
            lines.put(("eval", line))

        def start_evaluator() -> Child | mailbox.RemoteEvaluator:
            if setup.evaluator == "task":
                return mailbox.RemoteEvaluator(model_dir, from_eval, poll_seconds=poll_seconds)
            return Child(launcher, launcher_argv(EvalServeOptions(setup.pipeline_config, model_dir, setup.seed)),
                         on_line=from_eval, stdin=True, name="evaluator", env=env, temp_parent=model_dir)

        try:
            evaluator = start_evaluator()
            for name, _step in leftovers:  # queued in the coordinator by _leftovers
                _send(evaluator, live, name, model_dir)
            if needs_training:
                options = TrainOptions(setup.pipeline_config, model_dir, setup.num_steps, setup.checkpoint_every,
                                       setup.keep, seed=setup.seed, distribution=setup.distribution)
                trainer = Child(launcher, launcher_argv(options), on_line=from_train, name="trainer", env=env,
                                temp_parent=model_dir, stdin=_stops_by_agreement(setup))
                on_event(TrainStartedEvent(pid=trainer.pid, from_step=setup.start_step))
            else:
                live.train_done = True
            while not (live.train_done and not live.outstanding):
                try:
                    source, line = lines.get(timeout=poll_seconds)
                except queue.Empty:
                    _check_children(trainer, evaluator, live, lines)
                    evaluator = _restart_evaluator(evaluator, start_evaluator, live, lines, model_dir, on_event)
                    continue
                for message in json_lines([line]):
                    if source == "train":
                        _on_train(message, setup, coordinator, live, evaluator, trainer, on_event)
                    else:
                        _on_eval(message, setup, coordinator, live, evaluator, trainer, on_event, stop_when)
            if isinstance(evaluator, mailbox.RemoteEvaluator):
                evaluator.finish()  # the run has ended: the evaluator task may too
        except KeyboardInterrupt:
            raise RunInterrupted(f"interrupted; checkpoints and evaluations so far are kept in {model_dir}",
                                 "run the same command again to resume") from None
        finally:
            for child in (trainer, evaluator):
                if child is not None:
                    child.stop()
    if live.train_error is not None:
        raise OdspecError(f"training failed: {live.train_error}",
                          f"see {logs / 'train.log'}; run again to resume from the last checkpoint")
    write_run_record(model_dir, setup.record.model_copy(update={"updated": datetime.now(timezone.utc)}))
    return _outcome(setup, live)


def _plan_event(setup: RunSetup, train: bool, evaluate: list[str], stopped_early: str | None) -> PlanEvent:
    """What a run (the chief's, one machine's, or a worker's) is about to do, before any child starts."""
    return PlanEvent(action=setup.action, model_dir=str(setup.model_dir), from_step=setup.start_step,
                     to_step=setup.num_steps, changed=setup.changed, warnings=setup.warnings, train=train,
                     evaluate=evaluate, stopped_early=stopped_early, tensorboard=str(setup.model_dir),
                     metric=setup.selection.metric, strategy=setup.distribution.describe(setup.batch_size),
                     task=setup.task.role(setup.evaluator == "task") if setup.task else None)


def _needs_training(setup: RunSetup, coordinator: Coordinator) -> bool:
    """Steps are left and early stopping has not ended the run (the chief and every worker decide alike)."""
    return setup.start_step < setup.num_steps and not coordinator.stopped


def _stops_by_agreement(setup: RunSetup) -> bool:
    """Several workers train in lock step: the trainer is asked to stop (it ends with every worker at the next
    iteration) rather than killed, which would leave the other workers waiting for it."""
    return setup.distribution.kind == "multi_worker"


# --- a worker beside the chief -------------------------------------------------------------------------------------

CHIEF_WAIT_SECONDS = 3600.0  # the chief builds the dataset first, which can take a while


def same_run(chief: RunRecord, ours: RunRecord) -> list[str]:
    """What differs between the chief's run record and the one this worker would write (empty: the same run)."""
    differ = sorted(k for k in chief.spec_fields.keys() | ours.spec_fields.keys()
                    if chief.spec_fields.get(k) != ours.spec_fields.get(k))
    for name in ("pipeline_config_sha256", "label_map_sha256", "train_steps"):
        if getattr(chief, name) != getattr(ours, name):
            differ.append(name.removesuffix("_sha256").replace("_", "."))
    return differ


def wait_for_chief(setup: RunSetup, *, timeout: float = CHIEF_WAIT_SECONDS,
                   poll_seconds: float = 2.0) -> RunSetup:
    """Wait until the chief has built and reconciled this spec in ``setup.model_dir`` (its run record there is this
    spec's); ``setup`` then resumes from the chief's newest checkpoint. ReconcileError after ``timeout`` seconds."""
    deadline, task = time.monotonic() + timeout, _task(setup)
    differ: list[str] = []
    while True:
        state = observe(setup.model_dir)
        chief = state.record
        if chief is not None:
            differ = same_run(chief, setup.record)
            if not differ:
                start = state.latest.step if state.latest is not None and state.latest.step else 0
                return dataclasses.replace(setup, record=chief, start_step=start,
                                           action="resume" if start else "start")
        if time.monotonic() >= deadline:
            waited = f"{timeout / 60:.0f} minutes" if timeout >= 120 else f"{timeout:g} s"
            seen = f"its run record there is for another spec ({', '.join(differ)} differ)" if chief is not None \
                else "there is no run record there"
            raise ReconcileError(
                f"{setup.model_dir}: {task.name} waited {waited} for the chief to start this "
                f"spec's run, and {seen}",
                "start odspec run with the same spec on the chief; every task must see the same model directory "
                "(shared storage)")
        time.sleep(poll_seconds)


def _task(setup: RunSetup) -> ClusterTask:
    if setup.task is None or setup.task.is_chief:
        raise ValueError("a worker's setup needs its (non-chief) cluster task")
    return setup.task


def execute_worker(setup: RunSetup, on_event: OnEvent, *, poll_seconds: float = 0.5,
                   launcher: str = LAUNCHER_MODULE) -> RunOutcome:
    """Train beside the chief until every worker ends: at ``setup.num_steps``, or when the chief's early stop
    reaches every worker at an iteration's end. Writes only its log (``logs/train-worker-N.log``)."""
    model_dir, task = setup.model_dir, _task(setup)
    coordinator = Coordinator(num_steps=setup.num_steps, eval_every=setup.eval_every, selection=setup.selection,
                              history=read_metrics(model_dir))
    live = _Live()
    needs_training = _needs_training(setup, coordinator)
    if coordinator.stopped:
        live.stopped_early = coordinator.stopper.stop_message()
    on_event(_plan_event(setup, needs_training, [], live.stopped_early))
    if not needs_training:
        return _outcome(setup, live)
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    (model_dir / LOGS).mkdir(exist_ok=True)
    options = TrainOptions(setup.pipeline_config, model_dir, setup.num_steps, setup.checkpoint_every, setup.keep,
                           seed=setup.seed, distribution=setup.distribution)
    trainer: Child | None = None
    log_path = model_dir / LOGS / f"train-{task.kind}-{task.index}.log"
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        def from_train(line: str) -> None:
            log.write(line + "\n")
            lines.put(("train", line))

        try:  # temporary files in the system's folder: the chief cleans the model directory's of dead children
            trainer = Child(launcher, launcher_argv(options), on_line=from_train, name="trainer",
                            env=launcher_env(setup.seed))
            on_event(TrainStartedEvent(pid=trainer.pid, from_step=setup.start_step))
            while not live.train_done:
                try:
                    _source, line = lines.get(timeout=poll_seconds)
                except queue.Empty:
                    _check_children(trainer, None, live, lines)
                    continue
                for message in json_lines([line]):
                    _on_train(message, setup, coordinator, live, None, trainer, on_event)
        except KeyboardInterrupt:
            raise RunInterrupted(f"interrupted; {task.name} stopped training (the chief keeps the checkpoints)",
                                 "run the same command again to rejoin the chief") from None
        finally:
            if trainer is not None:
                trainer.stop()
    if live.train_error is not None:
        raise OdspecError(f"training failed: {live.train_error}",
                          f"see {log_path}; run again to rejoin "
                          "the chief")
    return _outcome(setup, live)


def execute_evaluator(setup: RunSetup, on_event: OnEvent, *, poll_seconds: float = 0.5,
                      launcher: str = LAUNCHER_MODULE) -> RunOutcome:
    """The evaluator task (``runtime.evaluator: task``): evaluate every checkpoint the chief asks for, in order,
    until the chief's session ends (:mod:`odspec.runner.mailbox`). Writes only its answers and its log
    (``logs/eval-evaluator-N.log``); the chief keeps the metrics, the best checkpoint and early stopping."""
    model_dir, task = setup.model_dir, _task(setup)
    on_event(dataclasses.replace(_plan_event(setup, False, [], None), evaluates_only=True))
    lines: queue.Queue[str] = queue.Queue()
    (model_dir / LOGS).mkdir(exist_ok=True)
    log_path = model_dir / LOGS / f"eval-{task.kind}-{task.index}.log"
    work = mailbox.Evaluations(model_dir)
    ended = threading.Event()
    mailbox.beat(model_dir, ended)
    evaluator: Child | None = None
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        def from_eval(line: str) -> None:
            log.write(line + "\n")
            lines.put(line)

        try:  # temporary files in the system's folder, as a worker's: the chief cleans the model directory's
            evaluator = Child(launcher, launcher_argv(EvalServeOptions(setup.pipeline_config, model_dir, setup.seed)),
                              on_line=from_eval, stdin=True, name="evaluator", env=launcher_env(setup.seed))
            while not work.stopped:
                for path in work.requests():
                    evaluator.send(path)
                try:
                    line = lines.get(timeout=poll_seconds)
                except queue.Empty:
                    if evaluator.poll() is not None and lines.empty():
                        evaluator.wait()
                        if lines.empty():
                            raise evaluator.error() from None
                    continue
                for message in json_lines([line]):
                    if message.get("event") == "eval-start":
                        on_event(EvalStartEvent(checkpoint=Path(str(message["checkpoint"])).name,
                                                latency_seconds=None, queued_seconds=None))
                    work.answer(message)
        except KeyboardInterrupt:
            raise RunInterrupted(f"interrupted; {task.name} stopped evaluating (the chief waits for it)",
                                 "run the same command again: it answers what the chief still waits for") from None
        finally:
            ended.set()
            if evaluator is not None:
                evaluator.stop()
    return RunOutcome(model_dir, None, None, observe(model_dir).best, work.evaluated, [], None)


def _outcome(setup: RunSetup, live: _Live) -> RunOutcome:
    state = observe(setup.model_dir)
    trained = live.train_result.get("trained_to") if live.train_result else None
    if trained is None:
        trained = state.latest.step if state.latest else None
    step_seconds = live.train_result.get("step_seconds") if live.train_result else None
    return RunOutcome(setup.model_dir, trained, live.stopped_early, state.best, live.evaluations, live.latencies,
                      step_seconds)


def _leftovers(model_dir: Path, coordinator: Coordinator) -> list[tuple[str, int]]:
    """Checkpoints written but not evaluated by an earlier run (killed, or evaluating behind), by step; queued."""
    state = observe(model_dir)
    found: dict[int, str] = {}
    for name in best_files.pending_checkpoints(model_dir):
        step = _pending_step(model_dir, name)
        if step is not None:
            found[step] = name
    for checkpoint in state.checkpoints:
        if checkpoint.step is not None and checkpoint.step not in found:
            found[checkpoint.step] = checkpoint.name
    due = []
    for step in sorted(found):
        if coordinator.due(step):
            coordinator.queue(step)
            due.append((found[step], step))
    return due


def _pending_step(model_dir: Path, name: str) -> int | None:
    from odspec.errors import BundleFormatError
    from odspec.reconcile.bundle import read_int_variable

    try:
        return read_int_variable(model_dir / best_files.PENDING / name)
    except (OSError, BundleFormatError):
        return None


def _send(evaluator: Child | mailbox.RemoteEvaluator, live: _Live, name: str, model_dir: Path) -> None:
    """Protect checkpoint ``name`` from rotation and hand it to the evaluator."""
    pending = model_dir / best_files.PENDING / name
    if not Path(f"{pending}.index").is_file():
        pending = best_files.protect(model_dir, name)
    live.outstanding.append(name)
    evaluator.send(os.fspath(pending))


def _on_train(message: dict[str, Any], setup: RunSetup, coordinator: Coordinator, live: _Live,
              evaluator: Child | mailbox.RemoteEvaluator | None, trainer: Child | None, on_event: OnEvent) -> None:
    kind = message.get("event")
    if kind == "strategy":
        on_event(DevicesEvent(strategy=str(message["strategy"]), replicas=int(message["replicas"]),
                              devices=[str(d) for d in message.get("devices", [])], warning=message.get("warning")))
    elif kind == "step":
        step = int(message["step"])
        live.marks.append((step, time.monotonic()))
        rate, eta = eta_seconds(setup.num_steps - step, live.marks)
        on_event(StepEvent(step=step, num_steps=setup.num_steps, loss=message.get("Loss/total_loss"),
                           learning_rate=message.get("learning_rate"), steps_per_second=rate, eta_seconds=eta))
    elif kind == "checkpoint":
        step, name = int(message["step"]), str(message["checkpoint"])
        live.checkpoint_times[name] = float(message.get("time", time.time()))
        on_event(CheckpointEvent(step=step, checkpoint=name))
        if evaluator is not None and coordinator.due(step):
            coordinator.queue(step)
            _send(evaluator, live, name, setup.model_dir)
    elif "trained_to" in message:
        live.train_result = message
        live.train_done = True
        on_event(TrainFinishedEvent(trained_to=message["trained_to"], step_seconds=message.get("step_seconds"),
                                    trace_seconds=message.get("trace_seconds")))
    elif "error" in message and message.get("command") == "train":
        live.train_error = str(message["error"])
        live.train_done = True


def _on_eval(message: dict[str, Any], setup: RunSetup, coordinator: Coordinator, live: _Live,
             evaluator: Child | mailbox.RemoteEvaluator | None, trainer: Child | None, on_event: OnEvent,
             stop_when: StopWhen | None = None) -> None:
    kind = message.get("event")
    model_dir = setup.model_dir
    if live.stopped_early is not None and not live.outstanding:
        return  # stopped early, and the evaluator with it: what it said last is about checkpoints already released
    if kind == "eval-ready":
        live.evaluator_free_at = time.time()
    elif kind == "eval-start":
        name = Path(str(message["checkpoint"])).name
        written = live.checkpoint_times.get(name)
        latency = None if written is None else max(0.0, float(message["time"]) - written)
        free = live.evaluator_free_at
        # the part of the latency the checkpoint spent waiting for the evaluator (busy with the one before)
        queued = None if written is None else (0.0 if free is None else min(latency or 0.0, max(0.0, free - written)))
        live.evaluator_free_at = None
        if latency is not None:
            live.latencies.append(latency)
        on_event(EvalStartEvent(checkpoint=name, latency_seconds=latency, queued_seconds=queued))
    elif kind == "evaluated":
        live.evaluator_free_at = time.time()
        name, step = str(message["checkpoint"]), int(message["step"])
        metrics = {k: (math.nan if v is None else float(v)) for k, v in message["metrics"].items()}
        verdict = coordinator.evaluated(step, metrics)
        prefix = Path(str(message.get("path") or model_dir / best_files.PENDING / name))
        if verdict.improved:
            best_files.save_best(model_dir, prefix, _best_info(setup, name, verdict, message["metrics"]))
        append_metrics(model_dir, step, metrics, checkpoint=name)
        best_files.release(model_dir, name)
        live.outstanding = [o for o in live.outstanding if o != name]
        live.evaluations += 1
        evaluated = EvaluatedEvent(step=step, checkpoint=name, metric=setup.selection.metric, value=verdict.value,
                                   improved=verdict.improved, best_step=verdict.best_step,
                                   best_value=verdict.best_value, metrics=message["metrics"],
                                   seconds=message.get("seconds"))
        on_event(evaluated)
        asked = stop_when(evaluated) if stop_when is not None else None  # told every evaluation, stop or not
        stop = verdict.message if verdict.stop else asked
        if stop is not None:
            live.stopped_early = stop
            on_event(EarlyStopEvent(step=step, message=stop))
            if trainer is not None and not live.train_done:
                if _stops_by_agreement(setup):
                    trainer.send(STOP_LINE)  # every worker ends at the next iteration; its last line ends the loop
                    if isinstance(evaluator, mailbox.RemoteEvaluator):
                        evaluator.finish()  # it drops what is queued; released below
                    elif evaluator is not None:
                        evaluator.stop()  # what it evaluates now is released below
                else:
                    trainer.stop()
                    live.train_done = True
            for pending in live.outstanding:
                best_files.release(model_dir, Path(pending).name)
            live.outstanding.clear()
    elif kind == "eval-failed":
        raise OdspecError(f"evaluating {Path(str(message['checkpoint'])).name} failed: {message['error']}",
                          f"see {model_dir / LOGS / 'eval.log'}; run again to retry it")


def _best_info(setup: RunSetup, checkpoint: str, verdict: Verdict, metrics: dict[str, float | None]) -> Best:
    """``best/info.json`` for a checkpoint that improved: its evaluation and what it was trained from."""
    record = setup.record
    return Best(step=verdict.step, checkpoint=checkpoint, metric=setup.selection.metric, value=verdict.value,
                mode=setup.selection.mode, metrics=metrics, spec_sha256=setup.fingerprint,
                pipeline_config_sha256=record.pipeline_config_sha256, label_map_sha256=record.label_map_sha256,
                dataset_sha256=record.dataset_sha256, saved=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _check_children(trainer: Child | None, evaluator: Child | mailbox.RemoteEvaluator | None, live: _Live,
                    lines: queue.Queue[tuple[str, str]]) -> None:
    """A trainer that exited without its final line (killed, crashed) ends the run with its output's tail."""
    if trainer is not None and not live.train_done and trainer.poll() is not None:
        trainer.wait()  # its last lines are in the queue now
        if lines.empty():
            live.train_done = True
            live.train_error = str(trainer.error())


def _restart_evaluator(evaluator: Child | mailbox.RemoteEvaluator | None,
                       start: Callable[[], Child | mailbox.RemoteEvaluator], live: _Live,
                       lines: queue.Queue[tuple[str, str]], model_dir: Path,
                       on_event: OnEvent) -> Child | mailbox.RemoteEvaluator | None:
    """An evaluator that died with checkpoints to evaluate is started again, once; they are sent again, in order.

    A crash can be the machine's (memory, a signal), not the checkpoint's, so one more try is
    worth it; a second crash ends the run with the tail of the evaluator's output. An evaluator task that has
    gone silent ends the run at once: its cluster, not odspec, starts it again.
    """
    if evaluator is None or not live.outstanding or evaluator.poll() is None:
        return evaluator
    if isinstance(evaluator, mailbox.RemoteEvaluator):
        raise evaluator.error()
    evaluator.wait()
    if not lines.empty():
        return evaluator  # its last lines first: they may have evaluated some
    if live.evaluator_restarts >= 1:
        raise evaluator.error()
    evaluator.stop()  # anything left in its process group
    live.evaluator_restarts += 1
    live.evaluator_free_at = None
    code = evaluator.poll()
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    again = list(live.outstanding)
    message = f"the evaluator exited ({how}); restarted it, re-evaluating {', '.join(again)}"
    on_event(EvaluatorRestartedEvent(exit=how, checkpoints=again, message=message))
    restarted = start()
    live.outstanding.clear()
    for name in again:
        _send(restarted, live, name, model_dir)
    return restarted
