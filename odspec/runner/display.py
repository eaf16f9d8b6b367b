"""How ``odspec run`` shows its events: a live status line on a terminal, plain lines in logs, or JSON.

Pure formatting: :class:`RunDisplay` turns the session's events (:mod:`odspec.runner.run_events`) into text and
hands it to ``write``; whether a line is rewritten in place (``\\r``) depends on
``live``. Nothing here decides anything about the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from odspec.runner.run_events import (
    BuiltEvent,
    CheckpointEvent,
    DevicesEvent,
    EarlyStopEvent,
    EvalStartEvent,
    EvaluatedEvent,
    EvaluatorRestartedEvent,
    ExportedEvent,
    ExportStartEvent,
    ExportSummary,
    PlanEvent,
    RunEvent,
    StepEvent,
    TrainFinishedEvent,
    TrainStartedEvent,
    event_dict,
)

Mode = Literal["live", "plain", "json"]
_CLASS_AGREES: dict[bool | None, str] = {True: " (class right)", False: " (class wrong)"}


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


@dataclass
class RunDisplay:
    write: Callable[[str, bool], None]  # (text, transient): a transient line is replaced by the next one
    mode: Mode = "plain"
    metric: str = "mAP"
    last_value: float | None = None
    best: tuple[int, float] | None = None
    shown_status: bool = False
    _fields: dict[str, Any] = field(default_factory=dict)

    def __call__(self, event: RunEvent) -> None:
        if self.mode == "json":
            self.write(json.dumps(event_dict(event), sort_keys=True, default=str), False)
            return
        if isinstance(event, StepEvent):
            self.write(self.status_line(event), self.mode == "live")
            return
        text = self.describe(event)
        if text is not None:
            self.write(text, False)

    def status_line(self, event: StepEvent) -> str:
        parts = [f"step {event.step}/{event.num_steps}", f"loss {number(event.loss)}"]
        rate = event.steps_per_second
        if rate:
            parts += [f"{rate:.2f} steps/s", f"ETA {duration(event.eta_seconds)}"]
        if self.last_value is not None:
            parts.append(f"last {self._short()} {number(self.last_value)}")
        if self.best is not None:
            parts.append(f"best {number(self.best[1])} @ {self.best[0]}")
        return "  ".join(parts)

    def _short(self) -> str:
        return self.metric.rsplit("/", 1)[-1]

    def describe(self, event: RunEvent) -> str | None:
        match event:
            case PlanEvent():
                return self.describe_plan(event)
            case BuiltEvent():
                findings = event.findings
                seen = f", {findings} dataset finding{'s' if findings != 1 else ''}: see report.json there" \
                    if findings else ""
                return f"build: {event.build_dir} ({event.written} files written{seen})"
            case TrainStartedEvent():
                return f"training (child pid {event.pid}); the first steps wait for graph tracing"
            case CheckpointEvent():
                return None if event.step == 0 else f"checkpoint {event.checkpoint} at step {event.step}"
            case EvalStartEvent():
                latency, queued = event.latency_seconds, event.queued_seconds
                waited = f", {queued:.1f} s of it behind the previous evaluation" if queued and queued >= 1 else ""
                after = f" ({latency:.1f} s after it was written{waited})" if latency is not None else ""
                return f"evaluating {event.checkpoint}{after}"
            case EvaluatedEvent():
                self.metric = event.metric
                self.last_value = event.value
                if event.best_step is not None and event.best_value is not None:
                    self.best = (event.best_step, event.best_value)
                mark = "  new best" if event.improved else ""
                return f"step {event.step}: {event.metric} = {number(event.value)}{mark}"
            case EarlyStopEvent():
                return str(event.message)
            case EvaluatorRestartedEvent():
                return f"warning: {event.message}"
            case DevicesEvent():
                found = f"training on {', '.join(event.devices)}" if event.devices else ""
                warning = f"warning: {event.warning}" if event.warning else ""
                return "\n".join(line for line in (found, warning) if line) or None
            case TrainFinishedEvent():
                per_step = event.step_seconds
                return f"trained to step {event.trained_to}" + (f" ({per_step:.3f} s/step)" if per_step else "")
            case ExportStartEvent():
                return f"exporting the best checkpoint (step {event.step})"
            case ExportedEvent():
                return export_summary(event)
        return None  # a step: the status line shows it

    def describe_plan(self, event: PlanEvent) -> str:
        self.metric = event.metric
        lines = [f"model directory: {event.model_dir}  (TensorBoard: tensorboard --logdir {event.tensorboard})"]
        if event.evaluates_only:
            lines.append(f"evaluating the chief's checkpoints as it trains to step {event.to_step}")
        elif event.stopped_early:
            lines.append(f"nothing to train: {event.stopped_early}")
        elif not event.train:
            lines.append(f"nothing to train: step {event.from_step} of {event.to_step} is done")
        elif event.action == "resume":
            lines.append(f"resuming at step {event.from_step} of {event.to_step}")
        else:
            lines.append(f"training from scratch to step {event.to_step}")
        if event.train and event.strategy:
            lines.append(f"strategy: {event.strategy}")
        if event.task:
            lines.append(f"cluster task: {event.task}")
        if event.changed:
            lines.append(f"changed since the last run (safe to resume): {', '.join(event.changed)}")
        lines += [f"warning: {w}" for w in event.warnings]
        if event.evaluate:
            lines.append(f"evaluating checkpoints left from before: {', '.join(event.evaluate)}")
        return "\n".join(lines)


def export_summary(summary: ExportSummary) -> str:
    lines = [f"exported step {summary.step} to {summary.output}"]
    if summary.tflite:
        lines.append(f"TFLite: {summary.tflite}")
    smoke = summary.smoke
    if smoke is not None:
        from odspec.runner.verdict import warning_text

        lines.append(f"smoke test on {smoke.image}: {smoke.detections} detections, top score "
                     f"{number(smoke.top_score, 3)}, best IoU with ground truth {number(smoke.best_iou, 3)}"
                     + _CLASS_AGREES.get(smoke.class_agrees, ""))
        warning = warning_text(asdict(smoke))
        if warning:
            lines.append(warning)
    return "\n".join(lines)
