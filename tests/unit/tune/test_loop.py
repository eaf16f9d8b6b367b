"""The study loop on real Optuna storage (SQLite) with a stand-in for training.

What stands in for ``odspec run`` here is the ``train`` callable the loop is given: it reads the trial's spec
as odspec wrote it, reports evaluations whose value follows from the trial's learning rate, appends them to the
model directory's metrics.jsonl as a run does, and stops when the loop's ``stop_when`` says so. The real OD API
runs the same loop in tests/integration/test_tune_odapi.py.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from odspec import api
from odspec.errors import OdspecError
from odspec.runner.metrics import append_metrics, read_metrics
from odspec.runner.run_events import EvaluatedEvent
from odspec.runner.session import RunOutcome
from odspec.spec.load import default_model_dir, load_spec
from odspec.tune import loop
from tests.support import MAP, imported_modules, variant

STEPS = (50, 100, 150)
TUNE = {"space": {"train.learning_rate.base": {"choices": [0.08, 0.04, 0.02, 0.01]}},
        "objective": {"metric": MAP, "mode": "max"}, "trials": 4, "sampler": "grid",
        "pruner": {"type": "median", "startup_trials": 1, "warmup_evaluations": 0}}


def spec_with(tmp_path: Path, **tune: Any) -> Path:
    return variant(tmp_path, "tuned", {"tune": {**TUNE, **tune}, "train.steps": STEPS[-1]})


class FakeTrain:
    """Evaluations at STEPS; mAP = lr * 10 * (evaluation number): the largest learning rate is best at every
    evaluation, so once one trial has completed, a smaller learning rate is behind the median and pruned."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[float, Path]] = []
        self.interrupt_at = interrupt_at
        self.lock = threading.Lock()

    def __call__(self, spec_path: Path, stop_when: Callable[[EvaluatedEvent], str | None]) -> RunOutcome:
        loaded = load_spec(spec_path)
        rate = loaded.spec.train.learning_rate.base  # type: ignore[union-attr]
        model_dir = default_model_dir(loaded)
        model_dir.mkdir(parents=True, exist_ok=True)
        with self.lock:
            self.calls.append((rate, spec_path.parent))
        done = {row.step for row in read_metrics(model_dir)}
        trained, stopped = 0, None
        for index, step in enumerate(STEPS, start=1):
            trained = step
            if step in done:
                continue
            if self.interrupt_at is not None and len(self.calls) == self.interrupt_at and index == 2:
                raise KeyboardInterrupt
            value = rate * 10 * index
            append_metrics(model_dir, step, {MAP: value}, checkpoint=f"ckpt-{index}")
            stopped = stop_when(EvaluatedEvent(step=step, checkpoint=f"ckpt-{index}", metric=MAP, value=value,
                                               improved=True, best_step=step, best_value=value, metrics={MAP: value},
                                               seconds=0.0))
            if stopped:
                break
        return RunOutcome(model_dir, trained, stopped, None, 0, [], None)


def context(spec: Path) -> loop.TuneContext:
    return api._tune_context(spec, None, None)


def study_of(spec: Path) -> optuna.Study:
    ctx = context(spec)
    return loop.open_study(ctx.loaded, ctx.objective, ctx.url, create=False)


@pytest.fixture(autouse=True)
def trains_with_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """api.tune trains each trial with api.run: here, with the FakeTrain the test passes in ``TRAIN``."""
    def fake_run(trial_spec: Path, **kwargs: Any) -> api.RunResult:
        assert kwargs["export"] is False  # a trial is never exported: its spec is there to export it
        train = TRAIN[threading.current_thread().name]
        return api.RunResult(None, train(trial_spec, kwargs["stop_when"]), None)

    monkeypatch.setattr(api, "run", fake_run)


TRAIN: dict[str, FakeTrain] = {}


def tune(spec: Path, train: FakeTrain, told: list[tuple[str, dict[str, Any]]] | None = None,
         **options: Any) -> api.TuneResult:
    TRAIN[threading.current_thread().name] = train
    seen = told if told is not None else []
    return api.tune(spec, on_trial=lambda what, details: seen.append((what, dict(details))), **options)


def test_a_study_runs_its_trials_prunes_the_behind_ones_and_writes_its_results(tmp_path: Path) -> None:
    spec = spec_with(tmp_path)
    train = FakeTrain()
    result = tune(spec, train)
    states = {r.number: r.state for r in result.trials}
    assert len(states) == 4
    assert sorted(rate for rate, _ in train.calls) == [0.01, 0.02, 0.04, 0.08]
    by_rate = {r.params["train.learning_rate.base"]: r for r in result.trials}
    # the first trial completes whatever it is (startup_trials: 1); every later one that is behind is pruned
    first = min(result.trials, key=lambda r: r.number)
    assert first.state == "complete"
    for record in result.trials:
        if record.number != first.number and record.params["train.learning_rate.base"] < \
                first.params["train.learning_rate.base"]:
            assert record.state == "pruned", record
            assert record.steps == STEPS[0]  # stopped at its first evaluation
    assert "pruned" in states.values()
    best = max((r for r in result.trials if r.state == "complete"), key=lambda r: r.value or 0)
    assert best is by_rate[max(r for r in by_rate if by_rate[r].state == "complete")]
    folder = result.folder
    assert folder == tmp_path / "runs" / "shapes-tune"
    for name in ("results.csv", "leaderboard.md", "best.yaml", "tune.json", "plots/history.png",
                 "plots/importances.png", "plots/curves.png"):
        assert (folder / name).is_file(), name
    assert (folder / "plots" / "history.png").read_bytes().startswith(b"\x89PNG")
    csv_lines = (folder / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("trial,state,value")
    board = (folder / "leaderboard.md").read_text()
    assert f"| 1 | {best.number} | complete | {best.value:.4f} |" in board
    best_spec = folder / "best.yaml"
    loaded = load_spec(best_spec)
    assert loaded.spec.train.learning_rate.base == best.params["train.learning_rate.base"]  # type: ignore[union-attr]
    assert loaded.spec.tune is None  # the winner is a plain spec, valid as it is
    api.validate(best_spec, check_data=False)
    for record in result.trials:  # every trial's spec is beside its model directory
        trial_spec = Path(record.model_dir) / "spec.yaml"
        assert yaml.safe_load(trial_spec.read_text())["train"]["learning_rate"]["base"] == \
            record.params["train.learning_rate.base"]


def test_asking_for_more_trials_runs_only_the_difference(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, sampler="random")
    train = FakeTrain()
    tune(spec, train, trials=2)
    assert len(train.calls) == 2
    tune(spec, train, trials=3)
    assert len(train.calls) == 3
    assert len(study_of(spec).trials) == 3


def test_an_interrupted_trial_is_queued_and_the_next_tune_resumes_its_folder(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, pruner="none")  # trial 1 lives to its second evaluation, where it is interrupted
    train = FakeTrain(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        tune(spec, train)
    study = study_of(spec)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    interrupted = study.trials[1]
    assert len(read_metrics(Path(interrupted.user_attrs[loop.FOLDER]) / "runs" / "shapes")) == 1  # step 50 kept
    assert (tmp_path / "runs" / "shapes-tune" / "results.csv").is_file()  # written on the way out too

    again = FakeTrain()
    result = tune(spec, again)
    # the queued copy ran first, in the interrupted trial's folder, with its values
    assert again.calls[0] == (train.calls[1][0], train.calls[1][1])
    copy = next(r for r in result.trials if r.number == 2)
    assert copy.model_dir == interrupted.user_attrs[loop.FOLDER]
    assert copy.state in ("complete", "pruned")
    # four trials count: the failed one was resumed by its copy
    assert loop.counted(study_of(spec).trials) == 4
    assert sum(1 for r in result.trials if r.state != "failed") == 4
    rates = [r.params["train.learning_rate.base"] for r in result.trials if r.state != "failed"]
    assert sorted(rates) == [0.01, 0.02, 0.04, 0.08]  # no value ran twice


def test_a_trial_whose_process_died_is_requeued_by_the_next_tune(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, sampler="random", trials=2)
    ctx = context(spec)
    loop.claim_tune_folder(ctx.loaded, ctx.folder, ctx.url)
    study = loop.open_study(ctx.loaded, ctx.objective, ctx.url)
    dead = subprocess.Popen(["true"])
    dead.wait()
    from odspec.tune.study import distributions

    trial = study.ask(fixed_distributions=distributions(ctx.tune.space))
    trial.set_user_attr(loop.OWNER, {"host": __import__("socket").gethostname(), "pid": dead.pid})
    trial.set_user_attr(loop.FOLDER, str(loop.trial_folder(ctx.folder, trial.number)))
    train = FakeTrain()
    told: list[tuple[str, dict[str, Any]]] = []
    tune(spec, train, told)
    assert ("requeued", {"trials": [0]}) in told
    after = study_of(spec).trials
    assert after[0].state == TrialState.FAIL
    assert after[1].system_attrs["failed_trial"] == 0
    assert train.calls[0][1] == loop.trial_folder(ctx.folder, 0)
    assert loop.counted(after) == 2 and len(train.calls) == 2


def test_two_processes_on_one_study_never_run_a_trial_twice(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, trials=4)
    train = FakeTrain()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            tune(spec, train)
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    folders = [folder for _, folder in train.calls]
    assert len(folders) == len(set(folders))  # each trial's folder trained by one process only
    trials = study_of(spec).trials
    assert len({t.number for t in trials}) == len(trials)
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}


def test_a_tune_starting_while_another_writes_its_marker_claims_the_folder(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The race two processes hit (seen in CI): one looks at the new folder while the other's marker is still its
    temporary file, and the other renames it into place and opens study.db before the first looks again."""
    from odspec import folders

    spec = spec_with(tmp_path, trials=1)
    ctx = api._tune_context(spec, None, None)
    ctx.folder.mkdir(parents=True)
    (ctx.folder / f".{loop.MARKER}.abc123.tmp").write_text("{}")  # the other tune, mid atomic_write
    real = folders.has_marker

    def marker_lands_after_this_look(marker: str) -> Callable[[Path], bool]:
        seen = real(marker)

        def look(folder: Path) -> bool:
            found = seen(folder)
            (folder / f".{marker}.abc123.tmp").rename(folder / marker)  # the other tune goes on
            (folder / "study.db").write_bytes(b"")
            return found
        return look

    monkeypatch.setattr(folders, "has_marker", marker_lands_after_this_look)
    loop.claim_tune_folder(ctx.loaded, ctx.folder, ctx.url)  # owned: the other tune's marker, then this one's
    assert (ctx.folder / loop.MARKER).is_file()


def test_a_changed_spec_is_another_study_and_its_folder_is_refused(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, trials=1)
    tune(spec, FakeTrain())
    changed = variant(tmp_path, "tuned", {"tune": {**TUNE, "trials": 1}, "train.steps": STEPS[-1],
                                          "train.batch_size": 8})
    with pytest.raises(OdspecError, match=r"holds the trials of study shapes-\w+, and this spec's search is "
                                          r"another one \(train.batch_size changed\)"):
        tune(changed, FakeTrain())
    more = variant(tmp_path, "tuned", {"tune": {**TUNE, "trials": 2}, "train.steps": STEPS[-1]})
    assert len(tune(more, FakeTrain()).trials) == 2  # the budget is not part of the study


def test_status_reads_the_study_and_runs_nothing(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, trials=2)
    with pytest.raises(OdspecError, match="no search of this spec yet"):
        api.tune_status(spec)
    tune(spec, FakeTrain())
    found = api.tune_status(spec)
    assert [r.number for r in found.trials] == [0, 1] and found.written == []
    shown = subprocess.run([sys.executable, "-m", "odspec.cli", "tune", str(spec), "--status"], capture_output=True,
                           text=True, check=True).stdout
    assert shown.startswith(f"study {found.study} in {found.storage}: 2 trials\n")
    assert shown.splitlines()[1].split()[:3] == ["trial", "state", MAP]
    modules = imported_modules("tune", str(spec), "--status")
    assert "optuna" in modules and not any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules)


def test_a_spec_without_a_tune_block_says_how_to_write_one(tmp_path: Path) -> None:
    spec = variant(tmp_path, "plain", {})
    with pytest.raises(OdspecError, match="the spec has no tune block"):
        api.tune(spec)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://odspec:secret@db.example:5432/studies", "postgresql://odspec:***@db.example:5432/studies"),
    ("postgresql://odspec@127.0.0.1/studies", "postgresql://odspec@127.0.0.1/studies"),
    ("sqlite:////tmp/x/study.db", "sqlite:////tmp/x/study.db"),
])
def test_a_storage_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert loop.shown_url(url) == shown


def test_best_of_picks_the_first_best_finite_value() -> None:
    assert loop.best_of([0.1, math.nan, 0.3, 0.3], "max") == (2, 0.3)
    assert loop.best_of([0.1, math.nan, 0.05], "min") == (2, 0.05)
    assert loop.best_of([math.nan], "max") is None


def test_the_first_trial_of_a_new_study_is_the_specs_own_values(tmp_path: Path) -> None:
    """tune.baseline: the spec's learning rate (0.04, the largest choice) is trial 0 whatever the sampler draws,
    so with the median pruner after one finished trial every later trial, all behind it, is pruned."""
    told: list[tuple[str, dict[str, Any]]] = []
    spec = spec_with(tmp_path, sampler="random", trials=3,
                     space={"train.learning_rate.base": {"choices": [0.02, 0.04, 0.01]}})
    result = tune(spec, FakeTrain(), told)
    first = min(result.trials, key=lambda r: r.number)
    assert first.baseline and first.params == {"train.learning_rate.base": 0.04} and first.state == "complete"
    assert [r.baseline for r in result.trials].count(True) == 1
    later = [r for r in result.trials if r.number != first.number]
    assert len(later) == 2 and all(r.state == "pruned" for r in later if r.params != first.params)
    assert ("baseline", {"values": "train.learning_rate.base = 0.04"}) in told
    tables = [details["text"] for what, details in told if what == "table"]  # the live table, after each trial
    assert len(tables) == 3 and [len(t.splitlines()) for t in tables] == [2, 3, 4]
    assert tables[-1].splitlines()[1].startswith("0 (baseline)  complete")
    assert "0 (baseline)" in (result.folder / "leaderboard.md").read_text()
    # a second odspec tune on the study queues no second baseline
    again = tune(spec, FakeTrain(), trials=4)
    assert [r.baseline for r in again.trials].count(True) == 1 and len(again.trials) == 4


def test_no_baseline_when_the_specs_value_is_outside_the_space_or_it_is_switched_off(tmp_path: Path) -> None:
    told: list[tuple[str, dict[str, Any]]] = []
    outside = spec_with(tmp_path / "outside", sampler="random", trials=1,
                        space={"train.learning_rate.base": {"low": 0.011, "high": 0.03, "log": True}})
    result = tune(outside, FakeTrain(), told)
    assert ("no-baseline", {"reason": "train.learning_rate.base = 0.04 is outside the space"}) in told
    assert not result.trials[0].baseline
    off = spec_with(tmp_path / "off", sampler="random", trials=1, baseline=False)
    told.clear()
    assert not tune(off, FakeTrain(), told).trials[0].baseline
    assert not [what for what, _ in told if what in ("baseline", "no-baseline")]


def test_two_processes_on_a_seeded_study_draw_different_values(tmp_path: Path) -> None:
    """Each odspec tune has its own sampler, seeded from train.seed: the trial's number goes into its seed, so a
    second process does not repeat the first one's draws (and a study, rerun, repeats them)."""
    space = {"train.learning_rate.base": {"low": 0.011, "high": 0.08}}
    seeded = spec_with(tmp_path / "b", sampler="random", trials=1, baseline=False, space=space)
    data = yaml.safe_load(seeded.read_text())
    data["train"]["seed"] = 3
    seeded.write_text(yaml.safe_dump(data, sort_keys=False))
    first = tune(seeded, FakeTrain())
    second = tune(seeded, FakeTrain(), trials=2)  # another process: a new sampler with the same seed
    rates = [r.params["train.learning_rate.base"] for r in sorted(second.trials, key=lambda r: r.number)]
    assert len(rates) == 2 and rates[0] == first.trials[0].params["train.learning_rate.base"] and rates[0] != rates[1]
    again_dir = tmp_path / "c"
    again_dir.mkdir()
    again = again_dir / "tuned.yaml"
    again.write_text(seeded.read_text())
    rerun = tune(again, FakeTrain(), trials=2)
    assert [r.params["train.learning_rate.base"] for r in sorted(rerun.trials, key=lambda r: r.number)] == rates
