"""Checkpoint -> evaluation-start latency, and the part of it spent queued behind the previous evaluation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from odspec.runner.run_events import RunEvent, event_dict
from odspec.runner.session import _Live, _on_eval


def start(live: _Live, name: str, at: float) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def collect(event: RunEvent) -> None:
        seen.append(event_dict(event))

    _on_eval({"event": "eval-start", "checkpoint": name, "time": at}, SimpleNamespace(model_dir=Path("m")),  # type: ignore[arg-type]
             None, live, None, None, collect)
    return seen[0]


def test_an_idle_evaluator_starts_with_no_queue() -> None:
    live = _Live(checkpoint_times={"ckpt-2": 100.0}, evaluator_free_at=90.0)
    event = start(live, "ckpt-2", 101.5)
    assert event["latency_seconds"] == 1.5 and event["queued_seconds"] == 0.0


def test_time_behind_a_busy_evaluator_is_counted_as_queued() -> None:
    live = _Live(checkpoint_times={"ckpt-3": 200.0}, evaluator_free_at=240.0)  # the previous evaluation ended at 240
    event = start(live, "ckpt-3", 241.0)
    assert event["latency_seconds"] == 41.0 and event["queued_seconds"] == 40.0
    assert live.evaluator_free_at is None  # busy again until it reports


def test_a_checkpoint_odspec_did_not_see_written_has_no_latency() -> None:
    event = start(_Live(), "ckpt-9", 5.0)
    assert event["latency_seconds"] is None and event["queued_seconds"] is None
