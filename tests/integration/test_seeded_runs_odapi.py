"""Two seeded runs of the bundled example through the real OD API train, and evaluate, exactly alike.

The runs share one build and differ only in their model directory. Random augmentation is switched on (the
example trains without) so that the preprocessor's random ops, which run inside tf.data's parallel map, are
covered too. Both runs execute with a private system temporary folder, which must stay free of the
``__autograph_generated_file*.py`` TensorFlow writes for every function it converts: the children write them in
their own folder in the model directory, removed when they end.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Ran, run, variant

from odspec.procs import json_lines
from odspec.runner.metrics import read_metrics
from odspec.runner.process import TEMP_PREFIX

pytestmark = pytest.mark.odapi

STEPS, EVERY = 40, 20
AUGMENTATION = [{"random_horizontal_flip": {}}, {"random_adjust_brightness": {}}, {"ssd_random_crop": {}}]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ran, Ran, Path]]:
    folder = tmp_path_factory.mktemp("seeded")
    system_temp = folder / "system-temp"
    system_temp.mkdir()
    spec = variant(folder, "seeded", {"train.steps": STEPS, "train.checkpoint_every": EVERY,
                                      "train.augmentation": AUGMENTATION, "eval.every": STEPS,
                                      "train.learning_rate.warmup_steps": 10, "early_stopping": None, "train.seed": 7})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(system_temp))
        patch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
        runs = [run(spec, folder / "runs" / name, export=False) for name in ("first", "second")]
    yield runs[0], runs[1], system_temp


def logged_steps(model_dir: Path) -> dict[int, dict[str, Any]]:
    """Each train iteration's losses and learning rate, as the launcher logged them (exact floats)."""
    lines = (model_dir / "logs" / "train.log").read_text(encoding="utf-8").splitlines()
    return {m["step"]: {k: v for k, v in m.items() if k.startswith("Loss/") or k == "learning_rate"}
            for m in json_lines(lines) if m.get("event") == "step"}


def checkpoint_tensors(prefix: Path) -> dict[str, Any]:  # TensorFlow in the test process: only to read checkpoints
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def differing(first: Path, second: Path, name: str) -> tuple[int, list[str]]:
    import numpy as np

    a, b = checkpoint_tensors(first / name), checkpoint_tensors(second / name)
    assert sorted(a) == sorted(b) and len(a) > (2 if name == "ckpt-1" else 100)  # ckpt-1: before the model is built
    return len(a), [k for k in a if not np.array_equal(a[k], b[k])]


def test_seeded_runs_are_bit_identical_to_the_end(two_runs: tuple[Ran, Ran, Path]) -> None:
    """Seeded initialisation, shuffling, random augmentation and training: the same losses at every logged step,
    every checkpoint tensor equal and the same metrics (on CPU, with one inter-op thread: runner/argv.launcher_env)."""
    first, second, _ = two_runs
    one = logged_steps(first.model_dir)
    assert sorted(one) == [EVERY, STEPS] and len(one[EVERY]) >= 5, one
    assert logged_steps(second.model_dir) == one
    for name in ("ckpt-1", "ckpt-2", "ckpt-3"):
        count, differ = differing(first.model_dir, second.model_dir, name)
        assert differ == [], f"{name}: {len(differ)} of {count} tensors differ, e.g. {differ[:5]}"
    assert ([(r.step, dict(r.metrics)) for r in read_metrics(second.model_dir)]
            == [(r.step, dict(r.metrics)) for r in read_metrics(first.model_dir)])


def test_evaluating_a_checkpoint_again_gives_the_same_metrics(two_runs: tuple[Ran, Ran, Path],
                                                              tmp_path: Path) -> None:
    from odspec.runner.argv import LAUNCHER_MODULE, EvalOptions, launcher_argv, launcher_env
    from odspec.runner.process import run_module

    first, _, _ = two_runs
    rows = read_metrics(first.model_dir)
    assert [r.step for r in rows] == [STEPS]
    config = first.model_dir.parent.parent / "build" / "shapes" / "pipeline.config"
    again = run_module(LAUNCHER_MODULE, launcher_argv(EvalOptions(config, first.model_dir, rows[0].checkpoint, seed=7)),
                       timeout=900, env=launcher_env(7), temp_parent=tmp_path)
    result = json_lines(again.lines)[-1]
    assert result["step"] == STEPS
    def finite(metrics: dict[str, Any]) -> dict[str, Any]:
        return {k: None if v is None or math.isnan(v) else v for k, v in metrics.items()}

    assert finite(result["metrics"]) == finite(dict(rows[0].metrics))


def test_the_children_leave_no_autograph_files_behind(two_runs: tuple[Ran, Ran, Path]) -> None:
    first, second, system_temp = two_runs
    assert list(system_temp.rglob("__autograph_generated_file*")) == []
    for ran in (first, second):
        assert list(ran.model_dir.glob(f"{TEMP_PREFIX}*")) == []
        assert list(ran.model_dir.rglob("__autograph_generated_file*")) == []
