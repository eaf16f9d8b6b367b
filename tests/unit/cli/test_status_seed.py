"""``odspec status`` shows the seed: the spec's, and the run's when it was trained with another; unseeded is marked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import REPO, minimal_spec, write_spec

from odspec import api
from odspec.cli import seed_line
from odspec.reconcile.record import write_run_record

UNSEEDED = "none (unseeded: runs differ from one another)"


def odspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def project(folder: Path, **train: object) -> Path:
    return write_spec(folder, minimal_spec("ssd_mobilenet_v2_fpnlite_320", train={"steps": 20, **train}))


def test_seed_line() -> None:
    assert seed_line(0, "none") == "seed: 0"
    assert seed_line(None, "none") == f"seed: {UNSEEDED}"
    assert seed_line(7, 7) == "seed: 7"
    assert seed_line(7, 0) == "seed: 7; the run here was trained with 0"
    assert seed_line(0, None) == f"seed: 0; the run here was trained with {UNSEEDED}"


def test_status_shows_the_default_seed(tmp_path: Path) -> None:
    spec = project(tmp_path)
    shown = odspec("status", str(spec))
    assert shown.returncode == 0, shown.stderr
    assert "\nseed: 0\n" in shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert (data["seed"], data["seeded"], data["trained_seed"], data["trained_seeded"]) == (0, True, None, None)


def test_status_marks_an_unseeded_spec(tmp_path: Path) -> None:
    spec = project(tmp_path, seed=None)
    shown = odspec("status", str(spec))
    assert shown.returncode == 0, shown.stderr
    assert f"\nseed: {UNSEEDED}\n" in shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert (data["seed"], data["seeded"]) == (None, False)


def test_status_names_the_seed_the_run_here_was_trained_with(tmp_path: Path) -> None:
    spec = project(tmp_path, seed=3)
    found = api.status(spec)
    assert (found.seed, found.trained) == (3, False)
    validated = api.validate(spec, check_data=False)
    from odspec.reconcile.record import run_record_of
    from odspec.runner.session import versions

    record = run_record_of(validated.loaded.spec, validated.out_dir, versions(), config=validated.files["pipeline.config"],
                           label_map=validated.files["label_map.pbtxt"], dataset_sha256="d")
    found.model_dir.mkdir(parents=True)
    write_run_record(found.model_dir, record.model_copy(update={"seed": None}))
    again = api.status(spec)
    assert (again.seed, again.trained, again.trained_seed) == (3, True, None)
    shown = odspec("status", str(spec))
    assert f"\nseed: 3; the run here was trained with {UNSEEDED}\n" in shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert (data["seed"], data["seeded"], data["trained_seed"], data["trained_seeded"]) == (3, True, None, False)
