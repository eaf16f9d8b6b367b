"""Phase timings (odspec/timings.py): /proc stat parsing, process-tree CPU, the printed lines."""

from __future__ import annotations

import os

import pytest

from odspec import timings


def test_parse_stat_reads_pid_ppid_and_cpu_even_with_spaces_and_parens_in_the_name() -> None:
    # proc(5): pid (comm) state ppid ... utime(14) stime(15); comm may contain ") (" and spaces.
    fields = ["S", "42"] + ["0"] * 9 + [str(3 * timings._TICK), str(timings._TICK)] + ["0"] * 30
    line = "1234 (odd ) (name) " + " ".join(fields)
    assert timings.parse_stat(line) == (1234, 42, 4.0)


def test_parse_stat_of_this_process_names_its_parent() -> None:
    with open("/proc/self/stat") as handle:
        pid, ppid, cpu = timings.parse_stat(handle.read())
    assert (pid, ppid) == (os.getpid(), os.getppid())
    assert cpu >= 0


def test_tree_cpu_sums_a_root_and_all_its_descendants_only() -> None:
    stats = [(1, 0, 1.0), (10, 1, 2.0), (11, 10, 0.5), (12, 10, 0.25), (20, 1, 4.0), (99, 5, 100.0)]
    assert timings.tree_cpu(stats, 10) == 2.75
    assert timings.tree_cpu(stats, 1) == 7.75
    assert timings.tree_cpu(stats, 404) == 0.0


def test_cpu_percent() -> None:
    assert timings.cpu_percent(2.0, 3.4) == pytest.approx(170.0)
    assert timings.cpu_percent(0.0, 1.0) == 0.0


def test_phase_prints_one_parsable_line_only_when_asked(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(timings.ENV, raising=False)
    with timings.phase("quiet"):
        pass
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(timings.ENV, "1")
    with timings.phase("busy"):
        sum(i * i for i in range(200_000))
    err = capsys.readouterr().err
    found = timings.parse_timings("noise\n" + err)
    assert list(found) == ["busy"]
    assert found["busy"]["wall"] > 0 and found["busy"]["cpu"] > 0
    assert set(found["busy"]) == {"wall", "cpu", "cpu%"}


def test_a_span_runs_from_its_first_start_to_its_end(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The shard writers' "write" phase: started when the first shard is handed on, again for later ones."""
    import time

    monkeypatch.setenv(timings.ENV, "1")
    span = timings.Span("write")
    span.start()
    time.sleep(0.05)
    span.start()  # a later shard: the span keeps its first start
    span.end()
    found = timings.parse_timings(capsys.readouterr().err)
    assert list(found) == ["write"] and found["write"]["wall"] >= 0.05
    span.end()  # never started again: a span of the time from here, printed once
    again = timings.parse_timings(capsys.readouterr().err)
    assert list(again) == ["write"] and again["write"]["wall"] < 0.05
    monkeypatch.delenv(timings.ENV)
    quiet = timings.Span("quiet")
    quiet.start()
    quiet.end()
    assert capsys.readouterr().err == ""


def test_process_tree_cpu_counts_a_live_child() -> None:
    import subprocess
    import sys

    burn = ("import sys, time\nwhile time.process_time() < 0.5: pass\n"
            "print('burnt', flush=True)\nsys.stdin.read()\n")  # spends 0.5 s CPU, however loaded the machine
    before = timings.process_tree_cpu()
    child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "burnt\n"
        during = timings.process_tree_cpu()  # the child is alive, not yet reaped: read from /proc
    finally:
        child.communicate("")
    assert during - before >= 0.45
