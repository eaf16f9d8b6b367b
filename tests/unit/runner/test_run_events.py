"""The run's events: frozen dataclasses whose JSON form (``--output json``) is the dict it was before."""

from __future__ import annotations

import dataclasses
import json
import math
import typing

import pytest

from odspec.runner.exporting import Smoke
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

MAP = "DetectionBoxes_Precision/mAP"
SMOKE = Smoke(image="val: a.jpg", ground_truth=1, detections=2, top_score=0.9, best_iou=0.75, class_agrees=True,
              truth_class="circle", found_class="circle", min_score=0.05, verdict="found")
EVENTS: list[RunEvent] = [
    BuiltEvent(build_dir="/b", findings=1, written=3),
    PlanEvent(action="resume", model_dir="/m", from_step=100, to_step=300, changed=["train.steps"],
              warnings=["versions differ"], train=True, evaluate=["ckpt-3"], stopped_early=None, tensorboard="/m",
              metric=MAP, strategy="the default strategy on the CPU (batch 4)", task=None),
    TrainStartedEvent(pid=42, from_step=100),
    DevicesEvent(strategy="default", replicas=1, devices=[], warning=None),
    StepEvent(step=200, num_steps=300, loss=0.5, learning_rate=None, steps_per_second=2.5, eta_seconds=40.0),
    CheckpointEvent(step=200, checkpoint="ckpt-3"),
    TrainFinishedEvent(trained_to=300, step_seconds=0.25, trace_seconds=None),
    EvalStartEvent(checkpoint="ckpt-3", latency_seconds=1.5, queued_seconds=0.0),
    EvaluatedEvent(step=200, checkpoint="ckpt-3", metric=MAP, value=0.41, improved=True, best_step=200,
                   best_value=0.41, metrics={MAP: 0.41, "Loss/total_loss": None}, seconds=3.25),
    EarlyStopEvent(step=300, message="stopped early at step 300: raise early_stopping.patience"),
    EvaluatorRestartedEvent(exit="signal 9", checkpoints=["ckpt-3"], message="the evaluator exited (signal 9)"),
    ExportStartEvent(step=200),
    ExportedEvent(output="/m/export", step=200, tflite=None, smoke=SMOKE),
]


def test_every_kind_of_event_is_here_once() -> None:
    assert [type(e) for e in EVENTS] == list(typing.get_args(RunEvent))
    assert len({e.event for e in EVENTS}) == len(EVENTS)
    assert StepEvent.event == "step" and ExportedEvent.event == "exported"


@pytest.mark.parametrize("event", [*EVENTS, ExportSummary("/m/export", 200, None, None)], ids=lambda e: type(e).__name__)
def test_events_are_frozen(event: RunEvent | ExportSummary) -> None:
    first = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, first, None)
    assert "event" not in {f.name for f in dataclasses.fields(event)}  # a class variable, not a field


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_the_json_form_names_the_event_first_then_the_fields_and_round_trips(event: RunEvent) -> None:
    shown = event_dict(event)
    assert list(shown) == ["event", *(f.name for f in dataclasses.fields(event))]
    assert shown["event"] == event.event
    assert json.loads(json.dumps(shown)) == shown


def test_the_export_summary_and_the_exported_event_carry_the_same_fields() -> None:
    assert [f.name for f in dataclasses.fields(ExportedEvent)] == [f.name for f in dataclasses.fields(ExportSummary)]
    assert event_dict(EVENTS[-1])["smoke"] == dataclasses.asdict(SMOKE)


@pytest.mark.parametrize(("event", "line"), [
    (EVENTS[4], '{"eta_seconds": 40.0, "event": "step", "learning_rate": null, "loss": 0.5, "num_steps": 300, '
                '"step": 200, "steps_per_second": 2.5}'),
    (EvaluatedEvent(step=100, checkpoint="ckpt-2", metric=MAP, value=math.nan, improved=False, best_step=None,
                    best_value=None, metrics={MAP: None, "Loss/total_loss": 1.5}, seconds=3.25),
     '{"best_step": null, "best_value": null, "checkpoint": "ckpt-2", "event": "evaluated", "improved": false, '
     '"metric": "DetectionBoxes_Precision/mAP", "metrics": {"DetectionBoxes_Precision/mAP": null, '
     '"Loss/total_loss": 1.5}, "seconds": 3.25, "step": 100, "value": NaN}'),
    (ExportedEvent(output="/m/export", step=300, tflite=None, smoke=SMOKE),
     '{"event": "exported", "output": "/m/export", "smoke": {"best_iou": 0.75, "class_agrees": true, "detections": 2, '
     '"found_class": "circle", "ground_truth": 1, "image": "val: a.jpg", "min_score": 0.05, "top_score": 0.9, '
     '"truth_class": "circle", "verdict": "found"}, "step": 300, "tflite": null}'),
], ids=["step", "evaluated", "exported"])
def test_the_cli_prints_each_event_as_the_json_line_it_printed_before(
        event: RunEvent, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    from odspec import cli

    cli._display("json")(event)
    assert capsys.readouterr().out == line + "\n"  # the lines the dict events gave, byte for byte
