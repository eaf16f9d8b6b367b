"""The one place in odspec that starts child processes.

TensorFlow runs in children so a crash, a hang or a leaked thread cannot take
the caller down with it, and so the OD API's compatibility patches stay out of
the caller's process. Each child leads its own process group, which lets us stop
it together with anything it spawned: on timeout or Ctrl-C we send SIGTERM to
the group, wait a grace period, then SIGKILL what is left, so no child outlives
the call; and the kernel kills a child whose parent dies (PR_SET_PDEATHSIG), so
none outlives odspec even after ``kill -9``.

Each child also gets a temporary folder of its own (``TMPDIR``, ``TEMP`` and ``TMP``
point there), removed as soon as the child has ended, however it ended: TensorFlow's
autograph writes a ``__autograph_generated_file*.py`` there for every function it
converts (hundreds per training run) and never deletes them. The folder is made
inside ``temp_parent`` (the model directory, for training and evaluation), so what a
killed odspec leaves stays beside the run, where :func:`remove_stale_temp` finds it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from odspec.errors import RunError
from odspec.procs import PR_SET_PDEATHSIG, _prctl, parent_death_signal

logger = logging.getLogger(__name__)

TAIL_LINES = 40
GRACE_SECONDS = 5.0
TEMP_PREFIX = ".odspec.tmp-"
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")


def make_temp(parent: Path | None) -> Path:
    """A new private temporary folder for one child, in ``parent`` (created if need be) or the system's."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))


def temp_env(folder: Path) -> dict[str, str]:
    return {name: os.fspath(folder) for name in TEMP_VARIABLES}


def remove_stale_temp(parent: Path) -> list[Path]:
    """Delete the temporary folders children of an odspec that was killed left in ``parent``; returns them.

    Call it only where no child can be running (the model directory, under its lock).
    """
    stale = sorted(p for p in parent.glob(f"{TEMP_PREFIX}*") if p.is_dir() and not p.is_symlink())
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


@dataclass(frozen=True)
class Completed:
    """A child that exited (with code 0 unless run with ``check=False``), with everything it printed
    (stdout and stderr, interleaved)."""

    command: tuple[str, ...]
    lines: tuple[str, ...]
    seconds: float
    returncode: int = 0

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


class _OutputReader:
    """Drains the child's pipe on a thread, so a chatty child never blocks on a full pipe."""

    def __init__(self, stream: IO[str], on_line: Callable[[str], None]) -> None:
        self.lines: list[str] = []
        self._stream = stream
        self._on_line = on_line
        self._thread = threading.Thread(target=self._drain, name="odspec-output", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._stream:
            for raw in self._stream:
                line = raw.rstrip("\r\n")
                self.lines.append(line)
                self._on_line(line)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for end of output (every holder of the pipe has exited); True if it came."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def tail(self, count: int = TAIL_LINES) -> list[str]:
        return list(collections.deque(self.lines, maxlen=count))

def run_module(
    module: str,
    args: list[str],
    *,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    on_line: Callable[[str], None] | None = None,
    grace: float = GRACE_SECONDS,
    check: bool = True,
    temp_parent: Path | None = None,
) -> Completed:
    """Run ``python -m module args...`` with this interpreter and wait for it.

    ``env`` is added to (and overrides) this process's environment rather than
    replacing it, so PATH and the venv keep working. Each output line goes to
    ``on_line`` (default: this module's logger at DEBUG) as it arrives.
    Raises :class:`RunError` on a non-zero exit (unless ``check`` is false) or after ``timeout`` seconds;
    on Ctrl-C the child's group is stopped and ``KeyboardInterrupt`` propagates. The child's temporary folder
    (in ``temp_parent``, default the system's) is removed in every case.
    """
    command = (sys.executable, "-m", module, *args)
    logger.info("running %s%s", shlex.join(command), f" in {cwd}" if cwd else "")
    started = time.monotonic()
    temp = make_temp(temp_parent)
    try:
        proc = _spawn(command, {**temp_env(temp), **(env or {})}, cwd)
        assert proc.stdout is not None
        output = _OutputReader(proc.stdout, on_line or _log_line)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc, output, grace)
            raise RunError(command, proc.returncode, output.tail(), timeout=timeout) from None
        except BaseException:
            _stop_group(proc, output, grace)
            raise
        if not output.join(grace):
            _stop_group(proc, output, grace)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    seconds = time.monotonic() - started
    logger.info("exit code %d after %.1f s: %s", returncode, seconds, shlex.join(command))
    if returncode != 0 and check:
        raise RunError(command, returncode, output.tail())
    return Completed(command=command, lines=tuple(output.lines), seconds=seconds, returncode=returncode)


def _spawn(command: tuple[str, ...], env: Mapping[str, str] | None, cwd: str | Path | None = None, *,
           stdin: bool = False) -> subprocess.Popen[str]:
    """Start ``command`` leading its own process group, killed by the kernel if this process dies first."""
    posix = os.name == "posix"
    if posix:
        _parent_death_signal()  # resolved here, before the fork: the child only calls it
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=cwd,
        preexec_fn=_die_with_parent if posix else None,  # noqa: PLW1509 (it only calls setsid and prctl)
        creationflags=0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def _stop_group(proc: subprocess.Popen[str], output: _OutputReader, grace: float) -> None:
    """SIGTERM the child's whole group, give it ``grace`` seconds to finish, then SIGKILL what is left.

    End of output means the pipe's holders (child and grandchildren) have exited, so
    a well-behaved group costs no waiting; the final SIGKILL catches the rest.
    """
    deadline = time.monotonic() + grace
    _signal_group(proc, kill=False)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    output.join(max(0.0, deadline - time.monotonic()))
    _signal_group(proc, kill=True)
    proc.wait()
    output.join(grace)


def _signal_group(proc: subprocess.Popen[str], *, kill: bool) -> None:
    if os.name != "posix":  # no process groups to signal; stop the child alone
        if kill:
            proc.kill()
        else:
            proc.terminate()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)


def _log_line(line: str) -> None:
    logger.debug("| %s", line)


# --- long-lived children ---------------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = PR_SET_PDEATHSIG
_parent_death_signal = parent_death_signal


def _die_with_parent() -> None:  # pragma: no cover (runs in the forked child before exec)
    """Lead a new process group, and have Linux SIGKILL this child if its parent dies, even by SIGKILL."""
    os.setsid()
    prctl = _prctl[0] if _prctl else None
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Child:
    """A ``python -m module`` child that runs beside the caller: its lines go to ``on_line`` as they arrive.

    Unlike :func:`run_module` the caller does not block: it reacts to the lines
    (``on_line`` is called on a reader thread, so hand them to a queue), may
    write lines to the child's stdin with :meth:`send`, and must end with
    :meth:`stop` or :meth:`wait`. The child leads its own process group and is
    killed by the kernel if this process dies first, so even ``kill -9`` of odspec
    leaves no child running.
    """

    def __init__(self, module: str, args: list[str], *, on_line: Callable[[str], None], stdin: bool = False,
                 env: Mapping[str, str] | None = None, name: str = "child", temp_parent: Path | None = None) -> None:
        self.name = name
        self.command = (sys.executable, "-m", module, *args)
        logger.info("starting %s: %s", name, shlex.join(self.command))
        self.started = time.monotonic()
        self.temp = make_temp(temp_parent)
        try:
            self._proc = _spawn(self.command, {**temp_env(self.temp), **(env or {})}, stdin=stdin)
        except BaseException:
            shutil.rmtree(self.temp, ignore_errors=True)
            raise
        assert self._proc.stdout is not None
        self._output = _OutputReader(self._proc.stdout, on_line)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll(self) -> int | None:
        return self._proc.poll()

    def send(self, line: str) -> None:
        """One line to the child's stdin; a child that has exited is ignored (its exit code tells why)."""
        if self._proc.stdin is None:
            raise RuntimeError(f"{self.name} was started without stdin")
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def close_stdin(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def wait(self, timeout: float | None = None) -> int:
        """The exit code once the child has exited and its output is read; RunError after ``timeout``."""
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RunError(self.command, self._proc.returncode, self._output.tail(), timeout=timeout) from None
        self._output.join(GRACE_SECONDS)
        self._remove_temp()
        return code

    def stop(self, grace: float = GRACE_SECONDS) -> int:
        """SIGTERM the child's group, SIGKILL it after ``grace`` seconds; returns the exit code."""
        if self._proc.poll() is None:
            _stop_group(self._proc, self._output, grace)
        else:
            _signal_group(self._proc, kill=True)  # anything the exited child left in its group
            self._output.join(grace)
        self.close_stdin()
        code = self._proc.wait()
        self._remove_temp()
        return code

    def _remove_temp(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)

    def error(self) -> RunError:
        """The failure of a child that exited non-zero, with the tail of its output."""
        return RunError(self.command, self._proc.returncode, self._output.tail())

    def tail(self, count: int = TAIL_LINES) -> list[str]:
        return self._output.tail(count)
