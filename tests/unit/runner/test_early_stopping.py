"""EarlyStopper: when a run stops, what it says, and that a resumed run decides the same."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from odspec.runner.early_stopping import Decision, EarlyStopper
from odspec.runner.metrics import MetricsRow, append_metrics, read_metrics

MAP = "DetectionBoxes_Precision/mAP"
LOSS = "Loss/total_loss"


def feed(stopper: EarlyStopper, values: list[float], every: int = 100) -> list[Decision]:
    return [stopper.update(every * (index + 1), value) for index, value in enumerate(values)]


def test_the_first_evaluation_is_always_an_improvement() -> None:
    for mode in ("max", "min"):
        stopper = EarlyStopper(MAP, mode, patience=1, min_delta=10.0)  # type: ignore[arg-type]
        assert stopper.update(100, -5.0) == Decision(improved=True, stop=False, best_step=100, best_value=-5.0,
                                                     evaluations_without_improvement=0)


def test_stops_after_patience_evaluations_without_improvement_with_the_documented_message() -> None:
    stopper = EarlyStopper(MAP, "max", patience=3, min_delta=0.005)
    decisions = feed(stopper, [0.5, 0.612, 0.6, 0.611, 0.616])
    assert [(d.improved, d.stop, d.evaluations_without_improvement) for d in decisions] == [
        (True, False, 0), (True, False, 0), (False, False, 1), (False, False, 2), (True, True, 3)]
    # 0.616 is the best (best/ holds it) but beat 0.612 by less than min_delta: the third in a row that did not
    assert decisions[-1] == Decision(improved=True, stop=True, best_step=500, best_value=0.616,
                                     evaluations_without_improvement=3)
    assert stopper.stopped
    assert stopper.stop_message() == (
        "stopped early at step 500: DetectionBoxes_Precision/mAP did not improve on 0.612 (step 200) by more than "
        "0.005 for 3 evaluations (best 0.616 at step 500); raise early_stopping.patience or lower "
        "early_stopping.min_delta to train longer")


def test_the_best_is_the_highest_value_even_when_it_gained_less_than_min_delta() -> None:
    stopper = EarlyStopper(MAP, "max", patience=5, min_delta=0.01)
    decisions = feed(stopper, [0.5, 0.505, 0.503, 0.508])
    assert [(d.improved, d.best_step, d.best_value) for d in decisions] == [
        (True, 100, 0.5), (True, 200, 0.505), (False, 200, 0.505), (True, 400, 0.508)]
    assert [d.evaluations_without_improvement for d in decisions] == [0, 1, 2, 3]


def test_small_gains_that_add_up_to_more_than_min_delta_reset_the_count() -> None:
    # the reference is the last value that beat its own reference by more than min_delta, not the moving best
    stopper = EarlyStopper(MAP, "max", patience=3, min_delta=0.125)
    decisions = feed(stopper, [0.25, 0.3125, 0.40625, 0.4375])
    assert [(d.improved, d.evaluations_without_improvement) for d in decisions] == [
        (True, 0), (True, 1), (True, 0), (True, 1)]
    assert not decisions[-1].stop


def test_a_min_mode_best_below_the_reference_by_less_than_min_delta() -> None:
    stopper = EarlyStopper(LOSS, "min", patience=2, min_delta=0.25)
    decisions = feed(stopper, [2.0, 1.875, 1.9375])
    assert [(d.improved, d.stop, d.best_step) for d in decisions] == [(True, False, 100), (True, False, 200),
                                                                      (False, True, 200)]
    assert stopper.stop_message() == (
        "stopped early at step 300: Loss/total_loss did not improve on 2 (step 100) by more than 0.25 for 2 "
        "evaluations (best 1.875 at step 200); raise early_stopping.patience or lower early_stopping.min_delta "
        "to train longer")


def test_an_improvement_resets_the_count() -> None:
    stopper = EarlyStopper(MAP, "max", patience=2)
    decisions = feed(stopper, [0.5, 0.4, 0.6, 0.6, 0.55])
    assert [(d.improved, d.stop, d.best_step) for d in decisions] == [
        (True, False, 100), (False, False, 100), (True, False, 300), (False, False, 300), (False, True, 300)]


# Dyadic numbers, so gains are exact in binary and the boundary is really the boundary.
@pytest.mark.parametrize(
    ("mode", "best", "value", "min_delta", "improved"),
    [
        ("max", 0.5, 0.625, 0.125, False),  # exactly min_delta: not "more than"
        ("max", 0.5, 0.625 + 2**-20, 0.125, True),
        ("max", 0.5, 0.5, 0.0, False),  # equal is no improvement, even with min_delta 0
        ("max", 0.5, 0.5 + 2**-30, 0.0, True),
        ("max", 0.5, 0.25, 0.0, False),
        ("min", 0.5, 0.375, 0.125, False),
        ("min", 0.5, 0.375 - 2**-20, 0.125, True),
        ("min", 0.5, 0.5, 0.0, False),
        ("min", 0.5, 0.75, 0.0, False),
    ],
)
def test_min_delta_boundaries(mode: str, best: float, value: float, min_delta: float, improved: bool) -> None:
    stopper = EarlyStopper(MAP, mode, patience=5, min_delta=min_delta)  # type: ignore[arg-type]
    stopper.update(100, best)
    decision = stopper.update(200, value)
    assert (decision.evaluations_without_improvement == 0) is improved
    better = value > best if mode == "max" else value < best
    assert decision.improved is better  # the new best whenever it is better at all
    assert decision.best_value == (value if better else best)


def test_mode_min_for_a_loss_and_its_message_without_min_delta() -> None:
    stopper = EarlyStopper(LOSS, "min", patience=2)
    decisions = feed(stopper, [1.5, 0.75, 0.8, 0.75])
    assert [(d.improved, d.stop) for d in decisions] == [(True, False), (True, False), (False, False), (False, True)]
    assert stopper.stop_message() == ("stopped early at step 400: Loss/total_loss did not improve for 2 evaluations "
                                      "(best 0.75 at step 200); raise early_stopping.patience to train longer")


def test_patience_one_stops_at_the_first_evaluation_without_improvement() -> None:
    stopper = EarlyStopper(MAP, "max", patience=1, min_delta=0.01)
    first, second = feed(stopper, [0.25, 0.255])
    assert (first.stop, second.improved, second.stop) == (False, True, True)
    assert stopper.stop_message() == (
        "stopped early at step 200: DetectionBoxes_Precision/mAP did not improve on 0.25 (step 100) by more than "
        "0.01 for 1 evaluation (best 0.255 at step 200); raise early_stopping.patience or lower "
        "early_stopping.min_delta to train longer")


def test_nan_never_counts_as_an_improvement() -> None:
    stopper = EarlyStopper(LOSS, "min", patience=2)
    first = stopper.update(100, math.nan)
    assert first == Decision(improved=False, stop=False, best_step=None, best_value=None,
                             evaluations_without_improvement=1)
    assert stopper.update(200, 3.0).improved
    assert not stopper.update(300, math.nan).improved
    last = stopper.update(400, -math.inf)  # as metrics.jsonl stores it: null, read back as NaN
    assert last == Decision(improved=False, stop=True, best_step=200, best_value=3.0, evaluations_without_improvement=2)


def test_a_run_that_never_gave_a_number_says_so() -> None:
    stopper = EarlyStopper(LOSS, "min", patience=2)
    feed(stopper, [math.nan, math.nan])
    assert stopper.stop_message() == ("stopped early at step 200: Loss/total_loss did not improve for 2 evaluations "
                                      "(no evaluation gave a finite value); raise early_stopping.patience to train "
                                      "longer")


def test_stop_message_before_a_stop_is_a_programming_error() -> None:
    stopper = EarlyStopper(MAP)
    stopper.update(100, 0.5)
    with pytest.raises(RuntimeError, match="has not decided to stop"):
        stopper.stop_message()


def test_steps_must_increase() -> None:
    stopper = EarlyStopper(MAP)
    stopper.update(200, 0.5)
    with pytest.raises(ValueError, match="evaluations must come in increasing step order: step 200 after step 200"):
        stopper.update(200, 0.6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "maximise"}, "mode must be 'max' or 'min', got 'maximise'"),
        ({"patience": 0}, "patience must be a positive number of evaluations, got 0"),
        ({"patience": 2.5}, "patience must be a positive number of evaluations, got 2.5"),
        ({"min_delta": -0.1}, "min_delta must be zero or more, got -0.1"),
        ({"min_delta": math.nan}, "min_delta must be zero or more, got nan"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EarlyStopper(MAP, **kwargs)  # type: ignore[arg-type]


SERIES = [0.004, 0.24, 0.58, math.nan, 0.575, 0.71, 0.705, 0.7, 0.714]  # stops at step 900


@pytest.mark.parametrize("restart_after", range(len(SERIES) + 1))
def test_resuming_from_history_decides_as_an_uninterrupted_run(tmp_path: Path, restart_after: int) -> None:
    settings = {"metric": MAP, "mode": "max", "patience": 3, "min_delta": 0.005}
    uninterrupted = EarlyStopper(**settings)  # type: ignore[arg-type]
    expected = feed(uninterrupted, SERIES)
    before = EarlyStopper(**settings)  # type: ignore[arg-type]
    for index, value in enumerate(SERIES[:restart_after]):
        step = 100 * (index + 1)
        before.update(step, value)
        append_metrics(tmp_path, step, {MAP: value, LOSS: 1.0}, checkpoint=f"ckpt-{index + 2}")
    resumed = EarlyStopper(**settings)  # type: ignore[arg-type]
    last = resumed.from_history(read_metrics(tmp_path))
    assert last == (expected[restart_after - 1] if restart_after else None)
    rest = [resumed.update(100 * (index + 1), value) for index, value in enumerate(SERIES) if index >= restart_after]
    assert rest == expected[restart_after:]
    assert [d.stop for d in expected] == [False] * 8 + [True]
    assert resumed.stop_message() == uninterrupted.stop_message() == (
        "stopped early at step 900: DetectionBoxes_Precision/mAP did not improve on 0.71 (step 600) by more than "
        "0.005 for 3 evaluations (best 0.714 at step 900); raise early_stopping.patience or lower "
        "early_stopping.min_delta to train longer")


def test_history_is_replayed_in_step_order_from_scratch_and_a_missing_metric_counts_as_nan() -> None:
    stopper = EarlyStopper(MAP, "max", patience=2)
    stopper.update(900, 0.99)  # forgotten: from_history starts over
    rows = [MetricsRow(300, "ckpt-4", {MAP: 0.5}), MetricsRow(100, "ckpt-2", {MAP: 0.25}),
            MetricsRow(200, "ckpt-3", {LOSS: 1.0})]
    assert stopper.from_history(rows) == Decision(improved=True, stop=False, best_step=300, best_value=0.5,
                                                  evaluations_without_improvement=0)
    assert EarlyStopper(MAP, "max", patience=1).from_history(rows[1:]) == Decision(
        improved=False, stop=True, best_step=100, best_value=0.25, evaluations_without_improvement=1)
