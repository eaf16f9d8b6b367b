"""Children that die with odspec: Linux's parent-death signal, looked up without importing anything heavy."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

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

    SIGTERM is reset to its default: a handler the parent installed (``odspec run`` turns it into Ctrl-C) must not
    keep a helper alive when the parent terminates it.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    prctl = _prctl[0] if _prctl else None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
