"""What ``execute`` gives its children: the run's seed (argv and PYTHONHASHSEED), a temporary folder of their own
in the model directory, removed when they end, and the stale ones of a killed run removed first. No TensorFlow."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reconcile"))
from reconcile_support import record, spec_dict
from test_run_faults import FAKE_LAUNCHER

from odspec.runner.process import TEMP_PREFIX
from odspec.runner.session import RunSetup, Selection, clear, execute

RECORDING = '''
import json, os, sys, tempfile
from pathlib import Path
_dir = Path(sys.argv[sys.argv.index("--model-dir") + 1])
(_dir.parent / f"{sys.argv[1]}.json").write_text(json.dumps({
    "argv": sys.argv[1:], "hashseed": os.environ.get("PYTHONHASHSEED"), "temp": tempfile.gettempdir(),
    "env": [os.environ.get(k) for k in ("TMPDIR", "TEMP", "TMP")]}))
'''


def run_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int | None) -> tuple[Path, dict[str, Any]]:
    (tmp_path / "recording_launcher.py").write_text(RECORDING + FAKE_LAUNCHER)
    paths = [tmp_path, Path(__file__).resolve().parents[1] / "reconcile", REPO / "tests", REPO]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, paths)))
    monkeypatch.setenv("FAKE_EVAL_CRASH", "never")
    (tmp_path / "crashes").write_text("x")  # the fake evaluator crashes only while this is missing
    model_dir = tmp_path / "runs"
    stale = model_dir / f"{TEMP_PREFIX}killed"
    stale.mkdir(parents=True)
    (stale / "__autograph_generated_file1.py").write_text("x")
    setup = RunSetup(pipeline_config=tmp_path / "pipeline.config", build_dir=tmp_path, model_dir=model_dir,
                     record=record(spec_dict()), action="start", start_step=0, num_steps=200, checkpoint_every=100,
                     eval_every=100, keep=5, selection=Selection("DetectionBoxes_Precision/mAP", "max", None),
                     seed=seed)
    execute(setup, lambda _event: None, poll_seconds=0.1, launcher="recording_launcher")
    seen = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("train", "eval-serve")}
    return model_dir, seen


def test_a_seeded_run_seeds_both_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, seen = run_fake(tmp_path, monkeypatch, 7)
    for child in seen.values():
        assert child["argv"][-2:] == ["--seed", "7"] and child["hashseed"] == "7"


def test_an_unseeded_run_passes_no_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    _, seen = run_fake(tmp_path, monkeypatch, None)
    for child in seen.values():
        assert "--seed" not in child["argv"] and child["hashseed"] is None


def test_children_write_temporary_files_in_the_model_directory_which_are_gone_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir, seen = run_fake(tmp_path, monkeypatch, 0)
    temps = {Path(child["temp"]) for child in seen.values()}
    assert len(temps) == 2 and all(t.parent == model_dir and t.name.startswith(TEMP_PREFIX) for t in temps)
    assert all(child["env"] == [child["temp"]] * 3 for child in seen.values())
    assert list(model_dir.glob(f"{TEMP_PREFIX}*")) == []  # theirs, and the one a killed run left


def test_restart_clears_temporary_folders_too(tmp_path: Path) -> None:
    (tmp_path / f"{TEMP_PREFIX}x").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    clear(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
