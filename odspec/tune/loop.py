"""``odspec tune``'s loop: ask Optuna for a trial, train it as an ordinary odspec run, report, tell, repeat.

Each trial is a folder of the tune folder (``trial-0003/``) holding its resolved spec (``spec.yaml``) and the
default build and model folders of that spec (``build/<project>``, ``runs/<project>``), so ``odspec status``,
``export`` and ``predict`` work on it as on any spec. The study lives in Optuna's RDB storage (SQLite in the
tune folder by default, or any database URL), which is what several ``odspec tune`` processes share.

A trial is never run twice: a new trial is created (or a waiting one claimed) atomically by the storage
(``study.ask``). A trial whose process died is failed once and queued again with the same values
(Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`); whoever claims that copy resumes the
dead trial's folder from its checkpoints. A process knows at once that a trial of its own machine is dead (its
pid is gone); a trial of another machine is known dead when its heartbeat is older than :data:`GRACE_SECONDS`.

Optuna is imported inside each function (tests/unit/test_imports.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.errors import OdspecError, RunInterrupted
from odspec.spec.load import LoadedSpec
from odspec.spec.models import Objective, Tune
from odspec.tune.results import TrialRecord, TrialState, table_text

if TYPE_CHECKING:
    import optuna

    from odspec.runner.run_events import EvaluatedEvent
    from odspec.runner.session import RunOutcome

HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 300  # a trial of another machine with no heartbeat for this long is taken to be dead
SCHEMA_ATTEMPTS = 5  # opening a new database while another process makes its tables
STUDY_DB = "study.db"
MARKER = "tune.json"
TRIAL_SPEC = "spec.yaml"
# user attributes odspec keeps on each trial
OWNER, FOLDER, BEST_STEP, STEPS, REASON = "odspec_owner", "odspec_folder", "odspec_best_step", "odspec_steps", \
    "odspec_reason"
BASELINE = "odspec_baseline"  # the trial of the spec's own values (tune.baseline)

# what trains one trial: (trial spec, why to stop after an evaluation) -> the run's outcome; api.run in use
Train = Callable[[Path, Callable[["EvaluatedEvent"], "str | None"]], "RunOutcome"]
OnTrial = Callable[[str, Mapping[str, Any]], None]  # (what happened, details), for the CLI's live table


def tune_folder(loaded: LoadedSpec) -> Path:
    """Where a spec's search keeps its trials and results: ``runs/<project>-tune`` beside the spec."""
    return loaded.root / "runs" / f"{loaded.spec.project}-tune"


def default_storage(folder: Path) -> str:
    return f"sqlite:///{folder / STUDY_DB}"


def storage_url(url: str) -> str:
    """``postgresql://`` means psycopg (version 3) when psycopg2, SQLAlchemy's default driver, is not installed."""
    import importlib.util

    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain) and importlib.util.find_spec("psycopg2") is None:
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def shown_url(url: str) -> str:
    """The URL without its password, for messages and tune.json."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in credentials else ''}@{host}"


def study_fields(loaded: LoadedSpec) -> dict[str, Any]:
    """What a study is the search of: the spec (without ``tune``) and the block bar its budget. Trials of one
    study are comparable; any change here is another study."""
    tune = loaded.spec.tune
    assert tune is not None
    return {"spec": loaded.spec.model_dump(mode="json"),
            "tune": tune.model_dump(mode="json", exclude={"trials", "timeout_minutes"})}


def study_name(loaded: LoadedSpec) -> str:
    """``<project>-<digest of study_fields>``: every machine tuning the same spec joins the same study."""
    import hashlib

    digest = hashlib.sha256(json.dumps(study_fields(loaded), sort_keys=True).encode()).hexdigest()
    return f"{loaded.spec.project}-{digest[:10]}"


# --- Optuna ---------------------------------------------------------------------------------------------------------

def open_study(loaded: LoadedSpec, objective: Objective, url: str, *, create: bool = True) -> optuna.Study:
    """The spec's study in ``url``'s storage (created unless ``create`` is off: then OdspecError when missing)."""
    import optuna

    from odspec.tune.study import direction, make_pruner, make_sampler

    tune = loaded.spec.tune
    assert tune is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(url)
    name = study_name(loaded)
    sampler, pruner = make_sampler(tune, loaded.spec.train.seed), make_pruner(tune)
    if not create:
        try:
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        except KeyError:
            raise OdspecError(f"no study of this spec in {shown_url(url)} yet (study {name})",
                              f"run `odspec tune {loaded.path}` first") from None
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                               direction=direction(objective), load_if_exists=True)


def _storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage of ``url``; the first process to open a new database makes its tables, and one that
    opens it at the same moment waits for them (Optuna creates them without a lock)."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(SCHEMA_ATTEMPTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return optuna.storages.RDBStorage(
                    storage_url(url), heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
                    engine_kwargs={"pool_pre_ping": True})
            except ImportError as err:
                raise OdspecError(f"cannot open the study storage {shown_url(url)}: {err}",
                                  "for PostgreSQL install its driver: pip install 'odspec[postgresql]'") from None
            except (sqlalchemy.exc.SQLAlchemyError, ValueError) as err:
                racing = isinstance(err, sqlalchemy.exc.IntegrityError) or "already exists" in str(err) \
                    or "locked" in str(err)
                if racing and attempt + 1 < SCHEMA_ATTEMPTS:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise OdspecError(f"cannot open the study storage {shown_url(url)}: {str(err).splitlines()[0]}",
                                  "check the URL, e.g. sqlite:///runs/study.db or postgresql://user@host/db"
                                  ) from None
    raise AssertionError("unreachable")


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Fail (and queue again) the running trials whose process is dead: of this machine at once (its pid is gone),
    of any machine once its heartbeat is stale. The trial numbers failed by this call."""
    import optuna
    from optuna.trial import TrialState as State

    storage = study._storage
    failed: list[int] = []
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(State.RUNNING,)):
        owner = trial.user_attrs.get(OWNER) or {}
        if owner.get("host") == host and isinstance(owner.get("pid"), int) and owner["pid"] != os.getpid() \
                and not _alive(owner["pid"]):
            try:
                if storage.set_trial_state_values(trial._trial_id, state=State.FAIL):
                    failed.append(trial.number)
                    _retry(study, storage.get_trial(trial._trial_id))
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another process failed it first, and queued it again
    before = {t.number for t in study.get_trials(deepcopy=False, states=(State.FAIL,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    failed += sorted({t.number for t in study.get_trials(deepcopy=False, states=(State.FAIL,))} - before)
    return failed


def _rdb(study: optuna.Study) -> Any:
    """The study's storage: the RDBStorage :func:`open_study` made, with its heartbeat (Optuna puts a cache in
    front of it, which passes heartbeats on)."""
    storage = study._storage
    assert hasattr(storage, "record_heartbeat") and hasattr(storage, "get_heartbeat_stale_trial_callback")
    return storage


def _retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a copy of a failed trial (same values, its folder), as Optuna does for a trial whose heartbeat stopped."""
    callback = _rdb(study).get_heartbeat_stale_trial_callback()
    if callback is not None:
        callback(study, trial)


def origin(trial: optuna.trial.FrozenTrial) -> int | None:
    """The trial number a retried trial continues (its folder is that trial's); None: a trial of its own."""
    system = trial.system_attrs
    history = system.get("retry_history")
    if isinstance(history, list) and history:
        return int(history[0])
    failed = system.get("failed_trial")
    return int(failed) if isinstance(failed, int) else None


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials the budget counts: all but the failed ones queued again (their copy counts instead)."""
    from optuna.trial import TrialState as State

    retried = {n for t in trials for n in (t.system_attrs.get("retry_history") or [])}
    return sum(1 for t in trials if not (t.state == State.FAIL and t.number in retried))


@contextlib.contextmanager
def heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every :data:`HEARTBEAT_SECONDS` while it trains."""
    storage = _rdb(study)
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is not an error; GRACE_SECONDS allows ten
                storage.record_heartbeat(trial_id)
            if stop.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=beat, name=f"odspec-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


# --- the loop -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TuneContext:
    loaded: LoadedSpec
    tune: Tune
    objective: Objective
    folder: Path
    url: str


def trial_folder(folder: Path, number: int) -> Path:
    return folder / f"trial-{number:04d}"


def best_of(values: list[float], mode: str) -> tuple[int, float] | None:
    """(index, value) of the best finite value, first on ties; None when none is finite."""
    finite = [(i, v) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return None
    pick = max if mode == "max" else min
    return pick(finite, key=lambda item: item[1])


def run_study(ctx: TuneContext, study: optuna.Study, train: Train, *, trials: int | None, on_trial: OnTrial,
              timeout_minutes: float | None = None) -> None:
    """Run trials until the study holds ``trials`` (counted by :func:`counted`), the time is up, or the grid is
    exhausted. Each trial's results (table, leaderboard, best.yaml) are written before the next one starts."""
    from odspec.spec.models import GridSampler
    from odspec.tune.study import make_sampler, suggest, trial_seed

    started = time.monotonic()
    _queue_baseline(ctx, study, on_trial)
    while True:
        dead = fail_dead_trials(study)
        if dead:
            on_trial("requeued", {"trials": dead})
        done = counted(study.get_trials(deepcopy=False))
        if trials is not None and done >= trials:
            return
        if timeout_minutes is not None and time.monotonic() - started >= timeout_minutes * 60:
            on_trial("timeout", {"minutes": timeout_minutes})
            return
        sampler = study.sampler
        if hasattr(sampler, "is_exhausted") and sampler.is_exhausted(study):
            on_trial("exhausted", {})
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with Study.optimize": ours beats
            trial = study.ask()
        if not isinstance(ctx.tune.sampler, GridSampler):  # the grid's cell is chosen by ask (before_trial)
            study.sampler = make_sampler(ctx.tune, trial_seed(ctx.loaded.spec.train.seed, trial.number))
        suggest(trial, ctx.tune.space)  # an enqueued trial (the baseline, a retry) keeps its values
        _run_trial(ctx, study, trial, train, on_trial)
        found = write_results(ctx, study, plots=False)[1]
        on_trial("table", {"text": table_text(found, list(ctx.tune.space), ctx.objective)})


def _queue_baseline(ctx: TuneContext, study: optuna.Study, on_trial: OnTrial) -> None:
    """A new study's first trial trains the spec's own values (``tune.baseline``), when they lie in the space."""
    from odspec.spec.models import GridSampler
    from odspec.tune.resolve import current_values
    from odspec.tune.study import baseline

    if not ctx.tune.baseline or isinstance(ctx.tune.sampler, GridSampler) or study.get_trials(deepcopy=False):
        return
    values = current_values(ctx.loaded.data, ctx.loaded.spec, list(ctx.tune.space))
    params, said = baseline(ctx.tune.space, values)
    if params is None:
        on_trial("no-baseline", {"reason": said})
        return
    study.enqueue_trial(params, user_attrs={BASELINE: True}, skip_if_exists=True)
    on_trial("baseline", {"values": said})


def _run_trial(ctx: TuneContext, study: optuna.Study, trial: optuna.Trial, train: Train, on_trial: OnTrial) -> None:
    from optuna.trial import TrialState as State

    from odspec.io import atomic_write
    from odspec.runner.metrics import read_metrics
    from odspec.tune.resolve import trial_spec_text
    from odspec.tune.study import FIRST_STEP, decode

    values = decode(ctx.tune.space, trial.params)
    first = origin(study._storage.get_trial(trial._trial_id))
    folder = trial_folder(ctx.folder, trial.number if first is None else first)
    spec_path = folder / TRIAL_SPEC
    trial.set_user_attr(OWNER, _owner())
    trial.set_user_attr(FOLDER, str(folder))
    header = (f"Trial {trial.number} of tuning {ctx.loaded.path.name} (study {study.study_name}); written by "
              f"odspec tune.\nTuned: " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()))
    text = trial_spec_text(ctx.loaded.data, values, ctx.loaded.root, header=header)
    atomic_write(spec_path, text.encode("utf-8"))
    on_trial("start", {"number": trial.number, "values": values, "folder": str(folder), "resumes": first,
                       "baseline": bool(trial.user_attrs.get(BASELINE))})

    mode, metric = ctx.objective.mode, ctx.objective.metric
    seen: list[float] = []
    steps: list[int] = []
    pruned: list[str] = []  # why the pruner stopped the trial, once it has

    def report(step: int, value: float) -> str | None:
        seen.append(value)
        steps.append(step)
        if math.isfinite(value):
            trial.report(value, len(seen) - 1 + FIRST_STEP)
        if not pruned and trial.should_prune():
            pruned.append(f"pruned by the tuner at evaluation {len(seen)} (step {step}, {metric} {value:.4g})")
        return pruned[0] if pruned else None

    from odspec.spec.load import default_model_dir, load_spec

    for row in read_metrics(default_model_dir(load_spec(spec_path))):  # a resumed trial's evaluations so far
        report(row.step, row.metrics.get(metric, math.nan))

    def stop_when(event: EvaluatedEvent) -> str | None:
        raw = event.metrics.get(metric)
        return report(event.step, math.nan if raw is None else float(raw))

    outcome = None
    try:
        with heartbeat(study, trial._trial_id):
            if not pruned:
                outcome = train(spec_path, stop_when)
    except (KeyboardInterrupt, RunInterrupted):
        study.tell(trial, state=State.FAIL)  # queued again, so the next odspec tune resumes its folder
        _retry(study, study._storage.get_trial(trial._trial_id))
        raise
    except OdspecError as err:
        trial.set_user_attr(REASON, str(err).splitlines()[0])
        study.tell(trial, state=State.FAIL)
        on_trial("failed", {"number": trial.number, "error": str(err)})
        return
    best = best_of(seen, mode)
    if best is not None:
        trial.set_user_attr(BEST_STEP, steps[best[0]])
    trained = outcome.trained_to if outcome is not None else (max(steps) if steps else None)
    if trained is not None:
        trial.set_user_attr(STEPS, trained)
    if pruned:
        trial.set_user_attr(REASON, pruned[0])
        study.tell(trial, state=State.PRUNED)
        on_trial("pruned", {"number": trial.number, "reason": pruned[0], "value": None if best is None else best[1]})
    elif best is None:
        trial.set_user_attr(REASON, f"no evaluation reported {metric}")
        study.tell(trial, state=State.FAIL)
        on_trial("failed", {"number": trial.number, "error": f"no evaluation reported {metric}"})
    else:
        study.tell(trial, best[1])
        on_trial("complete", {"number": trial.number, "value": best[1], "step": steps[best[0]]})


# --- reading a study ----------------------------------------------------------------------------------------------

_STATES: dict[str, TrialState] = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed",
                                  "RUNNING": "running", "WAITING": "waiting"}


def records(study: optuna.Study, tune: Tune, mode: str) -> list[TrialRecord]:
    """Every trial of the study as the results writers take them."""
    from odspec.tune.study import decode

    found: list[TrialRecord] = []
    for trial in study.get_trials(deepcopy=False):
        state = _STATES.get(trial.state.name, "failed")
        value = trial.value if state == "complete" else None
        if state == "pruned" and trial.intermediate_values:
            best = best_of(list(trial.intermediate_values.values()), mode)
            value = None if best is None else best[1]
        try:
            params = decode(tune.space, trial.params) if len(trial.params) == len(tune.space) else dict(trial.params)
        except (KeyError, ValueError):
            params = dict(trial.params)
        found.append(TrialRecord(number=trial.number, params=params, state=state, value=value,
                                 best_step=trial.user_attrs.get(BEST_STEP), steps=trial.user_attrs.get(STEPS),
                                 model_dir=str(trial.user_attrs.get(FOLDER, "")),
                                 baseline=bool(trial.user_attrs.get(BASELINE))))
    return found


# --- the tune folder ----------------------------------------------------------------------------------------------

TUNE_FORMAT = "odspec-tune-1"
RESULTS_CSV, LEADERBOARD, BEST_YAML, PLOTS = "results.csv", "leaderboard.md", "best.yaml", "plots"


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): data}


def changed_fields(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Dotted fields that differ between two :func:`study_fields` (``spec.`` and ``tune.`` dropped from names)."""
    old, new = _flat(dict(before)), _flat(dict(now))
    return sorted(k.split(".", 1)[1] if "." in k else k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def claim_tune_folder(loaded: LoadedSpec, folder: Path, url: str) -> None:
    """``folder`` may hold this study's trials: new, empty, or this spec's search. Writes ``tune.json``."""
    from odspec.folders import claim, has_marker, only_entries
    from odspec.io import atomic_write, partial_write_pattern

    marked, writing = has_marker(MARKER), only_entries(partial_write_pattern(MARKER))  # another tune writing it now
    # In this order: another tune may rename its marker into place (and open study.db) between the two looks, and
    # the marker, once there, stays; looking for it first could miss it, then find more than its temporary file.
    target = claim(folder, owned=lambda f: writing(f) or marked(f), kind="tune")
    fields, name = study_fields(loaded), study_name(loaded)
    marker = target / MARKER
    if marker.is_file():
        try:
            held = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            held = {}
        if isinstance(held, dict) and held.get("study") not in (None, name):
            differ = changed_fields(held.get("fields") or {}, fields)
            raise OdspecError(
                f"{target} holds the trials of study {held.get('study')}, and this spec's search is another one "
                f"({', '.join(differ[:8]) or 'the spec'} changed{' …' if len(differ) > 8 else ''}): its trials "
                "could not be compared with these",
                f"undo the change, or move {target} away to start a new search")
    document = {"format": TUNE_FORMAT, "study": name, "storage": shown_url(url), "spec": str(loaded.path.resolve()),
                "fields": fields}
    atomic_write(marker, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def curves(study: optuna.Study) -> dict[int, list[tuple[int, float]]]:
    """Each trial's reported values: trial number -> (evaluation, value)."""
    return {t.number: sorted((int(k), float(v)) for k, v in t.intermediate_values.items())
            for t in study.get_trials(deepcopy=False) if t.intermediate_values}


def importances(study: optuna.Study) -> tuple[dict[str, float] | None, str | None]:
    """fANOVA importances of the tuned fields, or why there are none (fewer than two complete trials, ...)."""
    import optuna
    from optuna.trial import TrialState as State

    complete = study.get_trials(deepcopy=False, states=(State.COMPLETE,))
    if len(complete) < 2:
        return None, f"importances need 2 complete trials; the study has {len(complete)}"
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as err:
        return None, f"no importances: {err}"
    return ({k: float(v) for k, v in found.items()} or None), "no tuned field varied across the complete trials"


def write_results(ctx: TuneContext, study: optuna.Study, *,
                  plots: bool = True) -> tuple[list[Path], list[TrialRecord]]:
    """``results.csv``, ``leaderboard.md``, ``best.yaml`` (once a trial completed) and the plots, each atomically;
    the files written and the trials they show."""
    from odspec.io import atomic_write
    from odspec.tune import plots as tune_plots
    from odspec.tune.results import best_trial, best_yaml, leaderboard_markdown, results_csv

    found = records(study, ctx.tune, ctx.objective.mode)
    paths = list(ctx.tune.space)
    written: dict[Path, bytes] = {
        ctx.folder / RESULTS_CSV: results_csv(found, paths).encode("utf-8"),
        ctx.folder / LEADERBOARD: leaderboard_markdown(found, paths, ctx.objective).encode("utf-8"),
    }
    best = best_trial(found, ctx.objective)
    if best is not None:
        written[ctx.folder / BEST_YAML] = best_yaml(ctx.loaded.data, best, ctx.objective, ctx.loaded.path,
                                                    ctx.folder).encode("utf-8")
    if plots:
        shown, reason = importances(study)
        folder = ctx.folder / PLOTS
        written[folder / tune_plots.HISTORY_PNG] = tune_plots.render_history_png(found, ctx.objective)
        written[folder / tune_plots.IMPORTANCES_PNG] = tune_plots.render_importances_png(shown, reason)
        written[folder / tune_plots.CURVES_PNG] = tune_plots.render_curves_png(found, curves(study), ctx.objective)
    for path, data in written.items():
        atomic_write(path, data)
    return list(written), found
