"""A separate evaluator task (``runtime.evaluator: task``): the chief and the evaluator talk through files.

In a cluster the evaluator is another machine, so the chief cannot write checkpoint paths to its stdin.
They share the model directory instead (every task of a cluster must), and this folder in it::

    evaluator/session                 the chief's current session id (replaced atomically when a chief starts)
    evaluator/heartbeat               the evaluator's clock, rewritten every few seconds while it lives
    evaluator/<session>/requests      the chief's lines: {"checkpoint": ".pending/ckpt-7"}, then {"stop": true}
                                      when its run ends (done, or stopped early: what is still queued is dropped)
    evaluator/<session>/responses     the evaluator's lines: what its ``launcher eval-serve`` child printed

Each file has one writer, which only appends whole lines; readers poll. Paths in both files are relative to the
model directory, since the tasks may mount it at different places. A chief that starts again (after a crash)
starts a new session, so what the evaluator said to the old one cannot be taken for an answer to the new one; an
evaluator that starts again re-reads the session's requests and evaluates what has no answer yet. A chief that is
interrupted or crashes says nothing: the evaluator waits for the session its next start opens. An evaluator that
starts while the current session has already ended (an earlier run's) waits for the next one too.

:class:`RemoteEvaluator` is the chief's side and stands where the evaluation child stands in
:func:`odspec.runner.session.execute`; :func:`serve` is the evaluator's.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odspec.errors import RunError
from odspec.io import atomic_write
from odspec.procs import json_lines

MAILBOX = "evaluator"
SESSION = "session"
HEARTBEAT = "heartbeat"
REQUESTS = "requests"
RESPONSES = "responses"
HEARTBEAT_SECONDS = 5.0
# How long the chief waits, with checkpoints to evaluate, for an evaluator that says nothing (its pod may be
# waiting for a machine, or restarting) before it ends the run with an error.
SILENCE_SECONDS = 1800.0
ANSWERS = ("evaluated", "eval-failed")  # the lines that end one request


def mailbox(model_dir: Path) -> Path:
    return model_dir / MAILBOX


def relative(model_dir: Path, path: str) -> str:
    """``path`` (absolute, or already relative) as the other task can resolve it: relative to the model dir."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    try:
        return candidate.relative_to(model_dir).as_posix()
    except ValueError:
        return os.fspath(candidate)  # outside the model directory: only the same path can name it


def absolute(model_dir: Path, path: str) -> str:
    return os.fspath(model_dir / path)  # an absolute ``path`` stays as it is


def _append(path: Path, record: dict[str, Any]) -> None:
    """One whole line, flushed to the shared storage before the call returns."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class _Tail:
    """The whole lines appended to a file since the last call (a line still being written waits)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode("utf-8").splitlines()


def _path_key(record: dict[str, Any]) -> str:
    """Which field of an eval-serve line holds the checkpoint's path (``evaluated`` names it in ``checkpoint``)."""
    return "path" if record.get("event") == "evaluated" else "checkpoint"


def heartbeat_age(model_dir: Path, now: float | None = None) -> float | None:
    """Seconds since the evaluator last said it lives; None: it never has."""
    try:
        said = float((mailbox(model_dir) / HEARTBEAT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return max(0.0, (time.time() if now is None else now) - said)


# --- the chief's side ----------------------------------------------------------------------------------------------

class RemoteEvaluator:
    """The evaluator task, seen from the chief: :meth:`send` a checkpoint path, its answers reach ``on_line``.

    It has the part of :class:`odspec.runner.process.Child`'s interface the run uses. :meth:`poll` stays None while
    the evaluator lives; it turns to 1 when the evaluator has said nothing for ``silence_seconds`` (its heartbeat),
    which ends the run (the cluster restarts the evaluator, not odspec: ``session._restart_evaluator``).
    """

    def __init__(self, model_dir: Path, on_line: Callable[[str], None], *, poll_seconds: float = 0.5,
                 silence_seconds: float = SILENCE_SECONDS) -> None:
        self.model_dir, self.on_line = model_dir, on_line
        self.poll_seconds, self.silence_seconds = poll_seconds, silence_seconds
        self.session = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.folder = mailbox(model_dir) / self.session
        self.folder.mkdir(parents=True)
        (self.folder / REQUESTS).touch()
        atomic_write(mailbox(model_dir) / SESSION, self.session.encode())
        self.started = time.time()
        self._stopped = threading.Event()
        self._finished = False
        self._tail = _Tail(self.folder / RESPONSES)
        self._reader = threading.Thread(target=self._read, name="evaluator-responses", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            stopping = self._stopped.is_set()
            for record in json_lines(self._tail.new_lines()):
                key = _path_key(record)
                if isinstance(record.get(key), str):
                    record[key] = absolute(self.model_dir, record[key])
                self.on_line(json.dumps(record, sort_keys=True))
            if stopping:
                return
            self._stopped.wait(self.poll_seconds)

    def send(self, line: str) -> None:
        _append(self.folder / REQUESTS, {"checkpoint": relative(self.model_dir, line)})

    def poll(self) -> int | None:
        age = heartbeat_age(self.model_dir)
        silent = time.time() - self.started if age is None else age
        return 1 if silent > self.silence_seconds else None

    def wait(self, timeout: float | None = None) -> int:
        return self.poll() or 0

    def finish(self) -> None:
        """The run has ended (trained, or stopped early): the evaluator drops what is queued and exits."""
        if not self._finished:
            self._finished = True
            _append(self.folder / REQUESTS, {"stop": True})
        self.stop()

    def stop(self, grace: float = 0.0) -> int:
        """Stop reading the evaluator's answers. It is not told (see :meth:`finish`): after an interruption or a
        crash it waits for the session the chief's next start opens."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._reader.join(max(grace, self.poll_seconds) + 5)
        return 0

    def error(self) -> RunError:
        age = heartbeat_age(self.model_dir)
        said = "has never said it runs" if age is None else f"has said nothing for {age:.0f} s"
        return RunError(("evaluator task",), 1, [
            f"the evaluator task {said} ({mailbox(self.model_dir) / HEARTBEAT}); checkpoints wait for it",
            "it runs odspec run with TF_CONFIG's task type evaluator, and must see this model directory"])


# --- the evaluator's side ------------------------------------------------------------------------------------------

@dataclass
class _Session:
    name: str
    requests: _Tail
    answered: set[str] = field(default_factory=set)  # relative checkpoint paths with an answer in responses
    stop: bool = False


def current_session(model_dir: Path) -> str | None:
    try:
        return (mailbox(model_dir) / SESSION).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _open_session(model_dir: Path, name: str) -> _Session:
    folder = mailbox(model_dir) / name
    answered = {str(r.get(_path_key(r))) for r in json_lines(_Tail(folder / RESPONSES).new_lines())
                if r.get("event") in ANSWERS}
    return _Session(name, _Tail(folder / REQUESTS), answered)


def _ended(model_dir: Path, name: str) -> bool:
    return any(r.get("stop") is True for r in json_lines(_Tail(mailbox(model_dir) / name / REQUESTS).new_lines()))


def beat(model_dir: Path, stopped: threading.Event, seconds: float = HEARTBEAT_SECONDS) -> threading.Thread:
    """Rewrite the heartbeat every ``seconds`` until ``stopped`` is set (a thread, started)."""
    def run() -> None:
        while True:
            with contextlib.suppress(OSError):
                atomic_write(mailbox(model_dir) / HEARTBEAT, f"{time.time():.3f}".encode())
            if stopped.wait(seconds):
                return

    mailbox(model_dir).mkdir(parents=True, exist_ok=True)
    thread = threading.Thread(target=run, name="evaluator-heartbeat", daemon=True)
    thread.start()
    return thread


class Evaluations:
    """The evaluator task's bookkeeping: which session it serves, what it has sent its child, where answers go.

    Pure of processes: :func:`odspec.runner.session.execute_evaluator` feeds it the child's lines and sends what
    :meth:`requests` returns to the child.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.session: _Session | None = None
        self.sent: dict[str, str] = {}  # relative checkpoint path -> the session that asked for it
        self.evaluated = 0
        # a session that had ended before this evaluator started is an earlier run's: wait for the chief's next
        found = current_session(model_dir)
        self.earlier = found if found is not None and _ended(model_dir, found) else None

    def requests(self) -> list[str]:
        """New checkpoint paths (absolute, this task's view) to evaluate, in the order the chief asked."""
        name = current_session(self.model_dir)
        if name == self.earlier:
            return []
        if name is not None and (self.session is None or name != self.session.name):
            self.session = _open_session(self.model_dir, name)
        if self.session is None:
            return []
        due = []
        for record in json_lines(self.session.requests.new_lines()):
            if record.get("stop") is True:
                self.session.stop = True
            checkpoint = record.get("checkpoint")
            if isinstance(checkpoint, str) and checkpoint not in self.session.answered and \
                    self.sent.get(checkpoint) != self.session.name:
                self.sent[checkpoint] = self.session.name
                due.append(absolute(self.model_dir, checkpoint))
        return due

    @property
    def stopped(self) -> bool:
        """The current session's run has ended: what it asked for and is still unanswered is not wanted."""
        return self.session is not None and self.session.stop

    def answer(self, record: dict[str, Any]) -> None:
        """One line of the child's: to the session that asked for its checkpoint (dropped if that one is gone)."""
        event = record.get("event")
        if event not in ("eval-start", *ANSWERS):
            return
        out, key = dict(record), _path_key(record)
        if not isinstance(out.get(key), str):
            return
        out[key] = asked = relative(self.model_dir, out[key])
        session = self.sent.get(asked)
        if session is None:
            return
        if event in ANSWERS:
            del self.sent[asked]
            self.evaluated += event == "evaluated"
        with contextlib.suppress(FileNotFoundError):  # the session's folder went with a chief's --restart
            _append(mailbox(self.model_dir) / session / RESPONSES, out)
        if event in ANSWERS and self.session is not None and session == self.session.name:
            self.session.answered.add(asked)
