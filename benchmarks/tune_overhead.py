"""What ``odspec tune`` itself costs per trial, training left out: the study's bookkeeping on its storage.

Runs a study of the bundled example's spec whose trials do not train: ``api.run`` is replaced by a stand-in
that writes three evaluations to the trial's metrics.jsonl and reports them (so the pruner, the trial specs,
the user attributes and the results written after every trial are all real; only the OD API is not). Prints
the seconds per trial at the start and at the end of the study (results are rewritten after every trial, so
their cost grows with the study), and the final write with the plots.
Target: under 1 s per trial at 100 trials on SQLite (a trial trains for minutes).

    .venv/bin/python benchmarks/tune_overhead.py [--trials 100] [--storage postgresql://...] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from odspec import api  # noqa: E402
from odspec.runner.metrics import append_metrics  # noqa: E402
from odspec.runner.session import RunOutcome  # noqa: E402
from odspec.spec.load import default_model_dir, load_spec  # noqa: E402
from odspec.tune import loop  # noqa: E402

MAP = "DetectionBoxes_Precision/mAP"
STEPS = (100, 200, 300)


def stand_in(spec_path: Path, **options: Any) -> api.RunResult:
    """Three evaluations whose mAP follows the learning rate; stops when the loop says so."""
    loaded = load_spec(spec_path)
    rate = loaded.spec.train.learning_rate.base  # type: ignore[union-attr]
    model_dir = default_model_dir(loaded)
    model_dir.mkdir(parents=True, exist_ok=True)
    trained, stopped = 0, None
    for index, step in enumerate(STEPS, start=1):
        trained, value = step, min(rate, 0.1 - rate) * index
        append_metrics(model_dir, step, {MAP: value}, checkpoint=f"ckpt-{index}")
        stopped = options["stop_when"]({"event": "evaluated", "step": step, "checkpoint": f"ckpt-{index}",
                                        "metric": MAP, "value": value, "improved": True, "best_step": step,
                                        "best_value": value, "metrics": {MAP: value}, "seconds": 0.0})
        if stopped:
            break
    return api.RunResult(None, RunOutcome(model_dir, trained, stopped, None, 0, [], None), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--storage", default=None, help="a database URL (default: SQLite in the tune folder)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="odspec-tune-bench-") as tmp:
        spec = yaml.safe_load((REPO / "specs" / "example.yaml").read_text())
        for key in ("images", "annotations"):
            spec["dataset"][key] = str((REPO / "specs" / spec["dataset"][key]).resolve())
        spec["train"]["steps"] = STEPS[-1]
        spec["tune"] = {"space": {"train.learning_rate.base": {"low": 0.011, "high": 0.09, "log": True},
                                  "train.batch_size": {"choices": [4, 8]}},
                        "trials": args.trials, "pruner": {"type": "median", "startup_trials": 3}}
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        api.run = stand_in  # type: ignore[assignment]
        ends: list[float] = []
        api.tune(path, storage=args.storage, on_trial=lambda what, _d: ends.append(time.perf_counter())
                 if what in ("complete", "pruned", "failed") else None)
        ctx = api._tune_context(path, args.storage, None)
        study = loop.open_study(ctx.loaded, ctx.objective, ctx.url, create=False)
        started = time.perf_counter()
        loop.write_results(ctx, study)
        final = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    tenth = max(1, len(gaps) // 10)
    figures = {"trials": len(ends), "storage": "sqlite" if args.storage is None else loop.shown_url(args.storage),
               "first_tenth_s_per_trial": sum(gaps[:tenth]) / tenth,
               "last_tenth_s_per_trial": sum(gaps[-tenth:]) / tenth,
               "final_results_with_plots_s": final}
    for key, value in figures.items():
        print(f"{key:28} {value:.3f}" if isinstance(value, float) else f"{key:28} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
