"""The process module: results, failures with their output tail, and no survivors after a timeout."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from odspec.errors import OdspecError, RunError
from odspec.runner.process import Completed, run_module

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def _script(tmp_path: Path, name: str, body: str) -> str:
    """Write ``body`` as module ``name`` in tmp_path; children run it with cwd=tmp_path."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return name


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for an init that may never reap it (as in some sandboxes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def _wait_for_pid(path: Path, within: float = 10.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} never got a pid")


def test_success_captures_stdout_and_stderr_in_order(tmp_path: Path) -> None:
    module = _script(tmp_path, "hello", """
        import sys
        print("out", sys.argv[1:])
        print("err", file=sys.stderr)
    """)
    seen: list[str] = []
    done = run_module(module, ["a", "b c"], timeout=30, cwd=tmp_path, on_line=seen.append)
    assert isinstance(done, Completed)
    assert done.returncode == 0
    assert done.lines == ("out ['a', 'b c']", "err")
    assert seen == list(done.lines)
    assert done.command == (sys.executable, "-m", "hello", "a", "b c")


def test_env_is_added_to_the_current_environment(tmp_path: Path) -> None:
    module = _script(tmp_path, "showenv", """
        import os
        print(os.environ["ODSPEC_TEST_VAR"], bool(os.environ.get("PATH")))
    """)
    done = run_module(module, [], timeout=30, cwd=tmp_path, env={"ODSPEC_TEST_VAR": "x"})
    assert done.lines == ("x True",)


def test_non_zero_exit_raises_with_code_and_tail(tmp_path: Path) -> None:
    module = _script(tmp_path, "fails", """
        import sys
        for i in range(100):
            print("line", i)
        sys.exit(3)
    """)
    with pytest.raises(RunError) as caught:
        run_module(module, [], timeout=30, cwd=tmp_path)
    err = caught.value
    assert isinstance(err, OdspecError)
    assert err.returncode == 3
    assert not err.timed_out
    assert err.tail == tuple(f"line {i}" for i in range(60, 100))
    assert "exited with code 3" in str(err)
    assert str(err).endswith("line 99")


def test_timeout_kills_child_and_grandchild_that_ignore_sigterm(tmp_path: Path) -> None:
    _script(tmp_path, "grandchild", """
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1], "w").write(str(os.getpid()))
        while True:
            time.sleep(0.1)
    """)
    module = _script(tmp_path, "parent", """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen([sys.executable, "grandchild.py", "grandchild.pid"])
        print("started", flush=True)
        while True:
            time.sleep(0.1)
    """)
    started = time.monotonic()
    with pytest.raises(RunError) as caught:
        run_module(module, [], timeout=1.5, cwd=tmp_path, grace=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.timed_out
    assert caught.value.tail == ("started",)
    grandchild = _wait_for_pid(tmp_path / "grandchild.pid")
    time.sleep(0.1)
    assert not _alive(grandchild)


def test_timeout_terminates_politely_first(tmp_path: Path) -> None:
    module = _script(tmp_path, "polite", """
        import signal, sys, time
        def bye(*_):
            print("got SIGTERM", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(60)
    """)
    with pytest.raises(RunError) as caught:
        run_module(module, [], timeout=1.0, cwd=tmp_path, grace=5.0)
    assert caught.value.tail == ("ready", "got SIGTERM")


def test_keyboard_interrupt_stops_the_group_and_propagates(tmp_path: Path) -> None:
    module = _script(tmp_path, "sleeper", """
        import os, time
        open("child.pid", "w").write(str(os.getpid()))
        time.sleep(60)
    """)

    # Ctrl-C reaches Python as SIGINT in the main thread; send ourselves one mid-wait. Python's own handler is put
    # in place first: a shell without job control starts background jobs with SIGINT ignored, and so this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_module(module, [], timeout=30, cwd=tmp_path, grace=0.5)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    child = _wait_for_pid(tmp_path / "child.pid")
    assert not _alive(child)


def test_leftover_grandchild_holding_the_pipe_is_stopped_after_exit(tmp_path: Path) -> None:
    _script(tmp_path, "lingerer", """
        import os, time
        open("lingerer.pid", "w").write(str(os.getpid()))
        time.sleep(60)
    """)
    module = _script(tmp_path, "leaves", """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "lingerer.py"])
        time.sleep(0.5)
    """)
    started = time.monotonic()
    run_module(module, [], timeout=30, cwd=tmp_path, grace=0.5)
    assert time.monotonic() - started < 10
    lingerer = _wait_for_pid(tmp_path / "lingerer.pid")
    time.sleep(0.1)
    assert not _alive(lingerer)


# --- each child's own temporary folder -------------------------------------------------------------------------------

_WRITES_TEMP = """
    import os, sys, tempfile, time
    folder = tempfile.gettempdir()
    print(folder, os.environ["TEMP"] == os.environ["TMP"] == os.environ["TMPDIR"] == folder, flush=True)
    with open(os.path.join(folder, "__autograph_generated_fileabc.py"), "w") as handle:
        handle.write("x = 1")
    if sys.argv[1:] == ["fail"]:
        sys.exit(3)
    if sys.argv[1:] == ["hang"]:
        time.sleep(60)
"""


def _temp_of(line: str) -> Path:
    folder, same = line.split()
    assert same == "True"
    return Path(folder)


@pytest.mark.parametrize("how", ["ok", "fail", "hang"])
def test_a_child_gets_its_own_temp_folder_removed_however_it_ends(tmp_path: Path, how: str) -> None:
    from odspec.runner.process import TEMP_PREFIX

    module = _script(tmp_path, "writes_temp", _WRITES_TEMP)
    parent = tmp_path / "model"
    if how == "ok":
        done = run_module(module, [how], timeout=30, cwd=tmp_path, temp_parent=parent)
        lines = done.lines
    else:
        with pytest.raises(RunError) as caught:
            run_module(module, [how], timeout=3, cwd=tmp_path, temp_parent=parent, grace=0.5)
        lines = caught.value.tail
    folder = _temp_of(lines[0])
    assert folder.parent == parent and folder.name.startswith(TEMP_PREFIX)
    assert not folder.exists() and list(parent.iterdir()) == []


def test_without_a_parent_the_temp_folder_is_a_private_one_in_the_systems(tmp_path: Path) -> None:
    import tempfile

    module = _script(tmp_path, "writes_temp", _WRITES_TEMP)
    folder = _temp_of(run_module(module, ["ok"], timeout=30, cwd=tmp_path).lines[0])
    assert folder.parent == Path(tempfile.gettempdir()) and not folder.exists()


@pytest.mark.parametrize("ending", ["wait", "stop"])
def test_a_long_lived_child_removes_its_temp_folder_when_it_ends(tmp_path: Path, ending: str) -> None:
    from odspec.runner.process import Child

    _script(tmp_path, "writes_temp", _WRITES_TEMP)
    parent = tmp_path / "model"
    seen: list[str] = []
    child = Child("writes_temp", ["ok" if ending == "wait" else "hang"], on_line=seen.append,
                  env={"PYTHONPATH": str(tmp_path)}, temp_parent=parent)
    assert child.temp.parent == parent and child.temp.is_dir()
    deadline = time.monotonic() + 20
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _temp_of(seen[0]) == child.temp and (child.temp / "__autograph_generated_fileabc.py").exists()
    assert (child.wait(timeout=20) if ending == "wait" else child.stop(grace=0.5)) in (0, -signal.SIGTERM)
    assert not child.temp.exists() and list(parent.iterdir()) == []


def test_stale_temp_folders_are_removed_and_nothing_else(tmp_path: Path) -> None:
    from odspec.runner.process import remove_stale_temp

    (tmp_path / ".odspec.tmp-abc").mkdir()
    (tmp_path / ".odspec.tmp-abc" / "__autograph_generated_file1.py").write_text("x")
    (tmp_path / ".odspec.lock").write_text("pid 1")
    (tmp_path / "train").mkdir()
    assert remove_stale_temp(tmp_path) == [tmp_path / ".odspec.tmp-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".odspec.lock", "train"]
