"""What ``odspec run`` tells its ``on_event`` callback, one shape per ``event`` value.

The events are plain dicts at run time (the CLI prints them as JSON with ``--output json``,
tests collect them in a list), so they are declared as :class:`typing.TypedDict` s: mypy
checks every place that emits one (:mod:`odspec.runner.session`, :mod:`odspec.api`) and
every place that reads one (:mod:`odspec.runner.display`) against the same declaration.
Every key is always present; a value that may be unknown is ``None``.

======================== =============================== ===============================================
event                    emitted by                      when
======================== =============================== ===============================================
``built``                :func:`odspec.api.run`          the build is up to date (before training)
``plan``                 ``session.execute``             reconciled: what this run will do
``train-started``        ``session.execute``             the train child is running
``devices``              ``session._on_train``           the trainer built its strategy: the devices it trains on
``step``                 ``session._on_train``           the trainer logged a step (loss, rate, ETA)
``checkpoint``           ``session._on_train``           the trainer wrote a checkpoint
``train-finished``       ``session._on_train``           the trainer reached ``num_steps``
``eval-start``           ``session._on_eval``            the evaluator began a checkpoint
``evaluated``            ``session._on_eval``            a checkpoint's metrics, and the best so far
``early-stop``           ``session._on_eval``            patience ran out; training is stopped
``evaluator-restarted``  ``session._restart_evaluator``  the evaluator died and was started again
``export-start``         :func:`odspec.api.run`          exporting the best checkpoint begins
``exported``             :func:`odspec.api.run`          the export and its smoke test are done
======================== =============================== ===============================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict


class BuiltEvent(TypedDict):
    event: Literal["built"]
    build_dir: str
    findings: int  # how many dataset findings the build reported
    written: int  # files written (not unchanged)


class PlanEvent(TypedDict):
    event: Literal["plan"]
    action: Literal["start", "resume"]
    model_dir: str
    from_step: int
    to_step: int
    changed: list[str]  # spec fields changed since the checkpoints, safe to resume with
    warnings: list[str]
    train: bool  # whether a train child starts
    evaluate: list[str]  # checkpoints an earlier run left unevaluated
    stopped_early: str | None  # why there is nothing to train, when early stopping said so before
    tensorboard: str  # the folder to point TensorBoard at
    metric: str
    strategy: str  # how training is spread: odspec.distribute.Distribution.describe
    task: str | None  # in a cluster: which task this is, and what it does (odspec.distribute.ClusterTask.role)


class TrainStartedEvent(TypedDict):
    event: Literal["train-started"]
    pid: int
    from_step: int


class DevicesEvent(TypedDict):
    event: Literal["devices"]
    strategy: str  # odspec.distribute.StrategyKind
    replicas: int  # replicas in sync, as the strategy counts them
    devices: list[str]  # TensorFlow's names of this worker's devices; empty for the default strategy
    warning: str | None  # e.g. a GPU asked for and none visible


class StepEvent(TypedDict):
    event: Literal["step"]
    step: int
    num_steps: int
    loss: float | None
    learning_rate: float | None
    steps_per_second: float | None  # None until enough steps are seen (the first one traces the graph)
    eta_seconds: float | None


class CheckpointEvent(TypedDict):
    event: Literal["checkpoint"]
    step: int
    checkpoint: str  # ckpt-N


class TrainFinishedEvent(TypedDict):
    event: Literal["train-finished"]
    trained_to: int
    step_seconds: float | None
    trace_seconds: float | None


class EvalStartEvent(TypedDict):
    event: Literal["eval-start"]
    checkpoint: str
    latency_seconds: float | None  # from the checkpoint written to its evaluation begun
    queued_seconds: float | None  # the part of it spent waiting for the evaluation before


class EvaluatedEvent(TypedDict):
    event: Literal["evaluated"]
    step: int
    checkpoint: str
    metric: str  # the one checkpoints are compared by
    value: float  # of that metric; NaN when the evaluation did not report it
    improved: bool  # this checkpoint is the new best
    best_step: int | None
    best_value: float | None
    metrics: dict[str, float | None]  # as the evaluator reported them (None: not a number)
    seconds: float | None


class EarlyStopEvent(TypedDict):
    event: Literal["early-stop"]
    step: int
    message: str | None  # names the setting to change to train longer


class EvaluatorRestartedEvent(TypedDict):
    event: Literal["evaluator-restarted"]
    exit: str  # "exit code N" or "signal N"
    checkpoints: list[str]  # evaluated again, in order
    message: str


class ExportStartEvent(TypedDict):
    event: Literal["export-start"]
    step: int


class ExportSummary(TypedDict):
    """What an export is shown by (``odspec export`` prints it too, without an ``event``)."""

    output: str
    step: int | None
    tflite: str | None
    smoke: dict[str, Any] | None  # the fields of odspec.runner.exporting.Smoke


class ExportedEvent(ExportSummary):
    event: Literal["exported"]


RunEvent = (
    BuiltEvent | PlanEvent | TrainStartedEvent | DevicesEvent | StepEvent | CheckpointEvent | TrainFinishedEvent
    | EvalStartEvent | EvaluatedEvent | EarlyStopEvent | EvaluatorRestartedEvent | ExportStartEvent | ExportedEvent
)
OnEvent = Callable[[RunEvent], None]
