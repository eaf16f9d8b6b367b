"""Training past one device, on this machine: 1 replica, 2 replicas and 2 workers, the same global batch.

Layouts (issue 13's benchmark), each on the bundled example (--steps steps, a checkpoint every --every, no early
stopping, no export), global batch ``train.batch_size`` (4) in every layout:

- ``1 replica``: the default strategy on the whole CPU;
- ``2 replicas``: ``runtime.replicas: 2``, MirroredStrategy over 2 logical CPU devices (2 per replica);
- ``2 workers``: ``runtime.workers: 2``, MultiWorkerMirroredStrategy, two processes on 127.0.0.1 ports, each
  started with the TF_CONFIG a TFJob would set (worker 0 is the chief), sharing one model directory.

For each layout it trains twice per repeat, one after the other, nothing else running (``--repeat N``: N pairs,
the order alternating, OD API first in odd pairs, so that drift in the machine's speed falls on both alike):

1. with the OD API's own loop, ``model_lib_v2.train_loop`` inside ``strategy.scope()`` (what ``model_main_tf2``
   does), the strategy built by odspec's launcher (``make_strategy``), seeded as odspec seeds (``launcher_env``,
   ``seed_everything``), the same steps per iteration, no evaluation;
2. with ``odspec run --no-export`` (the chief evaluating every ``--eval-every`` steps beside training; by default
   every checkpoint).

It prints, from each run's own ``steps_per_sec`` summaries (written by ``train_loop`` after every iteration; the
first iteration, which includes graph tracing, left out): the median steady step time, odspec's both over all its
iterations and over those that overlapped no evaluation (the like-for-like comparison: the evaluator shares the
two cores; ``--eval-every STEPS`` evaluates only at the end, so that every steady iteration is such a one); the
time from the process's start to the end of its first iteration less that iteration's steps at
the steady rate (start-up and tracing: "to first step"); the wall time; and the CPU seconds of each run's whole
process tree (odspec's: the CLI process, its trainer and its evaluator child; the OD API's: its one process), and
of odspec's CLI process alone. With repeats it prints every pair, then the medians.

Targets (issue 13): odspec's steady step time within 2 % of the OD API's own loop under the same strategy.

    .venv/bin/python benchmarks/distribute_speed.py [--steps 300] [--every 100] [--eval-every N]
        [--layouts one,mirrored,workers] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(REPO), str(REPO / "tests")]

from run_speed import eval_windows, overlaps_evaluation, rates  # noqa: E402 - benchmarks/ is sys.path[0]
from support import EXAMPLE, loopback_tf_configs, variant  # noqa: E402 - tests/support.py

from odspec.runner.argv import launcher_env  # noqa: E402 - after the checkout is put first on sys.path
from odspec.runner.launcher import steps_per_iteration  # noqa: E402

SEED = 0  # the spec's default train.seed, so both loops are seeded alike
DIRECT = """
import sys
from odspec.odapi import compat
compat.apply()
from object_detection import model_lib_v2
from odspec.distribute import distribution_of
from odspec.runner.launcher import make_strategy, seed_everything
config, model_dir, steps, per_iteration, replicas, workers, seed = sys.argv[1:8]
strategy, _ = make_strategy(distribution_of("cpu", int(replicas), int(workers)))
seed_everything(int(seed))
with strategy.scope():
    model_lib_v2.train_loop(pipeline_config_path=config, model_dir=model_dir, train_steps=int(steps),
                            checkpoint_every_n=int(per_iteration), num_steps_per_iteration=int(per_iteration),
                            checkpoint_max_to_keep=100)
"""
LAYOUTS = {"one": ("1 replica", 1, 1), "mirrored": ("2 replicas", 2, 1), "workers": ("2 workers", 1, 2)}  # replicas, workers


@dataclass
class Figures:
    step_seconds: float
    quiet_step_seconds: float | None  # odspec: iterations that overlapped no evaluation
    to_first_step: float
    wall_seconds: float
    cpu_seconds: float  # the whole process tree's, user + system
    top_cpu_seconds: float  # the started processes' own (odspec: the CLI alone; the OD API: everything)


def tf_configs(workers: int) -> list[str | None]:
    """The TF_CONFIG of each process (None: one machine, no cluster)."""
    return [None] if workers == 1 else [*loopback_tf_configs(workers)]


def _own_cpu(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` itself (not its children), from /proc; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_all(commands: list[list[str]], configs: list[str | None], env: dict[str, str]) -> tuple[float, float, float]:
    """Start one process per TF_CONFIG, wait for all; the wall time, the CPU seconds of every process tree and those
    of the started processes themselves (sampled every 0.5 s, so up to half a second short). Every one must succeed."""
    started = time.monotonic()
    cpu_before = _children_cpu()
    procs = []
    for command, config in zip(commands, configs, strict=True):
        child_env = {**os.environ, **env, **({"TF_CONFIG": config} if config else {})}
        procs.append(subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, cwd=REPO))
    own = [0.0] * len(procs)
    while any(p.poll() is None for p in procs):
        for index, proc in enumerate(procs):
            sampled = _own_cpu(proc.pid) if proc.poll() is None else None
            if sampled is not None:
                own[index] = sampled
        time.sleep(0.5)
    for proc in procs:
        assert proc.stderr is not None
        error = proc.stderr.read()
        proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(proc.args)} exited {proc.returncode}:\n{error[-4000:]}")
    return time.monotonic() - started, _children_cpu() - cpu_before, sum(own)


def figures_of(train_dir: Path, started_wall: float, per_iteration: int, timed: tuple[float, float, float],
               windows: list[tuple[float, float | None]] | None) -> Figures:
    found = rates(train_dir)
    if len(found) < 2:
        raise SystemExit(f"{train_dir}: fewer than two steps_per_sec summaries; raise --steps or lower --every")
    steady = [s for _, _, s in found[1:]]
    step = statistics.median(steady)
    first_wall = found[0][1]
    quiet = None
    if windows is not None:
        calm = [s for _, w, s in found[1:] if not overlaps_evaluation(windows, w, s * per_iteration)]
        quiet = statistics.median(calm) if calm else None
    wall, cpu, top = timed
    return Figures(step, quiet, first_wall - started_wall - per_iteration * step, wall, cpu, top)


def example_spec(folder: Path, steps: int, every: int, eval_every: int, replicas: int, workers: int) -> Path:
    warmup = yaml.safe_load(EXAMPLE.read_text())["train"]["learning_rate"]["warmup_steps"]
    return variant(folder, "bench", {
        "train.steps": steps, "train.checkpoint_every": every, "train.keep_checkpoints": 100, "train.seed": SEED,
        "eval.every": eval_every,
        "train.learning_rate.warmup_steps": min(warmup, steps // 4),  # a short --steps keeps its warm-up inside
        "dataset.shards": 2,  # one per worker
        "early_stopping": None, "export": {"saved_model": False},
        "runtime": {"accelerator": "cpu", "replicas": replicas, "workers": workers}})


def one_layout(name: str, root: Path, steps: int, every: int, eval_every: int, repeat: int) -> tuple[Figures, Figures]:
    """A pair per repeat (printed as it ends); the medians over the pairs, OD API then odspec."""
    _, replicas, workers = LAYOUTS[name]
    folder = root / name
    spec = example_spec(folder, steps, every, eval_every, replicas, workers)
    odspec = [sys.executable, "-m", "odspec"]
    subprocess.run([*odspec, "build", str(spec)], check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    config = next((folder / "build").glob("*/pipeline.config"))
    per_iteration = steps_per_iteration(0, steps, every)

    def direct(run_dir: Path) -> Figures:
        argv = [str(config), str(run_dir), str(steps), str(per_iteration), str(replicas), str(workers), str(SEED)]
        started = time.time()
        timed = start_all([[sys.executable, "-c", DIRECT, *argv]] * workers, tf_configs(workers), launcher_env(SEED))
        return figures_of(run_dir / "train", started, per_iteration, timed, None)

    def ours(run_dir: Path) -> Figures:
        command = [*odspec, "run", str(spec), "--model-dir", str(run_dir), "--no-export", "--output", "json"]
        started = time.time()
        timed = start_all([command] * workers, tf_configs(workers), {})
        return figures_of(run_dir / "train", started, per_iteration, timed, eval_windows(run_dir))

    pairs = []
    for index in range(repeat):
        if index % 2 == 0:
            pair = direct(folder / f"direct-{index}"), ours(folder / f"odspec-{index}")
        else:
            mine = ours(folder / f"odspec-{index}")
            pair = direct(folder / f"direct-{index}"), mine
        pairs.append(pair)
        if repeat > 1:
            print_row(f"  pair {index + 1}", *pair)
    return _median(p[0] for p in pairs), _median(p[1] for p in pairs)


def _median(figures: Iterable[Figures]) -> Figures:
    listed = list(figures)
    quiet = [f.quiet_step_seconds for f in listed if f.quiet_step_seconds is not None]
    return Figures(statistics.median(f.step_seconds for f in listed), statistics.median(quiet) if quiet else None,
                   statistics.median(f.to_first_step for f in listed), statistics.median(f.wall_seconds for f in listed),
                   statistics.median(f.cpu_seconds for f in listed), statistics.median(f.top_cpu_seconds for f in listed))


def print_row(label: str, direct: Figures, ours: Figures) -> None:
    quiet = ours.quiet_step_seconds
    overhead = f"{(quiet / direct.step_seconds - 1) * 100:+.1f} %" if quiet else "-"
    print(f"{label:<11} {direct.step_seconds:13.4f} {ours.step_seconds:13.4f} "
          f"{quiet if quiet else float('nan'):14.4f} {overhead:>8} {ours.to_first_step:10.0f}s "
          f"{direct.to_first_step:7.0f}s {ours.wall_seconds:7.0f} {direct.wall_seconds:8.0f} "
          f"{ours.cpu_seconds:7.0f} {direct.cpu_seconds:8.0f} {ours.top_cpu_seconds:7.1f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=None,
                        help="odspec's evaluation cadence in steps (a multiple of --every); default: --every")
    parser.add_argument("--layouts", default="one,mirrored,workers", help="comma-separated: one, mirrored, workers")
    parser.add_argument("--data", type=Path, default=Path("/tmp/odspec-distribute-bench"))
    parser.add_argument("--repeat", type=int, default=1, help="pairs per layout, the order alternating")
    args = parser.parse_args()
    names = [n.strip() for n in args.layouts.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYOUTS]
    if unknown:
        parser.error(f"unknown layouts {unknown}; known: {', '.join(LAYOUTS)}")
    eval_every = args.eval_every or args.every
    if eval_every % args.every or args.steps % eval_every:
        parser.error(f"--eval-every {eval_every} must be a multiple of --every {args.every} and divide --steps")
    shutil.rmtree(args.data, ignore_errors=True)
    print(f"example, {args.steps} steps, a checkpoint every {args.every}, odspec evaluating every {eval_every}, "
          f"global batch 4, seeded ({SEED})")
    print(f"{'layout':<11} {'OD API s/step':>13} {'odspec s/step':>13} {'no-eval s/step':>14} {'overhead':>8} "
          f"{'to 1st step':>11} {'(OD API)':>8} {'wall s':>7} {'(OD API)':>8} {'CPU s':>7} {'(OD API)':>8} "
          f"{'CLI CPU s':>7}", flush=True)
    results = {}
    for name in names:
        print(f"[{time.strftime('%H:%M:%S')}] {LAYOUTS[name][0]} ...", file=sys.stderr, flush=True)
        results[name] = one_layout(name, args.data, args.steps, args.every, eval_every, args.repeat)
        print_row(LAYOUTS[name][0] + (" (median)" if args.repeat > 1 else ""), *results[name])
    if "one" in results:
        base = results["one"][1].step_seconds
        for name in names:
            if name != "one":
                print(f"{LAYOUTS[name][0]} vs 1 replica (odspec, all iterations): "
                      f"{results[name][1].step_seconds / base:.2f} x the step time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
