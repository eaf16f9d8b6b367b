"""One short real training run that must learn: the check every supported stack runs (marker ``learns``).

The default stack's full suite also trains the 500-step bundled example (test_run_odapi.py); this run is the
smaller proof that CI repeats on the TF 2.15 stack and on Python 3.13: odspec builds the example data, the OD API
trains SSD MobileNet V2 FPNLite 320 from scratch for 300 steps, every checkpoint is evaluated, and the best is
exported as a SavedModel that finds a validation image's ground truth.
"""

from __future__ import annotations

import pytest
from support import MAP, Ran, run, variant

from odspec.runner.metrics import read_metrics

pytestmark = [pytest.mark.odapi, pytest.mark.learns]


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    folder = tmp_path_factory.mktemp("learns")
    spec = variant(folder, "short", {"train.steps": 300, "early_stopping": None, "export.tflite": False})
    return run(spec, folder / "runs")


def test_a_short_run_learns(short: Ran) -> None:
    rows = read_metrics(short.model_dir)
    assert [r.step for r in rows] == [100, 200, 300]
    first, best = rows[0].metrics[MAP], max(r.metrics[MAP] for r in rows)
    # Unseeded, from scratch on the example's 42 training images: chance is ~0.001; 300 steps reach 0.2-0.7.
    assert best > 0.1 and best > first + 0.05, [(r.step, r.metrics[MAP]) for r in rows]
    assert short.result.outcome.trained_to == 300


def test_the_exported_best_detects_the_ground_truth(short: Ran) -> None:
    exported = short.result.export
    assert exported is not None and (exported.saved_model / "saved_model.pb").is_file()
    assert exported.smoke is not None and exported.smoke.detections > 0
    assert exported.smoke.best_iou is not None and exported.smoke.best_iou > 0.3, exported.smoke
