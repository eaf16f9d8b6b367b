"""``odspec tune`` end to end through the real OD API: a study on the bundled example, killed and resumed, and two
processes sharing one study on a real PostgreSQL server.

The study's trials are tiny (60 steps, a checkpoint and an evaluation every 30). Its pruning is certain by its
settings: the first trial is the spec's own learning rate (0.04, ``tune.baseline``), the other choice is 0.001,
which in 30 steps from the same seeded start learns next to nothing, and the median pruner prunes from the
first evaluation once one trial has finished (``startup_trials: 1, warmup_evaluations: 0``): every 0.001 trial
is behind the baseline at its first evaluation, so it is pruned there. The objective is the evaluation's total
loss (min), which differs between the two from the first evaluation on (mAP is 0 for both that early).

The PostgreSQL server is the one ``.ci/run`` starts (``scripts/postgres.sh run``, which sets
``ODSPEC_TEST_POSTGRES_URL``); run alone, the test starts one with the same script.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import REPO, variant

from odspec import api
from odspec.runner.metrics import read_metrics

pytestmark = pytest.mark.odapi

LOSS = "Loss/total_loss"
STARTED = re.compile(r"^trial (\d+): .* in (/\S+)$")  # odspec tune's line as a trial starts
GOOD, SLOW = 0.04, 0.001
TINY = {"train.steps": 60, "train.checkpoint_every": 30, "early_stopping": None, "train.seed": 0,
        "train.learning_rate": {"type": "cosine", "base": GOOD, "warmup_rate": 0.0001, "warmup_steps": 10}}
TUNE = {"space": {"train.learning_rate.base": {"choices": [GOOD, SLOW]}},
        "objective": {"metric": LOSS, "mode": "min"}, "trials": 4, "sampler": "random",
        "pruner": {"type": "median", "startup_trials": 1, "warmup_evaluations": 0}}


def start_tune(spec: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "odspec.cli", "tune", str(spec), "--output", "json", *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=spec.parent)


def finish(tune: subprocess.Popen[str], timeout: float = 1500) -> list[str]:
    out, _ = tune.communicate(timeout=timeout)
    lines = out.splitlines()
    assert tune.returncode == 0, "\n".join(lines[-40:])
    return lines


def trial_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("trial ", "trials "))]


def launchers_under(folder: Path) -> list[int]:
    """The OD API children (launchers) whose command line names a folder under ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"odspec.runner.launcher" in cmdline and str(folder).encode() in cmdline:
                found.append(int(proc.name))
    return found


def no_launcher_left(folder: Path) -> None:
    deadline = time.monotonic() + 30
    while launchers_under(folder):
        assert time.monotonic() < deadline, "a trial's launcher outlived odspec tune"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``odspec tune`` SIGKILLed once its second trial has written its first checkpoint, then run again."""
    folder = tmp_path_factory.mktemp("tune")
    spec = variant(folder, "tuned", {**TINY, "tune": TUNE})
    first = start_tune(spec)
    seen: list[str] = []
    try:
        assert first.stdout is not None
        second_trial = False
        for line in first.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("trial 1: "):
                second_trial = True
            event = json.loads(line) if line.startswith("{") else {}
            if second_trial and event.get("event") == "checkpoint" and event.get("step") == 30:
                break
        else:
            raise AssertionError("odspec tune ended before its second trial's first checkpoint:\n" + "\n".join(seen))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    no_launcher_left(folder)
    resumed = finish(start_tune(spec))
    yield spec, seen, resumed


def test_a_killed_study_resumes_its_interrupted_trial_and_prunes_the_behind_ones(
        killed_and_resumed: tuple[Path, list[str], list[str]]) -> None:
    spec, _, resumed = killed_and_resumed
    said = trial_lines(resumed)
    assert "trials 1: their process is gone; queued to resume" in said, said
    resuming = [line for line in said if "resumes trial 1's folder" in line]
    assert len(resuming) == 1, said

    status = api.tune_status(spec)
    by_number = {r.number: r for r in status.trials}
    baseline = by_number[0]
    assert baseline.baseline and baseline.params == {"train.learning_rate.base": GOOD}
    assert baseline.state == "complete" and baseline.steps == 60 and baseline.best_step in (30, 60)
    finished = [r for r in status.trials if r.state in ("complete", "pruned")]
    assert len(finished) == 4, status.trials  # the killed trial is failed and its retry finished it
    slow = [r for r in finished if r.params["train.learning_rate.base"] == SLOW]
    assert slow, f"the seeded draws gave no {SLOW} trial: {status.trials}"
    for record in slow:  # behind the baseline at its first evaluation: pruned there, at the next checkpoint
        assert record.state == "pruned" and record.best_step == 30, record
        model_dir = Path(record.model_dir) / "runs"
        assert next(row.step for row in read_metrics(next(model_dir.iterdir()))) == 30
    # (a later 0.04 trial may be pruned too: at its second evaluation the median of two finished trials can beat it)
    # the killed trial's folder was trained once, to the end: its checkpoint 30 kept, not trained again
    killed = next(r for r in status.trials if r.state == "failed")
    retry = next(r for r in finished if r.model_dir == killed.model_dir)
    runs = list((Path(retry.model_dir) / "runs").iterdir())
    assert len(runs) == 1
    steps = [row.step for row in read_metrics(runs[0])]
    assert steps == sorted(set(steps)) and steps[0] == 30, steps


def test_the_study_writes_its_results_and_best_yaml_validates_and_builds(
        killed_and_resumed: tuple[Path, list[str], list[str]], tmp_path: Path) -> None:
    spec, _, resumed = killed_and_resumed
    folder = spec.parent / "runs" / "shapes-tune"
    for name in ("results.csv", "leaderboard.md", "best.yaml", "study.db", "plots/history.png",
                 "plots/importances.png", "plots/curves.png"):
        assert (folder / name).is_file(), name
    board = (folder / "leaderboard.md").read_text()
    assert board.startswith(f"Objective: `{LOSS}` (min, lower is better)")
    assert "| 1 |" in board and "pruned" in board
    best = folder / "best.yaml"
    data = yaml.safe_load(best.read_text())
    assert "tune" not in data and data["train"]["learning_rate"]["base"] == GOOD
    api.validate(best)
    built = api.build(best, out_dir=tmp_path / "build")
    assert (built.out_dir / "pipeline.config").is_file() and list(built.out_dir.rglob("train-*.tfrecord"))
    table = [line for line in resumed if line.startswith("trial ") and LOSS in line]
    assert table, "odspec tune prints the table at the end"
    status = subprocess.run([sys.executable, "-m", "odspec.cli", "tune", str(spec), "--status"],
                            capture_output=True, text=True, cwd=spec.parent, check=True).stdout
    assert f"{len(api.tune_status(spec).trials)} trials" in status and "0 (baseline)" in status


# --- two processes, one PostgreSQL study -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("ODSPEC_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = tmp_path_factory.mktemp("postgres")
    script = REPO / "scripts" / "postgres.sh"
    started = subprocess.run([str(script), "start", str(folder)], capture_output=True, text=True)
    assert started.returncode == 0, f"{script} start failed:\n{started.stderr}"
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True)


def test_two_processes_on_one_postgres_study_run_every_trial_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    """Two ``odspec tune --storage postgresql://...`` at once, each asked for the study's 4 trials: together they
    run 4 (or 5, when both start a trial as the count is reached), and no trial, nor any trial's folder,
    is run by both."""
    tiny = {**TINY, "train.steps": 20, "train.checkpoint_every": 20}
    tune_block = {**TUNE, "pruner": "none", "baseline": False,
                  "space": {"train.learning_rate.base": {"low": 0.01, "high": 0.08, "log": True}}}
    spec = variant(tmp_path, "shared", {**tiny, "tune": tune_block})
    storage = postgres_url
    processes = [start_tune(spec, "--storage", storage) for _ in range(2)]
    outputs = [finish(p) for p in processes]
    starts = [[STARTED.match(line) for line in trial_lines(out)] for out in outputs]
    started = [{int(m[1]): m[2] for m in found if m} for found in starts]
    assert started[0] and started[1], "both processes ran trials"
    assert set(started[0]).isdisjoint(started[1]), started
    status = api.tune_status(spec, storage=storage)
    complete = [r for r in status.trials if r.state == "complete"]
    assert 4 <= len(complete) <= 5 and len(complete) == len(status.trials), status.trials
    assert sorted(set(started[0]) | set(started[1])) == sorted(r.number for r in status.trials)
    folders = [r.model_dir for r in status.trials]
    assert len(set(folders)) == len(folders)
    for record in complete:  # each trained once, to the end: one evaluation of its one checkpoint
        runs = list((Path(record.model_dir) / "runs").iterdir())
        assert len(runs) == 1 and [row.step for row in read_metrics(runs[0])] == [20], record
        assert record.steps == 20
    assert not (spec.parent / "runs" / "shapes-tune" / "study.db").exists()  # the study is in the database
