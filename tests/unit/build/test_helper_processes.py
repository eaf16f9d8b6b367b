"""The build's forked helpers (worker pool, report renderer) end when a failed build stops them,
whatever SIGTERM handler the process had installed (``odspec run`` installs one; so may a caller);
the renderer is background work."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCENARIO = textwrap.dedent("""
    import signal, tempfile, time
    from pathlib import Path
    from odspec.build import _Helpers

    def swallow(signum, frame):  # the worst inherited handler: it neither exits nor raises
        pass

    signal.signal(signal.SIGTERM, swallow)
    scratch = tempfile.mkdtemp()
    for attempt in range(5):  # the failure comes right after the fork, before a child could change anything
        try:
            with _Helpers(2, Path(scratch)):
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
    import tempfile, time
    from pathlib import Path
    from odspec.build import _Helpers

    with _Helpers(1, Path(tempfile.mkdtemp())) as helpers:  # left without drawing: the drawer sees the pipe close and ends
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
def test_the_report_drawer_imports_matplotlib_before_the_report_at_the_builds_own_priority() -> None:
    """The slow import is paid while the build inspects images. Not niced: on a machine busy with training a niced
    drawer got no core time, and every build waited for it. Never told to draw, it ends when the build's helpers do."""
    done = subprocess.run([sys.executable, "-c", DRAWER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(os.nice(0)), "0"]


STARVED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import odspec.build
    from odspec.build import _Helpers
    from odspec.datasets.model import Box
    from odspec.datasets.report import ReportTally

    odspec.build.DRAW_WAIT_SECONDS = 0.5
    folder = Path(sys.argv[1])

    tally = ReportTally()
    for index in range(5000):  # 20,000 boxes: the report is far more than a pipe holds
        tally.add(str(index), "train", 640, 480, [Box("cat", 1, 2, 30 + k + index % 97, 40 + k) for k in range(4)])
    report = tally.report([], ["cat"])
    with _Helpers(1, Path(sys.argv[2])) as helpers:
        os.kill(helpers.drawer.pid, signal.SIGSTOP)  # stopped: draw() must not wait for it
        helpers.draw(report, folder / "report.png")
        helpers.finish_drawing(report, folder / "report.png")
        print(helpers.drawer.exitcode == -signal.SIGKILL, (folder / "report.png").read_bytes() == report.png_bytes(),
              sorted(p.name for p in folder.iterdir()))
""")


def test_a_stopped_report_drawer_is_not_waited_for_the_build_draws_the_report_itself(tmp_path: Path) -> None:
    """A drawer that hangs or is stopped: the build waits DRAW_WAIT_SECONDS, stops it and draws the same figure
    itself, leaving nothing half-written."""
    (tmp_path / "stage").mkdir()
    (tmp_path / "work").mkdir()
    argv = [sys.executable, "-c", STARVED, str(tmp_path / "stage"), str(tmp_path / "work")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True ['report.png']"
