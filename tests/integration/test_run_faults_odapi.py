"""``odspec run`` end to end through the real OD API, each test on its own short run: early stopping, and the
faults a run must survive (Ctrl-C, SIGKILL, a killed evaluator), resumed to completion.

Apart from test_run_odapi.py's one long run of the example, so that CI's two test workers run them at the same time
(each file goes to one worker). No fake stands in for the OD API anywhere here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import MAP, run, variant

from odspec import api
from odspec.reconcile.state import observe
from odspec.runner.metrics import read_metrics
from odspec.runner.run_events import RunEvent, event_dict

pytestmark = pytest.mark.odapi


def test_early_stopping_stops_training_and_keeps_the_best(tmp_path: Path) -> None:
    spec = variant(tmp_path, "early", {"train.steps": 600, "train.checkpoint_every": 50, "train.keep_checkpoints": 2,
                                       "early_stopping.patience": 1, "early_stopping.min_delta": 0.9})
    ran = run(spec, tmp_path / "runs", export=False)
    outcome = ran.result.outcome
    assert outcome.stopped_early is not None and "early_stopping.patience" in outcome.stopped_early
    assert [r.step for r in read_metrics(ran.model_dir)] == [50, 100]
    assert outcome.trained_to is not None and outcome.trained_to < 600
    info = json.loads((ran.model_dir / "best" / "info.json").read_text())
    # best/ holds the better of the two, whatever min_delta says (min_delta only decided the stop)
    best_row = max(read_metrics(ran.model_dir), key=lambda r: r.metrics[MAP])
    assert info["step"] == best_row.step and (ran.model_dir / "best" / f"{info['checkpoint']}.index").is_file()
    # keep_checkpoints 2: the model directory holds at most two checkpoints, and once training passed step 150
    # ckpt-2 (step 50) was rotated away; best/ holds its copy whichever of the two won
    kept = sorted(p.name for p in ran.model_dir.glob("ckpt-*.index"))
    assert len(kept) <= 2, kept
    if outcome.trained_to >= 150:
        assert "ckpt-2.index" not in kept, kept
    again = run(spec, ran.model_dir, export=False)
    assert again.kinds("plan")[0]["train"] is False and "stopped early" in again.kinds("plan")[0]["stopped_early"]


def _launchers(model_dir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"odspec.runner.launcher" in cmdline and os.fsencode(model_dir) in cmdline:
                found.append(int(proc.name))
    return found


def start_run(spec: Path, model_dir: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "odspec.cli", "run", str(spec), "--model-dir", str(model_dir),
               "--no-export", "--output", "json"]
    # SIGINT as a terminal's Ctrl-C delivers it: a shell without job control starts background jobs (this test's
    # runner, perhaps) with SIGINT ignored, which the child would inherit
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=spec.parent,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509


def wait_for_checkpoint(odspec: subprocess.Popen[str], step: int) -> None:
    assert odspec.stdout is not None
    for line in odspec.stdout:
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "checkpoint" and event["step"] == step:
            return
    raise AssertionError(f"odspec exited ({odspec.wait()}) before checkpoint {step}")


def no_launcher_left(model_dir: Path) -> None:
    deadline = time.monotonic() + 15
    while _launchers(model_dir):
        assert time.monotonic() < deadline, "a launcher outlived odspec"
        time.sleep(0.2)


def test_ctrl_c_sigkill_and_a_killed_evaluator_all_resume_to_completion(tmp_path: Path) -> None:
    """Ctrl-C at step 50, SIGKILL at step 100, then a resume whose evaluator is SIGKILLed mid-evaluation.

    One test, so one dataset build and three training starts serve all three faults.
    """
    spec = variant(tmp_path, "killed", {"train.steps": 200, "train.checkpoint_every": 50, "early_stopping": None})
    model_dir = tmp_path / "runs"
    first = start_run(spec, model_dir)
    try:
        wait_for_checkpoint(first, 50)
        assert _launchers(model_dir), "training and evaluation children run"
        first.send_signal(signal.SIGINT)  # Ctrl-C
        assert first.wait(timeout=60) == 130
    finally:
        first.kill()
    no_launcher_left(model_dir)
    second = start_run(spec, model_dir)
    try:
        wait_for_checkpoint(second, 100)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()
    no_launcher_left(model_dir)
    state = observe(model_dir)
    assert state.latest is not None and state.latest.step == 100

    events: list[dict[str, Any]] = []
    killed: list[str] = []

    def kill_the_first_evaluation(emitted: RunEvent) -> None:
        event = event_dict(emitted)
        events.append(event)
        if event.get("event") == "eval-start" and not killed:
            evaluators = [pid for pid in _launchers(model_dir) if b"eval-serve" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            assert len(evaluators) == 1, evaluators
            os.kill(evaluators[0], signal.SIGKILL)
            killed.append(event["checkpoint"])

    resumed = api.run(spec, model_dir=model_dir, on_event=kill_the_first_evaluation, export=False)
    plan = next(e for e in events if e.get("event") == "plan")
    assert plan["action"] == "resume" and plan["from_step"] == 100
    assert resumed.outcome.trained_to == 200
    restarted = [e for e in events if e.get("event") == "evaluator-restarted"]
    assert len(restarted) == 1 and restarted[0]["exit"] == "signal 9" and restarted[0]["checkpoints"][0] == killed[0]
    assert [r.step for r in read_metrics(model_dir)] == [50, 100, 150, 200]  # each once, none lost, the killed one again
    no_launcher_left(model_dir)
