"""Two seeded runs of the bundled example through the real OD API train, and evaluate, exactly alike.

The runs share one build and differ only in their model directory, and run at the same time, so each meets the
other's load (which is how runs beside other work used to differ: ``compat._seed_sum_order``). Random augmentation
is switched on (the example trains without) so that the preprocessor's random ops, which run inside tf.data's
parallel map, are covered too. Both runs execute with a private system temporary folder, which must stay free of the
``__autograph_generated_file*.py`` TensorFlow writes for every function it converts: the children write them in
their own folder in the model directory, removed when they end.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import REPO, Ran, run, variant

from odspec import api
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
        api.build(spec)  # once, so that both runs find it built
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(lambda name: run(spec, folder / "runs" / name, export=False), ("first", "second")))
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


SUM_ORDER_CHECK = """
import json, sys
from odspec.odapi import compat
compat.apply()
if sys.argv[1] == "seeded":
    compat.apply_seeded()
import tensorflow as tf

@tf.function
def step(x, a, b, c, i, j, k):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(x * a) + tf.reduce_sum(x * b) + tf.reduce_sum(x * c)  # x used three times
    return tape.gradient(loss, x), tf.add_n([a, b, c]), tf.add_n([a, b]), tf.add_n([i, j, k])

spec = [tf.TensorSpec([3], tf.float32)] * 4 + [tf.TensorSpec([3], tf.int32)] * 3
graph = step.get_concrete_function(*spec).graph
def arity(fn_graph):
    for op in fn_graph.get_operations():
        if op.type == "AddN":
            yield [op.inputs[0].dtype.name, len(op.inputs)]
counts = sorted(arity(graph))
floats = [1.0, 2.0, 3.0], [1e-8, 0.5, 3.25], [7.0, -2.0, 1e8], [0.125, 1e-3, 2.0]  # x, a, b, c
ints = [1, 2, 3], [4, 5, 6], [7, 8, 9]
values = [t.numpy().tolist() for t in step(*(tf.constant(v) for v in floats), *(tf.constant(v) for v in ints))]
print(json.dumps({"addn": counts, "values": values}))
"""


@pytest.mark.parametrize("mode", ["seeded", "unseeded"])
def test_seeded_runs_sum_three_or_more_floats_in_one_order(mode: str) -> None:
    """Seeded: no float ``AddN`` of three or more inputs is left, neither the OD API's own ``add_n`` nor the
    gradient tape's (a tensor used three times); the sums are the same numbers. Unseeded: the OD API's behaviour."""
    done = subprocess.run([sys.executable, "-c", SUM_ORDER_CHECK, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    wide_float = [entry for entry in found["addn"] if entry[0] == "float32" and entry[1] >= 3]
    assert ["float32", 2] in found["addn"] and ["int32", 3] in found["addn"]  # left as they are
    assert (wide_float == []) if mode == "seeded" else (len(wide_float) == 2), found["addn"]
    grad, three, two, ints = found["values"]
    a, b, c = [1e-8, 0.5, 3.25], [7.0, -2.0, 1e8], [0.125, 1e-3, 2.0]
    sum_of_three = [x + y + z for x, y, z in zip(a, b, c, strict=True)]
    assert grad == pytest.approx(sum_of_three, rel=1e-7) and three == pytest.approx(sum_of_three, rel=1e-7)
    assert two == pytest.approx([x + y for x, y in zip(a, b, strict=True)], rel=1e-7) and ints == [12, 15, 18]
