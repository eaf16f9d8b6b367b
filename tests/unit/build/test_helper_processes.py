"""The build's forked helpers (worker pool, report renderer) end when a failed build stops them,
whatever SIGTERM handler the process had installed (``odspec run`` installs one; so may a caller)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
