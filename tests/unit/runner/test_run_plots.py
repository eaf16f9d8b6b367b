"""``odspec report`` plots: series extraction, what each figure draws, deterministic PNG bytes, reading a model_dir."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure
from PIL import Image

from odspec.records.tfrecord import write_records
from odspec.runner import plots
from odspec.runner.events import Event
from odspec.runner.metrics import MetricsRow, append_metrics
from odspec.runner.plots import (
    LOSSES_PNG,
    METRICS_PNG,
    PNG_DPI,
    PNG_SIZE_INCHES,
    RunHistory,
    companion_metrics,
    load_history,
    loss_tags,
    render_losses_png,
    render_metrics_png,
    series,
    write_report,
)

MAP = "DetectionBoxes_Precision/mAP"
MAP50 = "DetectionBoxes_Precision/mAP@.50IOU"
AR100 = "DetectionBoxes_Recall/AR@100"
TOTAL = "Loss/total_loss"
NAN = math.nan
PNG_PIXELS = (round(PNG_SIZE_INCHES[0] * PNG_DPI), round(PNG_SIZE_INCHES[1] * PNG_DPI))


def row(step: int, **metrics: float) -> MetricsRow:
    names = {"map": MAP, "map50": MAP50, "ar100": AR100, "total": TOTAL}
    return MetricsRow(step=step, checkpoint=f"ckpt-{step // 100}", metrics={names[k]: v for k, v in metrics.items()})


def history(*, best_step: int | None = 300, stopped_step: int | None = 400, evals: list[MetricsRow] | None = None,
            train: dict[str, list[tuple[int, float]]] | None = None, metric: str = MAP) -> RunHistory:
    if train is None:
        train = {TOTAL: [(100, 2.0), (200, 1.5), (300, 1.0), (400, 0.9)],
                 "Loss/localization_loss": [(100, 0.75), (200, 0.5), (300, 0.25), (400, 0.25)],
                 "learning_rate": [(100, 0.01), (200, 0.01), (300, 0.005), (400, 0.005)]}
    if evals is None:
        evals = [row(200, map=0.25, map50=0.5, ar100=0.375, total=1.25), row(300, map=0.375, map50=0.625, total=1.0),
                 row(400, map=0.3125, map50=0.625, total=1.125)]
    return RunHistory(train=train, evals=evals, metric=metric, best_step=best_step, stopped_step=stopped_step)


def drawn(render: Callable[[RunHistory], bytes], run: RunHistory, monkeypatch: pytest.MonkeyPatch) -> Figure:
    """The figure ``render`` draws, to inspect its lines and texts rather than its pixels."""
    draws: list[Callable[[Any], None]] = []
    real = plots.render_figure
    monkeypatch.setattr(plots, "render_figure", lambda draw: draws.append(draw) or real(draw))
    render(run)
    figure = Figure()
    draws[0](figure)
    return figure


def texts(figure: Figure) -> list[str]:
    found = []
    for ax in figure.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.texts)]
        legend = ax.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()]
    return [text for text in found if text]


def line(ax: Any, label: str) -> tuple[list[float], list[float]]:
    [match] = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return list(match.get_xdata()), list(match.get_ydata())


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# --- series -------------------------------------------------------------------------------------------------------


def test_series_sorts_by_step_drops_non_finite_values_and_keeps_a_steps_later_value() -> None:
    run = history(train={TOTAL: [(300, 1.0), (100, NAN), (200, 1.5), (400, math.inf), (200, 1.25), (0, 3.0)]})
    assert series(run, TOTAL) == [(0, 3.0), (200, 1.25), (300, 1.0)]


def test_series_reads_the_evaluations_with_source_eval() -> None:
    run = history(evals=[row(400, map=0.5), row(200, map=0.25, total=1.0), row(300, map=NAN), row(500, total=0.5)])
    assert series(run, MAP, source="eval") == [(200, 0.25), (400, 0.5)]
    assert series(run, TOTAL, source="eval") == [(200, 1.0), (500, 0.5)]
    assert series(run, TOTAL) == [(100, 2.0), (200, 1.5), (300, 1.0), (400, 0.9)]


def test_series_of_an_unknown_tag_is_empty_and_an_unknown_source_is_an_error() -> None:
    assert series(history(), "Loss/missing") == []
    assert series(history(), "Loss/missing", source="eval") == []
    with pytest.raises(ValueError, match="source must be 'train' or 'eval', got 'test'"):
        series(history(), TOTAL, source="test")  # type: ignore[arg-type]


def test_loss_tags_are_the_finite_loss_tags_total_first() -> None:
    run = history(train={"Loss/b": [(1, 1.0)], TOTAL: [(1, 2.0)], "Loss/a": [(1, 1.0)], "Loss/nan": [(1, NAN)],
                         "learning_rate": [(1, 0.1)]})
    assert loss_tags(run) == [TOTAL, "Loss/a", "Loss/b"]


def test_companion_metrics_leave_out_the_selection_metric_and_metrics_never_finite() -> None:
    assert companion_metrics(history()) == [MAP50, AR100]
    assert companion_metrics(history(metric=MAP50)) == [MAP, AR100]
    assert companion_metrics(history(evals=[row(100, map=0.5, map50=NAN)])) == []


# --- what the figures draw ---------------------------------------------------------------------------------------


def test_losses_figure_draws_each_loss_tag_eval_total_loss_points_and_both_markers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    [ax] = drawn(render_losses_png, history(), monkeypatch).axes
    assert line(ax, "train total_loss") == ([100, 200, 300, 400], [2.0, 1.5, 1.0, 0.9])
    assert line(ax, "train localization_loss") == ([100, 200, 300, 400], [0.75, 0.5, 0.25, 0.25])
    assert line(ax, "eval total_loss") == ([200, 300, 400], [1.25, 1.0, 1.125])
    assert line(ax, "best (step 300)")[0] == [300, 300]
    assert line(ax, "early stop (step 400)")[0] == [400, 400]
    assert "train learning_rate" not in texts(ax.figure)


def test_metrics_figure_highlights_the_best_point_and_puts_other_metrics_below(
        monkeypatch: pytest.MonkeyPatch) -> None:
    top, below = drawn(render_metrics_png, history(), monkeypatch).axes
    assert top.get_title() == f"validation: {MAP}"
    assert line(top, MAP) == ([200, 300, 400], [0.25, 0.375, 0.3125])
    assert line(top, "best 0.375 at step 300") == ([300], [0.375])
    assert line(top, "early stop (step 400)")[0] == [400, 400]
    assert line(below, MAP50) == ([200, 300, 400], [0.5, 0.625, 0.625])
    assert line(below, AR100) == ([200], [0.375])
    assert [ln.get_xdata()[0] for ln in below.get_lines() if ln.get_linestyle() != "-"] == [300, 400]


def test_metrics_figure_without_evaluations_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    figure = drawn(render_metrics_png, history(evals=[], best_step=None, stopped_step=None), monkeypatch)
    assert len(figure.axes) == 1
    assert "no evaluations yet" in texts(figure)
    assert figure.axes[0].get_lines() == []


def test_metrics_figure_when_the_metric_is_never_finite_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    run = history(evals=[row(100, map=NAN), row(200, map=NAN)], best_step=None, stopped_step=None)
    assert f"no finite values of {MAP} in 2 evaluation(s)" in texts(drawn(render_metrics_png, run, monkeypatch))


def test_nan_values_are_left_out_of_lines_not_drawn_as_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    run = history(train={TOTAL: [(100, 2.0), (200, NAN), (300, 1.0)]},
                  evals=[row(100, map=0.25), row(200, map=NAN), row(300, map=0.5)])
    [losses] = drawn(render_losses_png, run, monkeypatch).axes
    [metrics] = drawn(render_metrics_png, run, monkeypatch).axes
    assert line(losses, "train total_loss") == ([100, 300], [2.0, 1.0])
    assert line(metrics, MAP) == ([100, 300], [0.25, 0.5])
    assert all(math.isfinite(y) for ax in (losses, metrics) for ln in ax.get_lines() for y in ln.get_ydata())


def test_a_single_evaluation_is_drawn_as_a_point_and_the_best(monkeypatch: pytest.MonkeyPatch) -> None:
    run = history(evals=[row(300, map=0.5)], best_step=300, stopped_step=None)
    [ax] = drawn(render_metrics_png, run, monkeypatch).axes
    assert line(ax, MAP) == ([300], [0.5])
    assert line(ax, "best 0.5 at step 300") == ([300], [0.5])
    assert "early stop" not in " ".join(texts(ax.figure))


def test_a_best_step_without_an_evaluation_gets_the_marker_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    [ax] = drawn(render_metrics_png, history(evals=[row(100, map=0.5)], best_step=300), monkeypatch).axes
    assert line(ax, "best (step 300)")[0] == [300, 300]
    assert not any(label.startswith("best 0") for label in texts(ax.figure))


def test_many_loss_tags_get_distinct_colours_and_a_two_column_legend(monkeypatch: pytest.MonkeyPatch) -> None:
    train = {f"Loss/part_{index:02}": [(100, float(index)), (200, index / 2)] for index in range(14)}
    [ax] = drawn(render_losses_png, history(train=train, evals=[]), monkeypatch).axes
    colours = [ln.get_color() for ln in ax.get_lines() if ln.get_label().startswith("train ")]
    assert len(colours) == 14
    assert len({tuple(colour) for colour in colours}) == 14
    assert ax.get_legend()._ncols == 2  # matplotlib has no public getter


def test_losses_figure_with_nothing_to_draw_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    figure = drawn(render_losses_png, history(train={}, evals=[], best_step=None, stopped_step=None), monkeypatch)
    assert "no losses yet: no Loss/* values in the train event files or the evaluations" in texts(figure)


# --- PNG bytes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_losses_png, render_metrics_png])
def test_png_decodes_at_the_fixed_size_without_a_software_tag(render: Callable[[RunHistory], bytes]) -> None:
    image = decoded(render(history()))
    assert image.format == "PNG"
    assert image.size == PNG_PIXELS
    assert "Software" not in image.info


@pytest.mark.parametrize("render", [render_losses_png, render_metrics_png])
def test_equal_histories_render_to_identical_bytes(render: Callable[[RunHistory], bytes]) -> None:
    assert render(history()) == render(history())


@pytest.mark.parametrize("render", [render_losses_png, render_metrics_png])
def test_best_and_stop_markers_change_the_picture(render: Callable[[RunHistory], bytes]) -> None:
    plain = decoded(render(history(best_step=None, stopped_step=None))).convert("RGB")
    marked = decoded(render(history())).convert("RGB")
    assert plain.tobytes() != marked.tobytes()


@pytest.mark.parametrize("render", [render_losses_png, render_metrics_png])
def test_empty_and_unsorted_histories_render(render: Callable[[RunHistory], bytes]) -> None:
    unsorted = history(train={TOTAL: [(300, 1.0), (100, 2.0), (200, 1.5)]},
                       evals=[row(300, map=0.5), row(100, map=0.25)])
    sorted_ = history(train={TOTAL: [(100, 2.0), (200, 1.5), (300, 1.0)]}, evals=[row(100, map=0.25), row(300, map=0.5)])
    assert render(unsorted) == render(sorted_)
    assert decoded(render(history(train={}, evals=[], best_step=None, stopped_step=None))).size == PNG_PIXELS


# --- reading a model_dir and writing the report -------------------------------------------------------------------


def write_train_events(folder: Path, name: str, scalars: list[tuple[int, str, float]]) -> None:
    """An event file as TF1 summaries write it (simple_value); the event tests cover TF2's tensor form."""
    records = [Event(wall_time=1700000000.0, file_version="brain.Event:2").SerializeToString()]
    for step, tag, value in scalars:
        event = Event(wall_time=1700000000.0 + step, step=step)
        event.summary.value.add(tag=tag, simple_value=value)
        records.append(event.SerializeToString())
    folder.mkdir(parents=True, exist_ok=True)
    write_records(folder / name, records, durable=False)


def test_load_history_reads_train_events_and_metrics_jsonl(tmp_path: Path) -> None:
    write_train_events(tmp_path / "train", "events.out.tfevents.1700000000.host.1.0.v2",
                       [(100, TOTAL, 2.0), (100, "learning_rate", 0.25), (200, TOTAL, 1.5)])
    write_train_events(tmp_path / "eval", "events.out.tfevents.1700000001.host.1.0.v2", [(200, MAP, 0.125)])
    append_metrics(tmp_path, 200, {MAP: 0.25, TOTAL: math.inf}, checkpoint="ckpt-3")
    append_metrics(tmp_path, 100, {MAP: 0.125}, checkpoint="ckpt-2")
    run = load_history(tmp_path, metric=MAP, best_step=200, stopped_step=None)
    assert run.train == {TOTAL: [(100, 2.0), (200, 1.5)], "learning_rate": [(100, 0.25)]}
    assert [(r.step, r.checkpoint, dict(r.metrics)) for r in run.evals[:1]] == [(100, "ckpt-2", {MAP: 0.125})]
    assert run.evals[1].step == 200
    assert math.isnan(run.evals[1].metrics[TOTAL])
    assert (run.metric, run.best_step, run.stopped_step) == (MAP, 200, None)
    assert series(run, MAP, source="eval") == [(100, 0.125), (200, 0.25)]
    assert series(run, TOTAL, source="eval") == []


def test_load_history_of_a_run_that_has_not_started_is_empty(tmp_path: Path) -> None:
    assert load_history(tmp_path / "missing", metric=MAP, best_step=None, stopped_step=None) == RunHistory(
        train={}, evals=[], metric=MAP, best_step=None, stopped_step=None)


def test_write_report_writes_both_pngs_and_replaces_old_ones(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / LOSSES_PNG).write_bytes(b"old")
    run = history()
    paths = write_report(run, out)
    assert paths == [out / LOSSES_PNG, out / METRICS_PNG]
    assert paths[0].read_bytes() == render_losses_png(run)
    assert paths[1].read_bytes() == render_metrics_png(run)
    assert sorted(path.name for path in out.iterdir()) == [LOSSES_PNG, METRICS_PNG]


def test_write_report_creates_the_folder(tmp_path: Path) -> None:
    paths = write_report(history(evals=[]), tmp_path / "runs" / "p" / "report")
    assert all(decoded(path.read_bytes()).size == PNG_PIXELS for path in paths)


def test_importing_plots_imports_neither_matplotlib_nor_tensorflow() -> None:
    code = ("import sys, odspec.runner.plots; "
            "print(sorted(m for m in ('matplotlib', 'tensorflow', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
