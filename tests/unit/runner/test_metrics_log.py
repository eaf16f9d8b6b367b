"""metrics.jsonl: one durable line per evaluated checkpoint, read back by step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typing_extensions import Self

from odspec.errors import OdspecError
from odspec.runner import metrics as metrics_module
from odspec.runner.metrics import METRICS_FILE, MetricsRow, append_metrics, read_metrics

MAP = "DetectionBoxes_Precision/mAP"


def test_one_line_per_evaluation_with_keys_sorted(tmp_path: Path) -> None:
    append_metrics(tmp_path, 300, {MAP: 0.5, "Loss/total_loss": 0.25}, checkpoint="ckpt-4")
    append_metrics(tmp_path, 600, {"Loss/total_loss": 0.125, MAP: 0.75}, checkpoint="ckpt-7")
    assert (tmp_path / METRICS_FILE).read_text() == (
        '{"checkpoint": "ckpt-4", "metrics": {"DetectionBoxes_Precision/mAP": 0.5, "Loss/total_loss": 0.25}, '
        '"step": 300}\n'
        '{"checkpoint": "ckpt-7", "metrics": {"DetectionBoxes_Precision/mAP": 0.75, "Loss/total_loss": 0.125}, '
        '"step": 600}\n'
    )
    assert read_metrics(tmp_path) == [
        MetricsRow(step=300, checkpoint="ckpt-4", metrics={MAP: 0.5, "Loss/total_loss": 0.25}),
        MetricsRow(step=600, checkpoint="ckpt-7", metrics={MAP: 0.75, "Loss/total_loss": 0.125}),
    ]


def test_append_returns_the_row_as_it_reads_back_and_creates_the_model_dir(tmp_path: Path) -> None:
    row = append_metrics(tmp_path / "runs" / "p", 100, {MAP: 0.25}, checkpoint="ckpt-2")
    assert row == MetricsRow(step=100, checkpoint="ckpt-2", metrics={MAP: 0.25})
    assert read_metrics(tmp_path / "runs" / "p") == [row]


def test_rows_come_back_by_step_and_a_later_line_wins_for_the_same_step(tmp_path: Path) -> None:
    append_metrics(tmp_path, 600, {MAP: 0.75}, checkpoint="ckpt-7")
    append_metrics(tmp_path, 300, {MAP: 0.5}, checkpoint="ckpt-4")
    append_metrics(tmp_path, 600, {MAP: 0.625}, checkpoint="ckpt-7")  # re-evaluated after a restart
    assert [(row.step, row.metrics[MAP]) for row in read_metrics(tmp_path)] == [(300, 0.5), (600, 0.625)]


def test_no_file_means_no_evaluations(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == []
    assert read_metrics(tmp_path / "missing") == []


def test_non_finite_values_are_written_as_null_and_read_as_nan(tmp_path: Path) -> None:
    row = append_metrics(tmp_path, 100, {"Loss/total_loss": math.inf, "x": math.nan, MAP: -1.0}, checkpoint="ckpt-2")
    assert '"Loss/total_loss": null' in (tmp_path / METRICS_FILE).read_text()
    (read,) = read_metrics(tmp_path)
    for got in (row, read):
        assert math.isnan(got.metrics["Loss/total_loss"]) and math.isnan(got.metrics["x"])
        assert got.metrics[MAP] == -1.0


def test_numpy_scalars_are_accepted(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    append_metrics(tmp_path, 100, {MAP: np.float32(0.5)}, checkpoint="ckpt-2")
    assert read_metrics(tmp_path)[0].metrics == {MAP: 0.5}


def test_a_half_line_from_a_crash_is_ignored_then_cut_off_by_the_next_append(tmp_path: Path) -> None:
    append_metrics(tmp_path, 300, {MAP: 0.5}, checkpoint="ckpt-4")
    path = tmp_path / METRICS_FILE
    whole = path.read_text()
    with path.open("a") as handle:
        handle.write('{"checkpoint": "ckpt-7", "metrics": {"Detect')
    assert read_metrics(tmp_path) == [MetricsRow(300, "ckpt-4", {MAP: 0.5})]
    append_metrics(tmp_path, 600, {MAP: 0.75}, checkpoint="ckpt-7")
    assert path.read_text() == whole + '{"checkpoint": "ckpt-7", "metrics": {"DetectionBoxes_Precision/mAP": 0.75}, "step": 600}\n'
    assert [row.step for row in read_metrics(tmp_path)] == [300, 600]


def test_a_complete_last_line_without_its_newline_does_not_count_yet(tmp_path: Path) -> None:
    # A line counts once its newline is on disk; reading and appending agree on that.
    path = tmp_path / METRICS_FILE
    path.write_text('{"checkpoint": "ckpt-4", "metrics": {}, "step": 300}')
    assert read_metrics(tmp_path) == []
    append_metrics(tmp_path, 600, {}, checkpoint="ckpt-7")
    assert read_metrics(tmp_path) == [MetricsRow(600, "ckpt-7", {})]


def test_each_line_is_one_write_followed_by_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_open = open

    class Recording:
        def __init__(self, handle: object) -> None:
            self._handle = handle

        def __getattr__(self, name: str) -> object:
            return getattr(self._handle, name)

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            calls.append(f"write {bytes(data)!r}")
            return self._handle.write(data)  # type: ignore[attr-defined,no-any-return]

    monkeypatch.setattr(metrics_module, "open", lambda *a, **k: Recording(real_open(*a, **k)), raising=False)
    monkeypatch.setattr(metrics_module.os, "fsync", lambda fd: calls.append("fsync"))
    append_metrics(tmp_path, 100, {"a": 1.0}, checkpoint="ckpt-2")
    assert calls == ["write b'{\"checkpoint\": \"ckpt-2\", \"metrics\": {\"a\": 1.0}, \"step\": 100}\\n'", "fsync"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ('{"step": 1, "checkpoint": "c"}', 'expected an object with the keys "checkpoint", "metrics" and "step"'),
        ('{"step": -1, "checkpoint": "c", "metrics": {}}', '"step" must be a non-negative integer, got -1'),
        ('{"step": 1.5, "checkpoint": "c", "metrics": {}}', '"step" must be a non-negative integer, got 1.5'),
        ('{"step": 1, "checkpoint": 4, "metrics": {}}', '"checkpoint" must be a string, got 4'),
        ('{"step": 1, "checkpoint": "c", "metrics": {"a": "0.5"}}',
         "\"metrics\" must map names to numbers or null, got {'a': '0.5'}"),
    ],
)
def test_a_damaged_line_before_the_last_is_an_error_with_its_line_number(tmp_path: Path, line: str,
                                                                         problem: str) -> None:
    append_metrics(tmp_path, 100, {}, checkpoint="ckpt-2")
    path = tmp_path / METRICS_FILE
    with path.open("a") as handle:
        handle.write(line + "\n\n")
    append_metrics(tmp_path, 200, {}, checkpoint="ckpt-3")
    with pytest.raises(OdspecError) as caught:
        read_metrics(tmp_path)
    assert str(caught.value) == (f"{path}:2: not a metrics row: {problem} "
                                 "(the file was edited or damaged; fix or delete that line)")


@pytest.mark.parametrize(
    ("step", "checkpoint", "message"),
    [
        (-1, "ckpt-1", "step must be a non-negative integer, got -1"),
        (True, "ckpt-1", "step must be a non-negative integer, got True"),
    ],
)
def test_invalid_appends_are_refused_before_writing(tmp_path: Path, step: object, checkpoint: object,
                                                    message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        append_metrics(tmp_path, step, {}, checkpoint=checkpoint)  # type: ignore[arg-type]
    assert not (tmp_path / METRICS_FILE).exists()


def test_a_checkpoint_path_instead_of_its_name_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="checkpoint must be a checkpoint prefix name such as 'ckpt-4', got "):
        append_metrics(tmp_path, 1, {}, checkpoint=Path("ckpt-1"))  # type: ignore[arg-type]
