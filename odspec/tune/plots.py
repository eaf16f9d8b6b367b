"""A study's plots as PNG: the optimisation history, the parameters' importances, the top trials' curves.

Pure renderers (records and numbers in, bytes out) drawn with :func:`odspec.runner.plots.render_figure`, so equal
studies give identical files; the importances are computed by the caller (Optuna's fANOVA, in the loop).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from odspec.runner.plots import render_figure
from odspec.spec.models import Objective
from odspec.tune.results import TrialRecord, ranked

HISTORY_PNG, IMPORTANCES_PNG, CURVES_PNG = "history.png", "importances.png", "curves.png"
TOP_CURVES = 5  # trials whose metric curves are drawn
STATE_COLOURS = {"complete": "tab:blue", "pruned": "tab:orange", "failed": "tab:red"}


def render_history_png(records: Sequence[TrialRecord], objective: Objective) -> bytes:
    """Each trial's best value by trial number (pruned ones marked), and the best so far of the complete ones."""
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        ordered = sorted(records, key=lambda r: r.number)
        for state, colour in STATE_COLOURS.items():
            points = [(r.number, r.value) for r in ordered if r.state == state and _finite(r.value)]
            if points:
                ax.scatter([n for n, _ in points], [v for _, v in points], color=colour, label=state, zorder=3)
        best: float | None = None
        line: list[tuple[int, float]] = []
        for record in ordered:
            if record.state == "complete" and _finite(record.value):
                assert record.value is not None
                better = best is None or (record.value > best if objective.mode == "max" else record.value < best)
                best = record.value if better else best
            if best is not None:
                line.append((record.number, best))
        if line:
            ax.step([n for n, _ in line], [v for _, v in line], where="post", color="tab:green", label="best so far")
        if not line and not any(_finite(r.value) for r in ordered):
            _say(ax, "no trial has a value yet")
        _label(ax, "trial", objective, f"Optimisation history ({objective.mode})")

    return render_figure(draw)


def render_importances_png(importances: Mapping[str, float] | None, reason: str | None = None) -> bytes:
    """A horizontal bar per tuned field, most important on top; ``reason`` is drawn when there are none."""
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        if not importances:
            _say(ax, reason or "no importances")
            ax.set_axis_off()
            return
        items = sorted(importances.items(), key=lambda kv: kv[1])
        ax.barh([name for name, _ in items], [value for _, value in items], color="tab:blue")
        ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
        ax.set_title("Parameter importances")

    return render_figure(draw)


def render_curves_png(records: Sequence[TrialRecord], curves: Mapping[int, Sequence[tuple[int, float]]],
                      objective: Objective) -> bytes:
    """The objective at each evaluation of the top :data:`TOP_CURVES` trials (by rank), pruned ones dashed."""
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        top = [r for r in ranked(records, objective) if curves.get(r.number)][:TOP_CURVES]
        for record in top:
            points = [(x, y) for x, y in curves[record.number] if math.isfinite(y)]
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o",
                    linestyle="--" if record.state == "pruned" else "-",
                    label=f"trial {record.number} ({record.state})")
        if not top:
            _say(ax, "no trial has been evaluated yet")
        _label(ax, "evaluation", objective, f"Top trials' {objective.metric} per evaluation")

    return render_figure(draw)


def _say(ax: Any, text: str) -> None:
    """Why a figure has nothing to draw, in its middle."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", color="grey")


def _label(ax: Any, x: str, objective: Objective, title: str) -> None:
    """Axis labels and title; the legend, when there is one, where the better values are not."""
    ax.set_xlabel(x)
    ax.set_ylabel(objective.metric)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="lower right" if objective.mode == "max" else "upper right")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
