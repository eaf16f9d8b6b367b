"""When to stop training, and which evaluation is the best.

The best is the highest (``max``) or lowest (``min``) finite value seen: ``best/`` always holds the best
checkpoint. Training stops after ``patience`` evaluations in a row that did not beat the *reference* by more
than ``min_delta``; the reference is the value of the last evaluation that did (as in Keras' EarlyStopping).
So with ``min_delta`` a run that creeps up by less than ``min_delta`` per evaluation still moves ``best/`` to
each better checkpoint, and still stops; with ``min_delta`` 0 the reference is the best.

Pure and small (after Ultralytics' EarlyStopping): the runner feeds it each
evaluation and acts on the :class:`Decision`. A resumed run replays
``metrics.jsonl`` through :meth:`EarlyStopper.from_history`, which runs the same
``update`` as a live run, so a restart cannot change when training stops.
A value that is not finite (NaN from a diverged run, or a metric missing from a
row) never counts as an improvement; ``metrics.jsonl`` stores both as null, so
treating them alike keeps live and resumed runs in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from odspec.runner.metrics import MetricsRow

Mode = Literal["max", "min"]


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation: ``improved`` means it is the new best (save it to ``best/``).

    ``evaluations_without_improvement`` counts the evaluations since one beat the reference by more than
    ``min_delta``; an evaluation can be the new best and still count.
    """

    improved: bool
    stop: bool
    best_step: int | None
    best_value: float | None
    evaluations_without_improvement: int


class EarlyStopper:
    """Tracks the best value of ``metric``; ``mode`` says whether higher (``max``) or lower (``min``) is better."""

    def __init__(self, metric: str, mode: Mode = "max", patience: int = 3, min_delta: float = 0.0) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive number of evaluations, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be zero or more, got {min_delta!r}")
        self.metric, self.mode, self.patience, self.min_delta = metric, mode, patience, float(min_delta)
        self._reset()

    def _reset(self) -> None:
        self.best_step: int | None = None
        self.best_value: float | None = None
        self.reference_step: int | None = None
        self.reference_value: float | None = None
        self.evaluations_without_improvement = 0
        self.last_step: int | None = None

    @property
    def stopped(self) -> bool:
        return self.evaluations_without_improvement >= self.patience

    def update(self, step: int, value: float) -> Decision:
        """Record the evaluation at ``step`` (steps must increase) and decide."""
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"evaluations must come in increasing step order: step {step} after step {self.last_step}")
        self.last_step = step
        improved = self._beats(value, self.best_value, 0.0)
        if improved:
            self.best_step, self.best_value = step, value
        if self._beats(value, self.reference_value, self.min_delta):
            self.reference_step, self.reference_value, self.evaluations_without_improvement = step, value, 0
        else:
            self.evaluations_without_improvement += 1
        return Decision(improved, self.stopped, self.best_step, self.best_value, self.evaluations_without_improvement)

    def _beats(self, value: float, than: float | None, by: float) -> bool:
        """Whether ``value`` is finite and better than ``than`` (None: nothing yet) by more than ``by``."""
        if not math.isfinite(value):
            return False
        if than is None:
            return True
        gain = value - than if self.mode == "max" else than - value
        return gain > by

    def from_history(self, rows: Iterable[MetricsRow]) -> Decision | None:
        """Forget any state, replay recorded evaluations in step order; the last decision, None if there were none."""
        self._reset()
        decision = None
        for row in sorted(rows, key=lambda row: row.step):
            decision = self.update(row.step, row.metrics.get(self.metric, math.nan))
        return decision

    def stop_message(self) -> str:
        """Why training stopped, naming the settings that would let it go on."""
        if not self.stopped:
            raise RuntimeError("stop_message() explains a stop, and this stopper has not decided to stop")
        count = self.evaluations_without_improvement
        by = ""
        if self.min_delta > 0:
            since = "" if self.reference_step == self.best_step else \
                f" on {self.reference_value:g} (step {self.reference_step})"
            by = f"{since} by more than {self.min_delta:g}"
        if self.best_value is None:
            best = "no evaluation gave a finite value"
        else:
            best = f"best {self.best_value:g} at step {self.best_step}"
        settings = "early_stopping.patience" + (" or lower early_stopping.min_delta" if self.min_delta > 0 else "")
        return (f"stopped early at step {self.last_step}: {self.metric} did not improve{by} for {count} "
                f"evaluation{'' if count == 1 else 's'} ({best}); raise {settings} to train longer")
