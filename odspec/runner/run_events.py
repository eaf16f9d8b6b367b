"""What ``odspec run`` tells its ``on_event`` callback: one frozen dataclass per kind of event.

Each class names its kind in the class variable ``event`` (``StepEvent.event == "step"``); mypy checks every
place that emits one (:mod:`odspec.runner.session`, :mod:`odspec.api`) and every place that reads one
(:mod:`odspec.runner.display`) against the same declaration. :func:`event_dict` gives an event's JSON form
(``--output json``): ``event`` first, then the fields. Every field is always set; a value that may be unknown
is ``None``.

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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from typing_extensions import Self  # typing's from 3.11

    from odspec.runner.exporting import ExportResult, Smoke


@dataclass(frozen=True, slots=True)
class BuiltEvent:
    event: ClassVar[str] = "built"
    build_dir: str
    findings: int  # how many dataset findings the build reported
    written: int  # files written (not unchanged)


@dataclass(frozen=True, slots=True)
class PlanEvent:
    event: ClassVar[str] = "plan"
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
    evaluates_only: bool = False  # the cluster's evaluator task: it trains nothing, the chief trains to to_step


@dataclass(frozen=True, slots=True)
class TrainStartedEvent:
    event: ClassVar[str] = "train-started"
    pid: int
    from_step: int


@dataclass(frozen=True, slots=True)
class DevicesEvent:
    event: ClassVar[str] = "devices"
    strategy: str  # odspec.distribute.StrategyKind
    replicas: int  # replicas in sync, as the strategy counts them
    devices: list[str]  # TensorFlow's names of this worker's devices; empty for the default strategy
    warning: str | None  # e.g. a GPU asked for and none visible


@dataclass(frozen=True, slots=True)
class StepEvent:
    event: ClassVar[str] = "step"
    step: int
    num_steps: int
    loss: float | None
    learning_rate: float | None
    steps_per_second: float | None  # None until enough steps are seen (the first one traces the graph)
    eta_seconds: float | None


@dataclass(frozen=True, slots=True)
class CheckpointEvent:
    event: ClassVar[str] = "checkpoint"
    step: int
    checkpoint: str  # ckpt-N


@dataclass(frozen=True, slots=True)
class TrainFinishedEvent:
    event: ClassVar[str] = "train-finished"
    trained_to: int
    step_seconds: float | None
    trace_seconds: float | None


@dataclass(frozen=True, slots=True)
class EvalStartEvent:
    event: ClassVar[str] = "eval-start"
    checkpoint: str
    latency_seconds: float | None  # from the checkpoint written to its evaluation begun
    queued_seconds: float | None  # the part of it spent waiting for the evaluation before


@dataclass(frozen=True, slots=True)
class EvaluatedEvent:
    event: ClassVar[str] = "evaluated"
    step: int
    checkpoint: str
    metric: str  # the one checkpoints are compared by
    value: float  # of that metric; NaN when the evaluation did not report it
    improved: bool  # this checkpoint is the new best
    best_step: int | None
    best_value: float | None
    metrics: dict[str, float | None]  # as the evaluator reported them (None: not a number)
    seconds: float | None


@dataclass(frozen=True, slots=True)
class EarlyStopEvent:
    event: ClassVar[str] = "early-stop"
    step: int
    message: str | None  # names the setting to change to train longer


@dataclass(frozen=True, slots=True)
class EvaluatorRestartedEvent:
    event: ClassVar[str] = "evaluator-restarted"
    exit: str  # "exit code N" or "signal N"
    checkpoints: list[str]  # evaluated again, in order
    message: str


@dataclass(frozen=True, slots=True)
class ExportStartEvent:
    event: ClassVar[str] = "export-start"
    step: int


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export is shown by (``odspec export`` prints it too; it is no event)."""

    output: str
    step: int | None
    tflite: str | None
    smoke: Smoke | None

    @classmethod
    def of(cls, result: ExportResult) -> Self:
        """The summary (or the ``exported`` event) of an export."""
        return cls(str(result.output), result.step, str(result.tflite) if result.tflite else None, result.smoke)


@dataclass(frozen=True, slots=True)
class ExportedEvent(ExportSummary):
    event: ClassVar[str] = "exported"


RunEvent = (
    BuiltEvent | PlanEvent | TrainStartedEvent | DevicesEvent | StepEvent | CheckpointEvent | TrainFinishedEvent
    | EvalStartEvent | EvaluatedEvent | EarlyStopEvent | EvaluatorRestartedEvent | ExportStartEvent | ExportedEvent
)
OnEvent = Callable[[RunEvent], None]


def event_dict(event: RunEvent) -> dict[str, object]:
    """The event as ``--output json`` prints it: ``event`` first, then its fields as declared (a smoke test's as a
    dict too)."""
    return {"event": event.event, **asdict(event)}
