"""The one module that spawns processes: children that die with odspec (Linux's parent-death signal, looked up
without importing anything heavy), and git, for `odspec plan --base REV`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
_prctl: list[Callable[..., int] | None] = []  # libc's prctl, looked up once in the parent


def parent_death_signal() -> Callable[..., int] | None:
    if not _prctl:
        try:
            import ctypes

            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _prctl.append(None)  # not Linux: the caller's cleanup still applies
    return _prctl[0]


def die_with_parent(parent: int) -> None:  # pragma: no cover (runs in a forked child)
    """Have Linux SIGKILL this forked child when ``parent`` dies, even by SIGKILL (and exit if it already has).

    Fork such children inside :func:`default_sigterm`, so that their SIGTERM is the default from the start.
    """
    prctl = _prctl[0] if _prctl else None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


@contextmanager
def default_sigterm() -> Iterator[None]:
    """SIGTERM at its default while children are forked, so that terminating one always ends it.

    A child inherits the parent's Python-level handler (``odspec run`` turns SIGTERM into Ctrl-C). Such a handler
    runs only at the child's next bytecode, and if the child has meanwhile set SIGTERM back to its default, CPython
    drops the pending signal: the child lives on and whoever joins it waits for ever. Forked with the default, the
    kernel ends it at once. (Only the main thread may change handlers; elsewhere nothing is changed.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def json_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON objects among a child's output lines (TensorFlow's logging is interleaved with them)."""
    found = []
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    found.append(value)
    return found
def git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``git -C folder ARGS`` with its output captured; PlanError when git is not installed."""
    from odspec.errors import PlanError

    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise PlanError(
            "git is not installed, so --base cannot read a revision", "install git, or drop --base"
        ) from None


def git_toplevel(folder: Path) -> Path:
    """The root of the git work tree ``folder`` is in; PlanError when it is in none."""
    from odspec.errors import PlanError

    done = git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise PlanError(
            f"{folder}: not in a git repository, so --base has no revision to read",
            "run odspec plan inside the repository, or drop --base",
        )
    return Path(done.stdout.decode().strip())


def git_show(top: Path, revision: str, path: str) -> bytes | None:
    """The bytes of ``path`` (relative to the work tree root ``top``) at ``revision``; None when it did not exist.

    PlanError when the revision itself is unknown. Nothing is checked out.
    """
    from odspec.errors import PlanError

    resolved = git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if resolved.returncode != 0:
        raise PlanError(
            f"git revision {revision!r} not found in {top}",
            "fetch it first (e.g. `git fetch origin main`), or name a branch, tag or commit",
        )
    commit = resolved.stdout.decode().strip()
    listed = git(top, "ls-tree", "--name-only", commit, "--", path)
    if listed.returncode != 0 or not listed.stdout.strip():
        return None
    shown = git(top, "show", f"{commit}:{path}")
    if shown.returncode != 0:
        raise PlanError(f"git show {revision}:{path} failed: {shown.stderr.decode(errors='replace').strip()}")
    return shown.stdout
