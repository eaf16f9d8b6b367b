"""How fast the TensorFlow-free paths answer: `odspec --help`, `validate`, `build`, `plan`, `models`.

Runs each command several times in fresh processes and reports the median wall
time, plus whether TensorFlow was imported (read from `python -X importtime`).
Target (issue 2): --help and validate under 0.5 s, never importing TensorFlow; (issue 12) a no-op
`odspec plan` under 0.5 s too (it runs after `build`, so it plans against that build).

    .venv/bin/python benchmarks/cli_latency.py [--repeat 7] [--spec specs/example.yaml]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "odspec", *args], cwd=REPO, capture_output=True)
        if done.returncode != 0:  # a no-op plan exits 0 as well; anything else is not what is measured
            raise SystemExit(f"`odspec {' '.join(args)}` exited {done.returncode}: {done.stderr.decode()}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imports_tensorflow(args: list[str]) -> bool:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "odspec", *args], cwd=REPO, capture_output=True, text=True)
    return any(line.rstrip().endswith((" tensorflow", " tensorflow.python")) for line in result.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--spec", default="specs/example.yaml")
    options = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="odspec-bench-"))
    commands = {
        "odspec --help": ["--help"],
        "odspec validate": ["validate", options.spec],
        "odspec build": ["build", options.spec, "--out", str(out)],
        "odspec plan": ["plan", options.spec, "--out", str(out)],
        "odspec models": ["models"],
    }
    print(f"{'command':<18} {'median s':>9}  tensorflow imported")
    for label, args in commands.items():
        seconds = timed(args, options.repeat)
        print(f"{label:<18} {seconds:>9.3f}  {'YES' if imports_tensorflow(args) else 'no'}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
