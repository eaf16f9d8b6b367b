"""The chief and a separate evaluator task, through the model directory's ``evaluator/`` files (no TensorFlow:
the evaluator's child is stood in for by what ``launcher eval-serve`` prints, written here by hand)."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any

import pytest

from odspec.runner import mailbox
from odspec.runner.mailbox import Evaluations, RemoteEvaluator


def lines_of(received: queue.Queue[str], count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(json.loads(received.get(timeout=0.1)))
        except queue.Empty:
            continue
    return got


def child_says(model_dir: Path, path: str, step: int) -> list[dict[str, Any]]:
    """What eval-serve prints for one checkpoint path (absolute, in the evaluator's view)."""
    return [{"event": "eval-start", "checkpoint": path, "time": 1.0},
            {"event": "evaluated", "checkpoint": Path(path).name, "path": path, "step": step,
             "metrics": {"mAP": 0.5}, "seconds": 2.0}]


def test_a_checkpoint_goes_to_the_evaluator_and_its_answer_comes_back(tmp_path: Path) -> None:
    chief_view, evaluator_view = tmp_path / "chief" / "runs", tmp_path / "evaluator" / "runs"
    chief_view.mkdir(parents=True)
    evaluator_view.parent.mkdir()
    evaluator_view.symlink_to(chief_view)  # one shared folder, mounted at two places
    received: queue.Queue[str] = queue.Queue()
    remote = RemoteEvaluator(chief_view, received.put, poll_seconds=0.05)
    remote.send(str(chief_view / ".pending" / "ckpt-2"))
    work = Evaluations(evaluator_view)
    asked = work.requests()
    assert asked == [str(evaluator_view / ".pending" / "ckpt-2")]  # the evaluator's own view of the path
    assert work.requests() == []  # asked once
    for line in child_says(evaluator_view, asked[0], 100):
        work.answer(line)
    start, evaluated = lines_of(received, 2)
    assert start["event"] == "eval-start" and start["checkpoint"] == str(chief_view / ".pending" / "ckpt-2")
    assert evaluated["path"] == str(chief_view / ".pending" / "ckpt-2") and evaluated["checkpoint"] == "ckpt-2"
    assert evaluated["step"] == 100 and evaluated["metrics"] == {"mAP": 0.5}
    assert work.evaluated == 1 and not work.stopped
    remote.stop()  # an interrupted chief says nothing: the evaluator waits for its next session
    assert work.requests() == [] and not work.stopped
    remote.finish()
    work.requests()
    assert work.stopped  # the chief's run ended
    responses = (chief_view / "evaluator" / remote.session / "responses").read_text().splitlines()
    assert [json.loads(r)["path" if "path" in r else "checkpoint"] for r in responses] == [".pending/ckpt-2"] * 2


def test_an_evaluator_that_starts_again_evaluates_only_what_has_no_answer(tmp_path: Path) -> None:
    received: queue.Queue[str] = queue.Queue()
    remote = RemoteEvaluator(tmp_path, received.put, poll_seconds=0.05)
    for name in ("ckpt-2", "ckpt-3"):
        remote.send(str(tmp_path / ".pending" / name))
    first = Evaluations(tmp_path)
    asked = first.requests()
    for line in child_says(tmp_path, asked[0], 100):
        first.answer(line)
    first.answer({"event": "eval-start", "checkpoint": asked[1], "time": 2.0})  # then it died mid-evaluation
    again = Evaluations(tmp_path)
    assert again.requests() == [str(tmp_path / ".pending" / "ckpt-3")]
    remote.finish()  # stopped early, say: ckpt-3 is no longer wanted
    assert again.requests() == [] and again.stopped


def test_a_new_chief_session_is_not_answered_with_the_old_ones_lines(tmp_path: Path) -> None:
    old: queue.Queue[str] = queue.Queue()
    first_chief = RemoteEvaluator(tmp_path, old.put, poll_seconds=0.05)
    first_chief.send(str(tmp_path / ".pending" / "ckpt-2"))
    work = Evaluations(tmp_path)
    (asked,) = work.requests()
    first_chief.stop()  # it crashed, say; a new chief starts a session and asks for the same checkpoint again
    new: queue.Queue[str] = queue.Queue()
    second_chief = RemoteEvaluator(tmp_path, new.put, poll_seconds=0.05)
    second_chief.send(str(tmp_path / ".pending" / "ckpt-2"))
    assert work.requests() == [asked]  # asked again, by the new session
    for line in child_says(tmp_path, asked, 100):
        work.answer(line)
    assert [r["event"] for r in lines_of(new, 2)] == ["eval-start", "evaluated"]
    second_chief.stop()


def test_an_evaluator_that_starts_after_an_earlier_run_ended_waits_for_the_next_one(tmp_path: Path) -> None:
    earlier = RemoteEvaluator(tmp_path, lambda line: None, poll_seconds=0.05)
    earlier.finish()  # that run is over; a new job's evaluator starts before its chief opens a session
    work = Evaluations(tmp_path)
    assert work.requests() == [] and not work.stopped
    received: queue.Queue[str] = queue.Queue()
    chief = RemoteEvaluator(tmp_path, received.put, poll_seconds=0.05)
    chief.send(str(tmp_path / ".pending" / "ckpt-4"))
    assert work.requests() == [str(tmp_path / ".pending" / "ckpt-4")]
    chief.finish()
    assert work.requests() == [] and work.stopped


def test_the_chief_gives_up_on_a_silent_evaluator_and_says_where_it_looked(tmp_path: Path) -> None:
    remote = RemoteEvaluator(tmp_path, lambda line: None, poll_seconds=0.05, silence_seconds=0.2)
    assert remote.poll() is None
    time.sleep(0.3)
    assert remote.poll() == 1
    error = str(remote.error())
    assert "the evaluator task has never said it runs" in error and str(tmp_path / "evaluator" / "heartbeat") in error
    ended = mailbox.threading.Event()
    mailbox.beat(tmp_path, ended, seconds=0.05)
    time.sleep(0.15)
    assert remote.poll() is None  # it beats now
    age = mailbox.heartbeat_age(tmp_path)
    assert age is not None and age < 1.0
    ended.set()
    remote.stop()


@pytest.mark.parametrize(("path", "expected"), [("/runs/x/.pending/ckpt-2", ".pending/ckpt-2"),
                                               (".pending/ckpt-2", ".pending/ckpt-2"),
                                               ("/elsewhere/ckpt-2", "/elsewhere/ckpt-2")])
def test_paths_travel_relative_to_the_model_directory(path: str, expected: str) -> None:
    assert mailbox.relative(Path("/runs/x"), path) == expected
    assert mailbox.absolute(Path("/mnt/runs/x"), expected) == ("/mnt/runs/x/.pending/ckpt-2"
                                                               if not expected.startswith("/") else expected)


def test_a_line_still_being_written_waits_for_its_end(tmp_path: Path) -> None:
    target = tmp_path / "f"
    tail = mailbox._Tail(target)
    assert tail.new_lines() == []
    target.write_text('{"a": 1}\n{"b"')
    assert tail.new_lines() == ['{"a": 1}']
    with open(target, "a") as handle:
        handle.write(': 2}\n')
    assert tail.new_lines() == ['{"b": 2}']
