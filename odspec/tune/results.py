"""A study's results as text: ``tune/results.csv``, the markdown leaderboard and ``tune/best.yaml``.

Pure string builders from :class:`TrialRecord` s; the caller writes each with :func:`odspec.io.atomic_write`.
Finished trials rank by the objective (mode aware, ties by trial number); pruned trials follow, ranked the
same way by the best value they reached; then failed and unfinished ones, by number.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from odspec.spec.errors_map import flow
from odspec.spec.models import Objective
from odspec.tune.resolve import trial_spec_text

TrialState = Literal["complete", "pruned", "failed", "running", "waiting"]
_STATE_ORDER = {"complete": 0, "pruned": 1, "failed": 2, "running": 3, "waiting": 4}
MISSING = "-"  # a value a trial does not have (a failed trial's metric), in the leaderboard


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the study loop saw it; ``params``: dotted spec path -> the value it trained with."""

    number: int
    params: Mapping[str, Any]
    state: TrialState
    value: float | None  # the best objective value of its evaluations (None: it has none, or not finite)
    best_step: int | None
    steps: int | None  # steps trained
    model_dir: str
    baseline: bool = False  # the trial of the spec's own values (tune.baseline)


def _trial_cell(record: TrialRecord) -> str:
    return f"{record.number} (baseline)" if record.baseline else str(record.number)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def ranked(records: Sequence[TrialRecord], objective: Objective) -> list[TrialRecord]:
    """Best first: complete trials by value, then pruned ones by value, then the rest by number."""
    sign = -1.0 if objective.mode == "max" else 1.0

    def key(record: TrialRecord) -> tuple[int, int, float, int]:
        value = _finite(record.value)
        ranks = record.state in ("complete", "pruned")
        return (_STATE_ORDER[record.state], 0 if ranks and value is not None else 1,
                sign * value if ranks and value is not None else 0.0, record.number)

    return sorted(records, key=key)


def best_trial(records: Sequence[TrialRecord], objective: Objective) -> TrialRecord | None:
    """The complete trial with the best value, None when no trial completed with one."""
    top = ranked(records, objective)
    return top[0] if top and top[0].state == "complete" and _finite(top[0].value) is not None else None


def results_csv(records: Sequence[TrialRecord], paths: Sequence[str]) -> str:
    """One row per trial in trial order; values at full precision (``repr``), choices as one-line YAML."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", "value", "best_step", "steps", *paths, "model_dir", "baseline"])
    for record in sorted(records, key=lambda r: r.number):
        value = _finite(record.value)
        writer.writerow([record.number, record.state, "" if value is None else repr(value),
                         _blank(record.best_step), _blank(record.steps),
                         *(_csv_param(record.params, p) for p in paths), record.model_dir,
                         "yes" if record.baseline else ""])
    return out.getvalue()


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def _csv_param(params: Mapping[str, Any], path: str) -> str:
    if path not in params:
        return ""
    value = params[path]
    return repr(value) if isinstance(value, float) else flow(value)


def leaderboard_markdown(records: Sequence[TrialRecord], paths: Sequence[str], objective: Objective) -> str:
    """A GitHub markdown table, best first, for a pull request: rank, trial, metric, steps, then each parameter."""
    arrow = "higher" if objective.mode == "max" else "lower"
    head = ["rank", "trial", "state", _cell(objective.metric), "best step", "steps", *(_cell(p) for p in paths)]
    lines = [f"Objective: `{objective.metric}` ({objective.mode}, {arrow} is better)", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---:"] * 2 + ["---"] + ["---:"] * 3
                                                          + ["---"] * len(paths)) + "|"]
    for rank, record in enumerate(ranked(records, objective), start=1):
        value = _finite(record.value)
        shown_rank = str(rank) if record.state == "complete" and value is not None else MISSING
        row = [shown_rank, _trial_cell(record), record.state,
               MISSING if value is None else f"{value:.4f}",
               MISSING if record.best_step is None else str(record.best_step),
               MISSING if record.steps is None else str(record.steps),
               *(_cell(_shown_param(record.params, p)) for p in paths)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _shown_param(params: Mapping[str, Any], path: str) -> str:
    if path not in params:
        return MISSING
    value = params[path]
    return f"{value:.4g}" if isinstance(value, float) else flow(value)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def best_yaml(data: Mapping[str, Any], best: TrialRecord, objective: Objective, spec_path: Path,
              tune_dir: Path) -> str:
    """``tune/best.yaml``: the spec with the best trial's values, its paths relative to ``tune_dir``."""
    value = _finite(best.value)
    shown = "no value" if value is None else f"{value:.4f}"
    header = (f"The best trial of tuning {spec_path.name}: trial {best.number}, {objective.metric} {shown}"
              f" at step {best.best_step}.\nTuned: "
              + ", ".join(f"{path} = {flow(v)}" for path, v in best.params.items()))
    return trial_spec_text(data, best.params, spec_path.absolute().parent, relative_to=tune_dir, header=header)


def table_text(records: Sequence[TrialRecord], paths: Sequence[str], objective: Objective) -> str:
    """The live table for a terminal: one row per trial in trial order, columns padded to their widest cell."""
    head = ["trial", "state", objective.metric, "best step", "steps", *paths]
    rows = [head]
    for record in sorted(records, key=lambda r: r.number):
        value = _finite(record.value)
        rows.append([_trial_cell(record), record.state, MISSING if value is None else f"{value:.4f}",
                     MISSING if record.best_step is None else str(record.best_step),
                     MISSING if record.steps is None else str(record.steps),
                     *(_shown_param(record.params, p) for p in paths)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows) + "\n"
