"""Faults keep the build's guarantees (issue 8, item 5): kill -9 at any moment, and two builds of one folder at once.

After every kill the build folder is the previous complete build or the new complete one (the outputs of a
clean build, byte for byte), no worker of the killed build is alive, and the next build leaves no staging,
work or temp folder behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import REPO, minimal_spec, write_spec

from odspec import staging
from odspec.datasets.synthetic import make_shapes

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"
KILLS = 24
HIDDEN = (".cache.json", ".inputs.json")  # odspec's own bookkeeping: not outputs


def write_version(folder: Path, version: int) -> Path:
    """Version 1 and 2 of one spec file; 2 lists the classes the other way round, so every shard changes."""
    classes = ["circle", "square"] if version == 1 else ["square", "circle"]
    spec = minimal_spec(FPNLITE, classes)
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations", "shards": 2}
    return write_spec(folder, spec)


def start_build(spec: Path, out: Path, temp: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(temp)}
    return subprocess.Popen([sys.executable, "-m", "odspec", "build", str(spec), "--out", str(out), "-j", "2", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def outputs(out: Path) -> dict[str, str] | None:
    if not out.is_dir():
        return None
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.name not in HIDDEN}


def clean_build(spec: Path, out: Path, temp: Path) -> dict[str, str]:
    shutil.rmtree(out, ignore_errors=True)
    done = start_build(spec, out, temp)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    found = outputs(out)
    assert found is not None
    return found


def alive_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that are still running (zombies are dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def wait_for_no_workers(group: int) -> list[int]:
    deadline = time.monotonic() + 3
    while alive_in_group(group) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive_in_group(group)


def leftovers(out: Path, temp: Path) -> list[str]:
    beside = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return beside + [p.name for p in temp.iterdir()]


def test_kill_9_at_random_moments_keeps_a_complete_build_and_no_orphans(tmp_path: Path) -> None:
    make_shapes(tmp_path / "data", 16, size=(64, 64), max_boxes=2, seed=7)
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out"
    started = time.monotonic()
    clean = {2: clean_build(write_version(tmp_path, 2), out, temp)}
    full = time.monotonic() - started
    clean[1] = clean_build(write_version(tmp_path, 1), out, temp)
    assert clean[1] != clean[2]
    rng = random.Random(8)
    current = 1
    for kill in range(KILLS):
        target = rng.choice((1, 2))
        build = start_build(write_version(tmp_path, target), out, temp)
        time.sleep(rng.uniform(0, full))
        os.kill(build.pid, signal.SIGKILL)
        build.communicate(timeout=30)
        assert wait_for_no_workers(build.pid) == [], f"kill {kill}: workers outlived the build"
        found = outputs(out)
        assert found in (clean[current], clean[target]), f"kill {kill}: the build folder is neither build"
        current = target if found == clean[target] else current
    done = start_build(write_version(tmp_path, current), out, temp)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert outputs(out) == clean[current]
    assert leftovers(out, temp) == []


def test_two_builds_of_one_folder_take_turns(tmp_path: Path) -> None:
    make_shapes(tmp_path / "data", 16, size=(64, 64), max_boxes=2, seed=7)
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out"
    spec = write_version(tmp_path, 1)
    expected = clean_build(spec, out, temp)
    shutil.rmtree(out)
    with staging.build_lock(out):  # a build already running: both new ones must wait for it
        builds = [start_build(spec, out, temp) for _ in range(2)]
        time.sleep(2)
        assert all(b.poll() is None for b in builds)
    results = [b.communicate(timeout=120) for b in builds]
    assert [b.returncode for b in builds] == [0, 0], results
    waited = [err for _, err in results if "waiting for another odspec build" in err]
    assert waited, results
    assert waited[0].splitlines()[0].startswith(f"waiting for another odspec build of {out} (pid ")
    assert outputs(out) == expected
    assert leftovers(out, temp) == []


def test_a_build_flushes_its_own_files_before_the_swap(tmp_path, monkeypatch) -> None:
    """Every staged file (and the staging folder) is fsynced before the swap; nothing waits on the whole machine."""
    import os

    from odspec import staging

    synced: list[str] = []
    real_fsync = os.fsync

    def record(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", record)
    monkeypatch.setattr(os, "sync", lambda: (_ for _ in ()).throw(AssertionError("os.sync waits for every program")))
    stage = staging.Staging(tmp_path / "out").open()
    stage.put("a.txt", b"a")
    stage.put("b.txt", b"b")
    folder = str(stage.folder)
    assert stage.commit()
    assert {os.path.basename(p) for p in synced if p != folder} >= {"a.txt", "b.txt"}
    assert folder in synced
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"a"
