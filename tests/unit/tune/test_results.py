"""results.csv, the leaderboard and best.yaml, from trial records."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path

from odspec.spec.load import load_spec
from odspec.spec.models import Objective
from odspec.tune.results import TrialRecord, best_trial, best_yaml, leaderboard_markdown, ranked, results_csv
from tests.support import GOOD_SPEC

MAP = Objective(metric="DetectionBoxes_Precision/mAP", mode="max")
LOSS = Objective(metric="Loss/total_loss", mode="min")
PATHS = ["train.learning_rate.base", "train.augmentation"]


def record(number: int, state: str, value: float | None, lr: float = 0.01, flips: bool = False) -> TrialRecord:
    return TrialRecord(number=number, params={"train.learning_rate.base": lr,
                                              "train.augmentation": [{"random_horizontal_flip": {}}] if flips else []},
                       state=state, value=value, best_step=None if value is None else 100 * (number + 1),  # type: ignore[arg-type]
                       steps=None if state == "waiting" else 200, model_dir=f"runs/pets-tune/trial-{number}")


TRIALS = [dataclasses.replace(record(0, "complete", 0.31), baseline=True), record(1, "pruned", 0.05), record(2, "complete", 0.42, 0.0123456, True),
          record(3, "failed", None), record(4, "complete", math.nan), record(5, "complete", 0.31),
          record(6, "pruned", 0.2)]


def test_ranking_is_mode_aware_and_lists_pruned_then_failed_after() -> None:
    assert [r.number for r in ranked(TRIALS, MAP)] == [2, 0, 5, 4, 6, 1, 3]
    assert [r.number for r in ranked(TRIALS, LOSS)] == [0, 5, 2, 4, 1, 6, 3]
    best = best_trial(TRIALS, MAP)
    assert best is not None and best.number == 2
    assert best_trial([record(0, "pruned", 0.9), record(1, "complete", math.nan)], MAP) is None


def test_results_csv_has_a_row_per_trial_at_full_precision() -> None:
    rows = list(csv.reader(io.StringIO(results_csv(TRIALS, PATHS))))
    assert rows[0] == ["trial", "state", "value", "best_step", "steps", *PATHS, "model_dir", "baseline"]
    assert rows[1] == ["0", "complete", "0.31", "100", "200", "0.01", "[]", "runs/pets-tune/trial-0", "yes"]
    assert rows[3] == ["2", "complete", "0.42", "300", "200", "0.0123456", "[{random_horizontal_flip: {}}]",
                       "runs/pets-tune/trial-2", ""]
    assert rows[4] == ["3", "failed", "", "", "200", "0.01", "[]", "runs/pets-tune/trial-3", ""]
    assert rows[5][2] == ""  # NaN is no value
    assert [r[0] for r in rows[1:]] == [str(n) for n in range(7)]


def test_the_leaderboard_is_a_markdown_table_best_first() -> None:
    text = leaderboard_markdown(TRIALS, PATHS, MAP)
    lines = text.splitlines()
    assert lines[0] == "Objective: `DetectionBoxes_Precision/mAP` (max, higher is better)"
    assert lines[2] == ("| rank | trial | state | DetectionBoxes_Precision/mAP | best step | steps | "
                        "train.learning_rate.base | train.augmentation |")
    assert lines[3] == "|---:|---:|---|---:|---:|---:|---|---|"
    assert lines[4] == "| 1 | 2 | complete | 0.4200 | 300 | 200 | 0.01235 | [{random_horizontal_flip: {}}] |"
    assert lines[5] == "| 2 | 0 (baseline) | complete | 0.3100 | 100 | 200 | 0.01 | [] |"
    assert [line.split(" | ")[2] for line in lines[4:]] == ["complete"] * 4 + ["pruned"] * 2 + ["failed"]
    assert lines[7] == "| - | 4 | complete | - | 500 | 200 | 0.01 | [] |"
    assert lines[-1] == "| - | 3 | failed | - | - | 200 | 0.01 | [] |"


def test_a_pipe_in_a_cell_is_escaped() -> None:
    odd = TrialRecord(0, {"overrides": {"a": "x|y"}}, "complete", 1.0, 1, 1, "d")
    assert "{a: x\\|y}" in leaderboard_markdown([odd], ["overrides"], MAP)


def test_best_yaml_is_the_winning_spec_relative_to_the_tune_folder(tmp_path: Path) -> None:
    spec_path = tmp_path / "pets.yaml"
    text = GOOD_SPEC + "train:\n  learning_rate: {type: cosine, base: 0.04}\ntune:\n  space:\n    train.learning_rate.base: {low: 0.004, high: 0.08, log: true}\n"
    data = load_spec(spec_path, text).data
    best = TrialRecord(2, {"train.learning_rate.base": 0.02, "train.batch_size": 8}, "complete", 0.42, 300, 400, "d")
    written = best_yaml(data, best, MAP, spec_path, tmp_path / "runs" / "pets" / "tune")
    assert written.splitlines()[:2] == [
        "# The best trial of tuning pets.yaml: trial 2, DetectionBoxes_Precision/mAP 0.4200 at step 300.",
        "# Tuned: train.learning_rate.base = 0.02, train.batch_size = 8"]
    loaded = load_spec(tmp_path / "runs" / "pets" / "tune" / "best.yaml", written)
    assert loaded.spec.tune is None and loaded.spec.train.batch_size == 8
    assert loaded.spec.train.learning_rate is not None
    assert loaded.spec.train.learning_rate.model_dump() == {"type": "cosine", "base": 0.02, "warmup_rate": None,
                                                           "warmup_steps": None, "hold_base_steps": 0}
    assert loaded.spec.dataset.images == "../../../images"
