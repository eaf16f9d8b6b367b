"""PNG plots of a run for ``odspec report``: training losses and validation metrics over steps.

Reading (:func:`load_history`) is separate from drawing, and drawing returns
bytes, so everything but :func:`write_report` is free of side effects. The best
checkpoint and the early stop come from the caller (the early stopper's replay
of ``metrics.jsonl``); this module only marks them. Non-finite values are left
out of every line instead of drawn as gaps, so one diverged evaluation does not
cut a curve in two or stretch an axis to infinity.

matplotlib is imported inside the renderers only, as in
:func:`odspec.datasets.report.render_png`: the default style (not the user's
matplotlibrc), the Agg canvas, a fixed size and no "Software" tag keep the bytes
identical for equal input.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from odspec.io import atomic_write
from odspec.runner.events import read_scalars
from odspec.runner.metrics import MetricsRow, read_metrics

LOSSES_PNG = "losses.png"
METRICS_PNG = "metrics.png"
TRAIN_FOLDER = "train"
PNG_SIZE_INCHES = (10.0, 6.0)
PNG_DPI = 100
LOSS_PREFIX = "Loss/"
TOTAL_LOSS = "Loss/total_loss"
# Drawn under the selection metric when present: the numbers people compare detectors by.
COMPANION_METRICS = (
    "DetectionBoxes_Precision/mAP",
    "DetectionBoxes_Precision/mAP@.50IOU",
    "DetectionBoxes_Precision/mAP@.75IOU",
    "DetectionBoxes_Recall/AR@100",
    "PascalBoxes_Precision/mAP@0.5IOU",
)
METRIC_COLOUR = "tab:blue"
BEST_COLOUR = "tab:green"
STOP_COLOUR = "tab:red"

Points = list[tuple[int, float]]


@dataclass(frozen=True)
class RunHistory:
    """What the plots show: ``train`` is tag -> (step, value) from the train event files, ``evals`` the
    rows of ``metrics.jsonl``; ``metric`` is the selection metric and the steps come from early stopping."""

    train: Mapping[str, Sequence[tuple[int, float]]]
    evals: Sequence[MetricsRow]
    metric: str
    best_step: int | None
    stopped_step: int | None


def load_history(model_dir: Path, *, metric: str, best_step: int | None, stopped_step: int | None) -> RunHistory:
    """Read ``model_dir/train/`` event files and ``model_dir/metrics.jsonl``; missing ones read as empty."""
    model_dir = Path(model_dir)
    return RunHistory(train=read_scalars(model_dir / TRAIN_FOLDER), evals=read_metrics(model_dir), metric=metric,
                      best_step=best_step, stopped_step=stopped_step)


def series(history: RunHistory, tag: str, *, source: Literal["train", "eval"] = "train") -> Points:
    """``tag``'s finite values by step, from the train events or (``source="eval"``) the evaluations.

    A step given twice keeps its later value, as :func:`read_scalars` and
    :func:`read_metrics` do.
    """
    if source == "train":
        pairs: Iterable[tuple[int, float]] = history.train.get(tag, ())
    elif source == "eval":
        pairs = ((row.step, row.metrics[tag]) for row in history.evals if tag in row.metrics)
    else:
        raise ValueError(f"source must be 'train' or 'eval', got {source!r}")
    by_step = {int(step): float(value) for step, value in pairs}
    return [(step, value) for step, value in sorted(by_step.items()) if math.isfinite(value)]


def loss_tags(history: RunHistory) -> list[str]:
    """The train ``Loss/*`` tags with at least one finite value, total loss first, then by name."""
    tags = sorted(tag for tag in history.train if tag.startswith(LOSS_PREFIX) and series(history, tag))
    return sorted(tags, key=lambda tag: tag != TOTAL_LOSS)


def companion_metrics(history: RunHistory) -> list[str]:
    """The :data:`COMPANION_METRICS` other than the selection metric that have a finite value."""
    return [name for name in COMPANION_METRICS
            if name != history.metric and series(history, name, source="eval")]


def render_losses_png(history: RunHistory) -> bytes:
    """Each train ``Loss/*`` tag over steps, the evaluations' total loss as points, best and stop marked."""

    def draw(figure: Any) -> None:
        ax = figure.subplots()
        tags = loss_tags(history)
        colours = _colours(len(tags))
        for tag, colour in zip(tags, colours, strict=True):
            total = tag == TOTAL_LOSS
            ax.plot(*_columns(series(history, tag)), label=f"train {tag.removeprefix(LOSS_PREFIX)}",
                    linewidth=2.0 if total else 1.0, color="black" if total else colour, zorder=3 if total else 2)
        evals = series(history, TOTAL_LOSS, source="eval")
        if evals:
            ax.plot(*_columns(evals), "o", color="black", markerfacecolor="white", label="eval total_loss", zorder=4)
        if not tags and not evals:
            _say(ax, "no losses yet: no Loss/* values in the train event files or the evaluations")
        ax.set_title("losses")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        _mark_steps([ax], history)
        _legend(ax, "upper right")

    return render_figure(draw)


def render_metrics_png(history: RunHistory) -> bytes:
    """The selection metric over steps with its best point, other COCO metrics below it, the stop marked."""

    def draw(figure: Any) -> None:
        companions = companion_metrics(history)
        rows = 2 if companions else 1
        axes = list(figure.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=[3, 2][:rows])[:, 0])
        _plot_selection_metric(axes[0], history)
        for name, colour in zip(companions, _colours(len(companions)), strict=True):
            axes[1].plot(*_columns(series(history, name, source="eval")), marker=".", color=colour, label=name)
        if companions:
            axes[1].set_ylabel("other metrics")
        axes[-1].set_xlabel("step")
        _mark_steps(axes, history)
        for ax in axes:
            _legend(ax, "lower right")

    return render_figure(draw)


def _plot_selection_metric(ax: Any, history: RunHistory) -> None:
    ax.set_title(f"validation: {history.metric}")
    ax.set_ylabel(history.metric)
    points = series(history, history.metric, source="eval")
    if not history.evals:
        _say(ax, "no evaluations yet")
    elif not points:
        _say(ax, f"no finite values of {history.metric} in {len(history.evals)} evaluation(s)")
    else:
        ax.plot(*_columns(points), marker="o", linewidth=2.0, color=METRIC_COLOUR, label=history.metric)
    best = dict(points).get(history.best_step) if history.best_step is not None else None
    if best is not None:
        ax.plot([history.best_step], [best], "*", markersize=16, color=BEST_COLOUR, zorder=5,
                label=f"best {best:.4g} at step {history.best_step}")


def _mark_steps(axes: Iterable[Any], history: RunHistory) -> None:
    """Vertical lines at the best checkpoint and the early stop, labelled once (on the first axes)."""
    marks = [(history.best_step, BEST_COLOUR, "--", "best"), (history.stopped_step, STOP_COLOUR, ":", "early stop")]
    for index, ax in enumerate(axes):
        for step, colour, style, name in marks:
            if step is not None:
                label = f"{name} (step {step})" if index == 0 else None
                ax.axvline(step, color=colour, linestyle=style, linewidth=1.5, label=label, zorder=1)


def render_figure(draw: Callable[[Any], None]) -> bytes:
    """PNG bytes of a figure ``draw`` fills: the default style, Agg, a fixed size, no "Software" tag."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=PNG_SIZE_INCHES, dpi=PNG_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return out.getvalue()


def _columns(points: Points) -> tuple[list[int], list[float]]:
    return [step for step, _ in points], [value for _, value in points]


def _say(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")


def _colours(count: int) -> list[Any]:
    """Colours for ``count`` lines, leaving out the greens and reds of the best and stop markers:
    tab10 while it lasts, tab20 beyond (matplotlib's default cycle repeats after ten)."""
    from matplotlib import colormaps

    name, markers = ("tab10", {2, 3}) if count <= 10 - 2 else ("tab20", {4, 5, 6, 7})
    palette = colormaps[name]
    usable = [palette(index) for index in range(palette.N) if index not in markers]
    return [usable[index % len(usable)] for index in range(count)]


def _legend(ax: Any, loc: str) -> None:
    """A legend when something is labelled (matplotlib warns on an empty one); two columns when long.

    A fixed corner, not "best": placing by data is slow for long runs.
    """
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize="small", ncols=2 if len(handles) > 8 else 1, loc=loc)


def write_report(history: RunHistory, out_dir: Path) -> list[Path]:
    """Render both plots, then write ``losses.png`` and ``metrics.png`` into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    rendered = {LOSSES_PNG: render_losses_png(history), METRICS_PNG: render_metrics_png(history)}
    paths = []
    for name, data in rendered.items():
        atomic_write(out_dir / name, data)
        paths.append(out_dir / name)
    return paths
