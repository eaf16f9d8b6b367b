"""The build's forked helpers (worker pool, report renderer) end when a failed build stops them,
whatever SIGTERM handler the process had installed (``odspec run`` installs one; so may a caller);
the renderer is background work."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCENARIO = textwrap.dedent("""
    import signal, time
    from odspec.build import _Helpers

    def swallow(signum, frame):  # the worst inherited handler: it neither exits nor raises
        pass

    signal.signal(signal.SIGTERM, swallow)
    for attempt in range(5):  # the failure comes right after the fork, before a child could change anything
        try:
            with _Helpers(2):
                raise RuntimeError("build failed")
        except RuntimeError:
            pass
    assert signal.getsignal(signal.SIGTERM) is swallow, "the caller's handler is put back"
    print("ended")
""")


def test_a_failed_build_ends_its_helpers_even_under_a_swallowing_sigterm_handler() -> None:
    done = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ended"


DRAWER = textwrap.dedent("""
    import time
    from odspec.build import _Helpers

    with _Helpers(1) as helpers:  # left without drawing: the drawer sees the pipe close and ends
        pid = helpers.drawer.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # it imports matplotlib as soon as it starts, then waits
            with open(f"/proc/{pid}/maps") as maps:
                loaded = "_backend_agg" in maps.read()
            with open(f"/proc/{pid}/stat") as stat:
                nice = int(stat.read().rpartition(")")[2].split()[16])  # field 19 of proc(5)
            if loaded:
                break
            time.sleep(0.05)
    print(loaded, nice, helpers.drawer.exitcode)
""")


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads the drawer's /proc entries (Linux)")
def test_the_report_drawer_imports_matplotlib_before_the_report_and_at_the_lowest_priority() -> None:
    """It draws beside the shard writers; niced, it takes only the core time they leave, and the slow import is
    paid while the build inspects images. Never told to draw, it ends when the build's helpers do."""
    done = subprocess.run([sys.executable, "-c", DRAWER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "19", "0"]
