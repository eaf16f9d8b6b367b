"""Learning parity between odspec's stacks: the same spec and data, trained on each stack, side by side.

For every stack given as NAME=PYTHON (a venv's interpreter with odspec installed), and for each of --runs rounds
(stacks interleaved, one run at a time, so the machine's load falls on all of them alike):

1. ``PYTHON -m odspec.cli run SPEC --model-dir DIR --no-export --output json`` on a copy of the bundled example
   (its dataset paths made absolute; --steps and --every change its length and checkpoint cadence);
2. from the run's own events: the mAP of every checkpoint (``metrics.jsonl``, the rows ``odspec status`` shows),
   the steady step time and the graph-tracing time (the launcher's ``train-finished`` event: the median time per
   step after the first iteration, and the first iteration's excess over it), and the run's wall time.

It prints one table per stack and a summary (mean and spread of the best and final mAP, median step and tracing
time), and with --json writes every figure. Training is unseeded until train.seed exists (issue 11), so compare
the spread of several runs, not single figures.

    .venv/bin/python benchmarks/stack_parity.py --stack tf2.20=.venv/bin/python \\
        --stack tf2.15=.venv-tf2.15/bin/python [--runs 2] [--steps 500] [--every 100] [--json parity.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO), str(REPO / "tests")]

from support import variant  # noqa: E402 - tests/support.py

from odspec.runner.metrics import read_metrics  # noqa: E402 - after the checkout is put first on sys.path

MAP = "DetectionBoxes_Precision/mAP"


@dataclass
class RunFigures:
    stack: str
    python: str
    versions: dict[str, str]
    map_by_step: dict[int, float] = field(default_factory=dict)
    step_seconds: float | None = None
    trace_seconds: float | None = None
    wall_seconds: float = 0.0
    exit_code: int = 0


VERSIONS = ("import importlib.metadata as m, json, sys\n"
            "names = ['tensorflow', 'tf-keras', 'tf-models-official', 'tf-models-research-object-detection',"
            " 'protobuf', 'numpy', 'pillow']\n"
            "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return 'absent'\n"
            "print(json.dumps({'python': sys.version.split()[0], **{n: v(n) for n in names}}))")


def one_run(stack: str, python: str, spec: Path, model_dir: Path) -> RunFigures:
    versions = json.loads(subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, check=True).stdout)
    figures = RunFigures(stack, python, versions)
    started = time.monotonic()
    command = [python, "-m", "odspec.cli", "run", str(spec), "--model-dir", str(model_dir), "--no-export",
               "--output", "json"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=spec.parent)
    figures.wall_seconds = round(time.monotonic() - started, 1)
    figures.exit_code = proc.returncode
    for line in proc.stdout.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "train-finished":
            figures.step_seconds = event.get("step_seconds")
            figures.trace_seconds = event.get("trace_seconds")
    if proc.returncode != 0:
        print(f"{stack}: odspec run exited {proc.returncode}:\n{proc.stderr[-3000:]}", file=sys.stderr)
    figures.map_by_step = {row.step: round(row.metrics[MAP], 4) for row in read_metrics(model_dir) if MAP in row.metrics}
    return figures


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def report(runs: list[RunFigures]) -> str:
    lines = []
    for stack in dict.fromkeys(r.stack for r in runs):
        mine = [r for r in runs if r.stack == stack]
        v = mine[0].versions
        lines.append(f"## {stack}: Python {v['python']}, TensorFlow {v['tensorflow']}, tf-keras {v['tf-keras']}, "
                     f"OD API {v['tf-models-research-object-detection']}, protobuf {v['protobuf']}, numpy {v['numpy']}")
        steps = sorted({s for r in mine for s in r.map_by_step})
        lines.append("run  " + "  ".join(f"{s:>6}" for s in steps) + "   step s  trace s   wall s")
        for number, r in enumerate(mine, 1):
            cells = "  ".join(f"{r.map_by_step[s]:6.3f}" if s in r.map_by_step else "     -" for s in steps)
            step = f"{r.step_seconds:.3f}" if r.step_seconds else "-"
            trace = f"{r.trace_seconds:.0f}" if r.trace_seconds is not None else "-"
            lines.append(f"{number:>3}  {cells}   {step:>6}  {trace:>7}  {r.wall_seconds:7.0f}"
                         + ("" if r.exit_code == 0 else f"  (exit {r.exit_code})"))
        best = [max(r.map_by_step.values()) for r in mine if r.map_by_step]
        final = [r.map_by_step[max(r.map_by_step)] for r in mine if r.map_by_step]
        step_times = [r.step_seconds for r in mine if r.step_seconds]
        traces = [r.trace_seconds for r in mine if r.trace_seconds is not None]
        lines.append(f"best mAP {spread(best)}; final mAP {spread(final)}; median step "
                     f"{statistics.median(step_times) if step_times else float('nan'):.3f} s; median tracing "
                     f"{statistics.median(traces) if traces else float('nan'):.0f} s")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stack", action="append", required=True, metavar="NAME=PYTHON")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders here (default: a temp folder, removed)")
    args = parser.parse_args()
    stacks = [tuple(s.split("=", 1)) for s in args.stack]
    if any(len(s) != 2 for s in stacks):
        parser.error("--stack takes NAME=PYTHON")
    root = args.keep or Path(tempfile.mkdtemp(prefix="odspec-parity-"))
    root.mkdir(parents=True, exist_ok=True)
    runs: list[RunFigures] = []
    try:
        # every run goes the whole way (no early stopping), so the curves compare step for step
        spec = variant(root, "parity", {"train.steps": args.steps, "train.checkpoint_every": args.every,
                                        "early_stopping": None})
        for round_number in range(1, args.runs + 1):
            for name, python in stacks:
                model_dir = root / f"{name}-{round_number}"
                shutil.rmtree(model_dir, ignore_errors=True)
                print(f"[{time.strftime('%H:%M:%S')}] {name} run {round_number} ...", file=sys.stderr, flush=True)
                runs.append(one_run(name, python, spec, model_dir))
                print(report([r for r in runs if r.stack == name][-1:]), file=sys.stderr, flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(report(runs))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0 if all(r.exit_code == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
