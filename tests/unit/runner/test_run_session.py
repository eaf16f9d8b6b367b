"""The run's pure decisions and its file handling, without TensorFlow: what to evaluate, the best, when to stop."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from odspec.errors import ReconcileError
from odspec.reconcile.state import Best
from odspec.runner import best as best_files
from odspec.runner.metrics import MetricsRow, append_metrics, read_metrics
from odspec.runner.session import Coordinator, Selection, clear, eta_seconds, locked

MAP = "DetectionBoxes_Precision/mAP"


def row(step: int, value: float) -> MetricsRow:
    return MetricsRow(step, f"ckpt-{step // 100 + 1}", {MAP: value})


def coordinator(history: list[MetricsRow] = (), patience: int | None = 2, every: int = 100) -> Coordinator:
    return Coordinator(num_steps=350, eval_every=every, selection=Selection(MAP, "max", patience, 0.01),
                       history=list(history))


def test_checkpoints_on_the_eval_grid_and_the_last_one_are_due() -> None:
    c = coordinator(every=200)
    assert [s for s in (0, 100, 200, 300, 350) if c.due(s)] == [200, 350]


def test_a_checkpoint_is_never_evaluated_twice_nor_out_of_order() -> None:
    c = coordinator([row(100, 0.2)])
    assert not c.due(100)
    c.queue(300)
    assert not c.due(200)  # an earlier step after a later one would break the stopper's order
    assert not c.due(300)


def test_the_best_is_tracked_and_patience_stops() -> None:
    c = coordinator()
    first = c.evaluated(100, {MAP: 0.30})
    assert first.improved and not first.stop and first.best_step == 100
    small = c.evaluated(200, {MAP: 0.305})  # better, so the new best, but within min_delta 0.01: patience runs
    assert small.improved and not small.stop and small.best_step == 200
    last = c.evaluated(300, {MAP: 0.1})
    assert last.stop and last.best_step == 200 and last.best_value == pytest.approx(0.305)
    assert "early_stopping.patience" in last.message
    assert c.stopped and not c.due(350)


def test_without_early_stopping_the_best_is_kept_and_it_never_stops() -> None:
    c = coordinator(patience=None)
    for step, value in ((100, 0.5), (200, 0.1), (300, 0.1), (350, math.nan)):
        verdict = c.evaluated(step, {MAP: value})
        assert not verdict.stop
    assert verdict.best_step == 100 and not c.stopped


def test_history_is_replayed_so_a_resumed_run_remembers_its_stop() -> None:
    c = coordinator([row(100, 0.4), row(200, 0.2), row(300, 0.2)])
    assert c.stopped and c.stopper.best_step == 100
    assert not coordinator([row(100, 0.4), row(200, 0.2)], patience=5).stopped


def test_eta_ignores_the_first_mark_which_includes_tracing() -> None:
    assert eta_seconds(100, [(100, 0.0)]) == (None, None)
    rate, eta = eta_seconds(100, [(100, 30.0), (200, 40.0), (300, 50.0)])
    assert rate == pytest.approx(10.0) and eta == pytest.approx(10.0)


def fake_checkpoint(folder: Path, name: str, payload: bytes = b"x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.index").write_bytes(b"index-" + payload)
    (folder / f"{name}.data-00000-of-00001").write_bytes(b"data-" + payload)
    return folder / name


def test_a_protected_checkpoint_survives_rotation(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, "ckpt-3", b"three")
    pending = best_files.protect(tmp_path, "ckpt-3")
    for part in tmp_path.glob("ckpt-3.*"):
        part.unlink()  # what the OD API's rotation does
    assert Path(f"{pending}.index").read_bytes() == b"index-three"
    assert best_files.pending_checkpoints(tmp_path) == ["ckpt-3"]
    best_files.release(tmp_path, "ckpt-3")
    assert best_files.pending_checkpoints(tmp_path) == []


def test_protecting_a_rotated_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="rotated away"):
        best_files.protect(tmp_path, "ckpt-9")


def test_best_is_replaced_whole_with_its_info_and_index(tmp_path: Path) -> None:
    first = fake_checkpoint(tmp_path, "ckpt-2", b"two")
    best_files.save_best(tmp_path, first, Best(100, "ckpt-2", MAP, 0.25))
    second = fake_checkpoint(tmp_path / best_files.PENDING, "ckpt-4", b"four")
    best = best_files.save_best(tmp_path, second, Best(300, "ckpt-4", MAP, 0.5))
    assert sorted(p.name for p in best.iterdir()) == ["checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index",
                                                      "info.json"]
    assert json.loads((best / "info.json").read_text())["step"] == 300
    assert 'model_checkpoint_path: "ckpt-4"' in (best / "checkpoint").read_text()
    assert best_files.best_prefix(tmp_path, Best(300, "ckpt-4", MAP, 0.5)) == best / "ckpt-4"
    assert best_files.best_prefix(tmp_path, Best(100, "ckpt-2", MAP, 0.25)) is None
    assert best_files.best_prefix(tmp_path, None) is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".best")] == []


def test_recover_finishes_a_swap_a_crash_interrupted(tmp_path: Path) -> None:
    # crashed after moving the old best aside and before renaming the new one in
    fresh = tmp_path / ".best-new-abc"
    fake_checkpoint(fresh, "ckpt-4")
    (fresh / "info.json").write_text('{"step": 300}')
    old = tmp_path / ".best-old-def" / "best"
    fake_checkpoint(old, "ckpt-2")
    (old / "info.json").write_text('{"step": 100}')
    best_files.recover(tmp_path)
    assert json.loads((tmp_path / "best" / "info.json").read_text())["step"] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_recover_drops_an_incomplete_new_best(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path / "best", "ckpt-2")
    (tmp_path / "best" / "info.json").write_text('{"step": 100}')
    fake_checkpoint(tmp_path / ".best-new-x", "ckpt-4")  # no info.json yet: the crash came first
    best_files.recover(tmp_path)
    assert json.loads((tmp_path / "best" / "info.json").read_text())["step"] == 100
    assert not (tmp_path / ".best-new-x").exists()


def test_clear_deletes_only_what_odspec_and_the_od_api_write(tmp_path: Path) -> None:
    fake_checkpoint(tmp_path, "ckpt-1")
    for name in ("train", "eval", "best", "logs", ".pending"):
        (tmp_path / name).mkdir()
    for name in ("checkpoint", "metrics.jsonl", "odspec-run.json", "notes.txt"):
        (tmp_path / name).write_text("x")
    clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_one_run_per_model_directory(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from pathlib import Path
        from odspec.runner.session import locked
        with locked(Path({str(tmp_path)!r})):
            print("locked", flush=True)
            time.sleep(30)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ReconcileError, match=f"another odspec run is training here \\(pid {holder.pid}\\)"), \
                locked(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locked(tmp_path):  # the lock went with the process
        pass


def test_metrics_written_then_replayed_give_the_same_best(tmp_path: Path) -> None:
    live = coordinator()
    for step, value in ((100, 0.2), (200, 0.5), (300, 0.45)):
        live.evaluated(step, {MAP: value})
        append_metrics(tmp_path, step, {MAP: value}, checkpoint=f"ckpt-{step}")
    replayed = coordinator(read_metrics(tmp_path))
    assert (replayed.stopper.best_step, replayed.stopper.best_value) == (200, 0.5)


def test_children_die_with_odspec_even_on_sigkill(tmp_path: Path) -> None:
    """A process holding a Child is SIGKILLed: the kernel kills the child too (no orphan keeps training)."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
        from odspec.runner.process import Child
        child = Child("http.server", ["0", "--bind", "127.0.0.1"], on_line=lambda line: None)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    os.kill(child_pid, 0)  # alive
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid):
        assert time.monotonic() < deadline, f"child {child_pid} outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")  # a zombie is dead, only unreaped
