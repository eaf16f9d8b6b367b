"""``odspec run`` vs the OD API's own training loop on the same config: step time and checkpoint-to-eval latency.

1. builds the bundled example (or --spec) with --steps training steps and a checkpoint every --every steps;
2. trains it with the OD API directly: ``model_lib_v2.train_loop`` (what ``model_main_tf2`` calls), with the
   same steps per iteration odspec's launcher picks, in a child process, nothing else running;
3. trains it with ``odspec run --no-export --output json`` (training + an evaluation of every checkpoint);
4. prints, from each run's own ``steps_per_sec`` summaries (written by ``train_loop`` after every iteration):
   the median steady step time (first iteration, which includes graph tracing, left out), for odspec both over
   all iterations and over those that overlapped no evaluation; and the checkpoint -> evaluation-start latency.

Targets (issue 4): odspec's steady step time within 2 % of the OD API's; checkpoint to evaluation start < 10 s.

    .venv/bin/python benchmarks/run_speed.py [--steps 600] [--every 100] [--data /tmp/odspec-run-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO), str(REPO / "tests")]

from support import variant  # noqa: E402 - tests/support.py

from odspec.runner.events import read_events  # noqa: E402 - after the checkout is put first on sys.path
from odspec.runner.launcher import steps_per_iteration  # noqa: E402

DIRECT = """
import sys
from odspec.odapi import compat
compat.apply()
from object_detection import model_lib_v2
config, model_dir, steps, per_iteration = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model_lib_v2.train_loop(pipeline_config_path=config, model_dir=model_dir, train_steps=steps,
                        checkpoint_every_n=per_iteration, num_steps_per_iteration=per_iteration,
                        checkpoint_max_to_keep=100)
"""


def rates(train_dir: Path) -> list[tuple[int, float, float]]:
    """(step, wall time, seconds per step) of every ``steps_per_sec`` summary, by step."""
    from odspec.runner.events import event_files, tensor_scalar

    found = {}
    for path in event_files(train_dir):
        for event in read_events(path):
            for value in event.summary.value:
                if value.tag == "steps_per_sec":
                    number = value.simple_value if value.WhichOneof("value") == "simple_value" else tensor_scalar(value.tensor)
                    if number:
                        found[event.step] = (event.wall_time, 1.0 / number)
    return [(step, wall, seconds) for step, (wall, seconds) in sorted(found.items())]


def eval_windows(model_dir: Path) -> list[tuple[float, float | None]]:
    """(start, end) wall times of every evaluation in an ``odspec run``'s ``logs/eval.log`` (end None: unfinished)."""
    windows: list[tuple[float, float | None]] = []
    for line in (model_dir / "logs" / "eval.log").read_text().splitlines():
        if line.startswith('{"'):
            record = json.loads(line)
            if record.get("event") == "eval-start":
                windows.append((record["time"], None))
            elif record.get("event") == "evaluated" and windows:
                start = windows[-1][0]
                windows[-1] = (start, start + record["seconds"])
    return windows


def overlaps_evaluation(windows: list[tuple[float, float | None]], wall: float, seconds: float) -> bool:
    """Whether the iteration that ended at ``wall`` after ``seconds`` overlapped one of ``windows``."""
    begin = wall - seconds
    return any(start < wall and (end or wall) > begin for start, end in windows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=REPO / "specs" / "example.yaml")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--data", type=Path, default=Path("/tmp/odspec-run-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.data, ignore_errors=True)
    spec = variant(args.data, "bench", {"train.steps": args.steps, "train.checkpoint_every": args.every,
                                        "train.keep_checkpoints": 100, "export": {"saved_model": False},
                                        "early_stopping": None},  # time every checkpoint, do not stop
                   base=args.spec)
    odspec = [sys.executable, "-m", "odspec"]
    subprocess.run([*odspec, "build", str(spec)], check=True, stdout=subprocess.DEVNULL)
    config = args.data / "build" / yaml.safe_load(spec.read_text())["project"] / "pipeline.config"
    per_iteration = steps_per_iteration(0, args.steps, args.every)

    direct_dir = args.data / "direct"
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", DIRECT, str(config), str(direct_dir), str(args.steps), str(per_iteration)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    direct_seconds = time.monotonic() - started

    run_dir = args.data / "odspec"
    started = time.monotonic()
    done = subprocess.run([*odspec, "run", str(spec), "--model-dir", str(run_dir), "--no-export", "--output", "json"],
                          check=True, capture_output=True, text=True, cwd=REPO)
    run_seconds = time.monotonic() - started
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    latencies = [e["latency_seconds"] for e in events if e.get("event") == "eval-start" and e.get("latency_seconds") is not None]
    windows = eval_windows(run_dir)

    def overlaps(wall: float, seconds: float) -> bool:
        return overlaps_evaluation(windows, wall, seconds * per_iteration)

    direct = [s for _, _, s in rates(direct_dir / "train")[1:]]
    ours_all = rates(run_dir / "train")[1:]
    ours = [s for _, _, s in ours_all]
    quiet = [s for _, wall, s in ours_all if not overlaps(wall, s)]
    d, o = statistics.median(direct), statistics.median(ours)
    print(f"config: {config} ({args.steps} steps, {per_iteration} steps per iteration, checkpoint every {args.every})")
    print(f"OD API train_loop directly : {d:.4f} s/step (median of {len(direct)} iterations), {direct_seconds:.0f} s wall")
    print(f"odspec run (all iterations): {o:.4f} s/step -> {o / d:.3f} x direct, {run_seconds:.0f} s wall incl. "
          f"{len(latencies)} evaluations")
    if quiet:
        q = statistics.median(quiet)
        print(f"odspec run (no eval running): {q:.4f} s/step -> {q / d:.3f} x direct ({len(quiet)} iterations)")
    else:
        print("odspec run (no eval running): every iteration overlapped an evaluation")
    if latencies:
        print(f"checkpoint written -> its evaluation starts: max {max(latencies):.2f} s, median "
              f"{statistics.median(latencies):.2f} s (target < 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
