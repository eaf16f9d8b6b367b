"""The typed API behind the CLI: each call returns a result object or raises an OdspecError."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.catalogue import CATALOGUE, Architecture
from odspec.errors import OdspecError, SpecError, suggest
from odspec.io import FileChange
from odspec.project import (
    Validated,
    check_box_limits,
    compile_loaded,
    summarize_dataset,
    validate,
)
from odspec.spec.load import LoadedSpec, default_model_dir, default_out_dir, load_spec

if TYPE_CHECKING:
    from odspec.build import Progress
    from odspec.bundled_example import ExampleWritten
    from odspec.datasets.model import Finding
    from odspec.datasets.report import DatasetReport
    from odspec.deploy import Deployment, DeployOptions
    from odspec.distribute import ClusterTask
    from odspec.doctor import Report
    from odspec.errors import DatasetError
    from odspec.initspec import Survey
    from odspec.plan.model import Plan
    from odspec.reconcile.plan import Resume, Start
    from odspec.reconcile.record import RunRecord
    from odspec.reconcile.state import Best, ModelDirState
    from odspec.runner.exporting import ExportResult
    from odspec.runner.metrics import MetricsRow
    from odspec.runner.run_events import OnEvent
    from odspec.runner.session import RunOutcome, RunSetup, Selection, StopWhen
    from odspec.spec.models import Objective
    from odspec.tune.loop import OnTrial, TuneContext
    from odspec.tune.results import TrialRecord

__all__ = [  # validation lives in odspec.project, the default folders in odspec.spec.load (the plan uses both)
    "BuildResult", "DataCheck", "DeployResult", "InitResult", "RunResult", "RunStatus", "TuneResult", "Validated",
    "architectures", "build",
    "check_box_limits", "check_data", "claim_model_dir", "compile_loaded", "default_model_dir", "default_out_dir",
    "deploy", "doctor", "example", "export", "init", "plan", "predict", "preview", "protected_paths", "report", "run",
    "schema",
    "status", "summarize_dataset", "tune", "tune_status", "validate",
]


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    changes: list[FileChange]
    dry_run: bool
    findings: list[Finding]
    report_table: str | None


@dataclass(frozen=True)
class DataCheck:
    """What `validate --data` found: the build's findings and report, or why the build would stop."""

    validated: Validated
    findings: list[Finding]  # as the build would report them
    report: DatasetReport | None  # None when the build would stop
    stopped: DatasetError | None  # what the build would stop with
    cache_used: bool


def check_data(spec_path: Path, out_dir: Path | None = None, *, progress: Progress | None = None,
               workers: int | None = None) -> DataCheck:
    """Plan the dataset exactly as `odspec build` would (annotations, image headers, checks, split), writing nothing.

    The build folder's inspection cache is read when there is one; the plan's
    spill files live in a temporary folder that is removed before returning.
    """
    import tempfile

    from odspec.build import RECORD_FORMAT, needed_splits, no_progress, previous_splits, read_cache
    from odspec.datasets.pipeline import default_workers, plan_dataset
    from odspec.errors import DatasetCheckError, DatasetError, EmptySplitError

    validated = validate(spec_path, out_dir, check_data=False)
    loaded = validated.loaded
    cache = read_cache(validated.out_dir)
    with tempfile.TemporaryDirectory(prefix="odspec-check-") as workdir:
        try:
            plan = plan_dataset(
                loaded.root, loaded.spec.dataset, max_boxes=validated.max_boxes,
                check_read=lambda most: check_box_limits(validated, most), cache=cache,
                previous_splits=previous_splits(validated.out_dir),
                workers=workers or default_workers(), progress=progress or no_progress, salt=RECORD_FORMAT,
                workdir=Path(workdir), needed=needed_splits(loaded.spec))
        except (DatasetCheckError, EmptySplitError) as failed:  # both carry every finding, as the report would
            return DataCheck(validated, list(failed.findings), None, failed, bool(cache))
        except DatasetError as failed:
            return DataCheck(validated, [], None, failed, bool(cache))
        report = plan.report
        return DataCheck(validated, list(plan.findings) + report.class_warnings(), report, None, bool(cache))


@dataclass(frozen=True)
class InitResult:
    spec_path: Path
    survey: Survey
    lines: list[str]  # what was found, for people


def init(data_dir: Path, spec_path: Path | None = None, *, architecture: str | None = None,
         force: bool = False) -> InitResult:
    """Detect the dataset in ``data_dir``, and write a starting spec for it (atomically; never over a file
    unless ``force``). Default spec: ``./<project>.yaml``."""
    from odspec.datasets.layouts import detect_layout, read_layout
    from odspec.errors import DatasetError, OdspecError
    from odspec.initspec import DEFAULT_ARCHITECTURE, project_name_for, render_spec, spec_values, summary_lines, survey
    from odspec.io import atomic_write

    chosen = architecture or DEFAULT_ARCHITECTURE
    if chosen not in CATALOGUE:
        raise OdspecError(f"unknown architecture '{chosen}'{suggest(chosen, CATALOGUE)}", "`odspec models` lists them")
    root = data_dir.expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{data_dir}: not a folder", "give the folder your labelling tool exported")
    target = (spec_path or Path(f"{project_name_for(root.name)}.yaml")).expanduser().resolve()
    if target.exists() and not force:
        raise OdspecError(f"refusing to overwrite {target}", "name another file with --spec, or pass --force")
    layout = detect_layout(root)
    found = survey(layout.root, layout.format, layout.kind, read_layout(layout, None), layout.names_file)
    if not found.classes:
        raise DatasetError(f"{data_dir}: no labelled box found, so no class names",
                           "label some images first, or write the spec's dataset.classes by hand")
    text = render_spec(spec_values(found, target, chosen))
    atomic_write(target, text.encode("utf-8"))
    return InitResult(target, found, summary_lines(found, target))


def build(spec_path: Path, out_dir: Path | None = None, *, dry_run: bool = False,
          progress: Progress | None = None, workers: int | None = None, wait: bool = True,
          locked: bool = False) -> BuildResult:
    """Compile the spec and build its records; the previous build stays intact until the new one is complete.

    ``wait=False`` refuses, instead of waiting, when another build of the same folder is running.
    ``locked``: refuse (LockError, nothing written) when the build would not match the spec's lock file.
    """
    return _build(validate(spec_path, out_dir, check_data=False), dry_run=dry_run, progress=progress,
                  workers=workers, wait=wait, locked=locked)


def protected_paths(loaded: LoadedSpec) -> list[Path]:
    """What no output folder of odspec may be or contain: the spec's folder and the dataset's."""
    dataset = loaded.spec.dataset
    if dataset.path is not None:  # the export's root holds everything it has; detecting is not needed
        return [loaded.path.resolve().parent, loaded.root / dataset.path]
    return [loaded.path.resolve().parent, loaded.root / dataset.images_root,
            *(loaded.root / a for a in dataset.annotation_list)]


def _build(validated: Validated, *, dry_run: bool = False, progress: Progress | None = None,
           workers: int | None = None, wait: bool = True, locked: bool = False) -> BuildResult:
    from odspec.build import build_project, no_progress
    from odspec.folders import claim_build_folder

    claim_build_folder(validated.out_dir, protected_paths(validated.loaded))
    outcome = build_project(
        validated.loaded, validated.files, validated.out_dir,
        max_boxes=validated.max_boxes,
        check_read=lambda most: check_box_limits(validated, most),
        dry_run=dry_run, progress=progress or no_progress, workers=workers, wait=wait, locked=locked,
    )
    return BuildResult(validated.out_dir, outcome.changes, dry_run, outcome.findings, outcome.report_table)


def preview(spec_path: Path, out_dir: Path | None = None, *, split: str = "train", count: int = 16,
            image: Path | None = None) -> Path:
    """A contact sheet of ``count`` records of ``split``, decoded from the shards as written."""
    from odspec.datasets.preview import save_preview
    from odspec.datasets.shards import SHARD_GLOB
    from odspec.errors import BuildError
    from odspec.folders import claim_file
    from odspec.records.example import parse_example
    from odspec.records.tfrecord import read_records

    loaded = load_spec(spec_path)
    out = (out_dir or default_out_dir(loaded)).resolve()
    shards = sorted(out.glob(SHARD_GLOB.format(split=split)))
    if not shards:
        raise BuildError(f"no {split} records in {out}", f"run `odspec build {spec_path}` first")
    records = []
    for shard in shards:
        for data in read_records(shard):
            records.append(parse_example(data))
            if len(records) >= count:
                break
        if len(records) >= count:
            break
    target = claim_file(image or out.parent / f"{out.name}-preview-{split}.png")
    save_preview(records, target, max_images=count)
    return target


def architectures() -> list[Architecture]:
    return list(CATALOGUE.values())


def schema() -> dict[str, Any]:
    """JSON Schema of the spec, for editors."""
    from odspec.spec.models import Spec

    document = Spec.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "odspec project spec"
    return document


def example(target: Path) -> ExampleWritten:
    """Write the bundled example (spec + dataset) into ``target``, a new or empty folder."""
    from odspec.bundled_example import write_example

    return write_example(target)


# --- training ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunResult:
    build: BuildResult | None  # None: a worker beside the chief, which built
    outcome: RunOutcome
    export: ExportResult | None
    task: ClusterTask | None = None  # the cluster task this process trained as (None: one machine)


def _selection(validated: Validated) -> Selection:
    from odspec.runner.session import DEFAULT_METRICS, Selection

    spec = validated.loaded.spec
    stopping = spec.early_stopping
    if stopping is None:
        return Selection(DEFAULT_METRICS[spec.eval.metrics], "max", None)
    return Selection(stopping.metric, stopping.mode, stopping.patience, stopping.min_delta)


def _run_setup(validated: Validated, model_dir: Path, record: RunRecord, decided: Start | Resume,
               task: ClusterTask | None = None) -> RunSetup:
    from odspec.distribute import runtime_distribution
    from odspec.reconcile.plan import Resume
    from odspec.reconcile.record import read_run_record
    from odspec.runner.session import RunSetup
    from odspec.spec.defaults import checkpoint_every

    spec = validated.loaded.spec
    every = checkpoint_every(spec, validated.architecture)
    resume = decided if isinstance(decided, Resume) else None
    return RunSetup(
        pipeline_config=validated.out_dir / "pipeline.config", build_dir=validated.out_dir, model_dir=model_dir,
        record=record.continuing(read_run_record(model_dir) or record) if resume else record,
        action="resume" if resume else "start",
        start_step=(resume.checkpoint.step or 0) if resume else 0, num_steps=record.train_steps,
        checkpoint_every=every, eval_every=spec.eval.every or every, keep=spec.train.keep_checkpoints,
        selection=_selection(validated), changed=resume.changed if resume else [],
        warnings=resume.warnings if resume else [], seed=spec.train.seed,
        distribution=runtime_distribution(spec.runtime),
        batch_size=validated.config.train_config.batch_size, task=task,  # type: ignore[attr-defined]
        evaluator=spec.runtime.evaluator if task is not None else "chief")


def run(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None, restart: bool = False,
        export: bool = True, on_event: OnEvent | None = None, progress: Progress | None = None,
        stop_when: StopWhen | None = None) -> RunResult:
    """Build what is stale, then train, evaluate every checkpoint, stop early, keep the best, and export it.

    ``stop_when`` is asked after every evaluation (``odspec tune``'s pruner); a message stops training there."""
    from odspec.reconcile.record import new_run_record
    from odspec.runner.run_events import BuiltEvent, ExportedEvent, ExportStartEvent
    from odspec.runner.session import execute, locked, reconcile, versions

    validated = validate(spec_path, out_dir, check_data=False)
    task = cluster_task_of(validated)
    target = claim_model_dir(validated, model_dir or default_model_dir(validated.loaded))
    events = on_event or (lambda _event: None)
    if task is not None and task.kind == "evaluator":
        return _evaluate_beside_the_chief(validated, target, task, events)
    if task is not None and not task.is_chief:
        return _train_beside_the_chief(validated, target, task, events)
    _refuse_before_building(validated, target, restart=restart, progress=progress)
    built = _build(validated, progress=progress)
    events(BuiltEvent(build_dir=str(built.out_dir), findings=len(built.findings),
                      written=sum(c.change != "unchanged" for c in built.changes)))
    with locked(target):
        record = new_run_record(validated.loaded.spec, validated.out_dir, versions())
        decided = reconcile(target, record, restart=restart)
        outcome = execute(_run_setup(validated, target, record, decided, task), events, stop_when=stop_when)
        exported = None
        spec = validated.loaded.spec
        if export and spec.export.saved_model and outcome.best is not None and not _exported_already(
                target, outcome.best, spec.export.tflite):
            events(ExportStartEvent(step=outcome.best.step))
            exported = _export(validated, target, None, None, smoke=True)
            events(ExportedEvent.of(exported))
    return RunResult(built, outcome, exported)


def cluster_task_of(validated: Validated) -> ClusterTask | None:
    """This process's task in the cluster TF_CONFIG describes, checked against ``runtime.workers``; None: one machine.

    Several workers train only as a cluster's tasks (``odspec deploy`` writes the job that starts them); a
    cluster of one task is one machine.
    """
    import os

    from odspec.distribute import cluster_task
    from odspec.errors import ClusterConfigError

    workers = validated.loaded.spec.runtime.workers
    try:
        task = cluster_task(os.environ.get("TF_CONFIG"))
    except ClusterConfigError as err:
        raise OdspecError(str(err),  # each message names TF_CONFIG
                          "it is set by the cluster (Kubeflow's TFJob, Vertex AI); unset it to train on one "
                          "machine") from None
    if task is None and workers > 1:
        raise SpecError([validated.loaded.problem(
            ("runtime", "workers"), f"asks for {workers} machines, but TF_CONFIG is not set, so this process has "
            "no cluster to train in",
            "run odspec run on every machine with TF_CONFIG set (odspec deploy writes a Kubernetes or Vertex AI "
            "job that does), or set workers: 1 (runtime.replicas spreads training over this machine's devices)")])
    if task is None:
        return None
    if task.kind == "evaluator" and validated.loaded.spec.runtime.evaluator != "task":
        raise SpecError([validated.loaded.problem(
            ("runtime", "evaluator"), "is chief (the chief evaluates every checkpoint), but TF_CONFIG makes this "
            "process the cluster's evaluator task",
            "set evaluator: task (the chief then leaves evaluating to this task), or leave the evaluator out of "
            "the cluster")])
    if task.workers != workers and not (task.kind == "evaluator" and task.workers == 0):
        raise SpecError([validated.loaded.problem(
            ("runtime", "workers"), f"is {workers}, but TF_CONFIG's cluster has {task.workers} "
            f"training task{'' if task.workers == 1 else 's'} (chief and workers)",
            f"set workers: {task.workers}, or start the cluster with {workers} training tasks")])
    return task if workers > 1 else None


def _train_beside_the_chief(validated: Validated, model_dir: Path, task: ClusterTask,
                            events: OnEvent) -> RunResult:
    """A worker that is not the chief: once the chief has built and reconciled this spec, train beside it.

    The chief (on storage every task shares) builds, writes the run record and checkpoints, evaluates,
    keeps the best and exports; a worker reads the build, restores the chief's newest checkpoint and
    takes its part of every step.
    """
    from odspec.reconcile.plan import Start
    from odspec.runner.session import execute_worker, wait_for_chief

    setup = _run_setup(validated, model_dir, _record_for(validated, ""), Start(), task)
    outcome = execute_worker(wait_for_chief(setup), events)
    return RunResult(None, outcome, None, task)


def _evaluate_beside_the_chief(validated: Validated, model_dir: Path, task: ClusterTask,
                               events: OnEvent) -> RunResult:
    """The evaluator task: once the chief has built and reconciled this spec, evaluate what it asks for."""
    from odspec.reconcile.plan import Start
    from odspec.runner.session import execute_evaluator, wait_for_chief

    setup = _run_setup(validated, model_dir, _record_for(validated, ""), Start(), task)
    outcome = execute_evaluator(wait_for_chief(setup), events)
    return RunResult(None, outcome, None, task)


def _refuse_before_building(validated: Validated, model_dir: Path, *, restart: bool,
                            progress: Progress | None) -> None:
    """Raise the refusal ``reconcile`` would give once built, while the build still matches the checkpoints.

    The plan is decided on the files compiled in memory. The dataset digest is first taken to be
    the run record's, so it cannot refuse on its own; only a run that would then resume asks a
    dry run of the build (which writes nothing) for the digest the build would write.
    """
    from odspec.reconcile.plan import Refuse, Resume, plan
    from odspec.reconcile.state import observe

    state = observe(model_dir)
    decided = plan(state, _record_for(validated, state.record.dataset_sha256 if state.record else ""))
    if isinstance(decided, Refuse) and (not restart or decided.reason == "not-a-model-dir"):
        raise decided.error()
    if isinstance(decided, Resume) and not restart:
        decided = plan(state, _record_for(validated, _dataset_digest(validated, progress)))
        if isinstance(decided, Refuse):
            raise decided.error()


def _record_for(validated: Validated, dataset_sha256: str) -> RunRecord:
    from odspec.reconcile.record import run_record_of
    from odspec.runner.session import versions

    return run_record_of(validated.loaded.spec, validated.out_dir, versions(),
                         config=validated.files["pipeline.config"],
                         label_map=validated.files["label_map.pbtxt"], dataset_sha256=dataset_sha256)


def _dataset_digest(validated: Validated, progress: Progress | None) -> str:
    """build.json's ``dataset_sha256`` as building ``validated`` would write it; nothing is written."""
    from odspec.build import build_project, no_progress
    from odspec.reconcile.record import read_manifest

    outcome = build_project(
        validated.loaded, validated.files, validated.out_dir,
        max_boxes=validated.max_boxes,
        check_read=lambda most: check_box_limits(validated, most), dry_run=True, progress=progress or no_progress,
    )
    return outcome.dataset_sha256 or read_manifest(validated.out_dir)["dataset_sha256"]


def claim_model_dir(validated: Validated, model_dir: Path) -> Path:
    """A model folder is new, empty, one odspec trained in, or holds only what odspec and the OD API write there.

    Checkpoints without a run record are then refused by the reconciler, which says how to restart.
    """
    from odspec.folders import claim
    from odspec.reconcile.record import RUN_RECORD
    from odspec.reconcile.state import own_entry

    def owned(folder: Path) -> bool:
        return (folder / RUN_RECORD).is_file() or all(own_entry(p.name) for p in folder.iterdir())

    return claim(model_dir, owned=owned, kind="model",
                 protected=[*protected_paths(validated.loaded), validated.out_dir])


def _claim_output(validated: Validated, folder: Path, owned: Any) -> Path:
    from odspec.folders import claim

    return claim(folder, owned=owned, protected=[*protected_paths(validated.loaded), validated.out_dir])


def _exported_already(model_dir: Path, best: Best, tflite: bool) -> bool:
    from odspec.runner.exporting import current_export

    info = current_export(model_dir / "export")
    return info is not None and info.get("step") == best.step and info.get("tflite") == tflite


def _export_prefix(state: ModelDirState, step: int | None) -> tuple[Path, int]:
    """The checkpoint to export, and its step: the best one, or the one of ``step`` (best/ first, it is kept)."""
    from odspec.errors import ReconcileError
    from odspec.runner.best import best_prefix

    model_dir, best = state.model_dir, state.best
    kept = best_prefix(model_dir, best)
    if step is None:
        if kept is None or best is None:
            raise ReconcileError(f"{model_dir}: no best checkpoint yet (no evaluation has finished)",
                                 "let `odspec run` evaluate a checkpoint, or export one with --step N")
        return kept, best.step
    if best is not None and best.step == step and kept is not None:
        return kept, step
    found = [c for c in state.checkpoints if c.step == step]
    if found:
        return found[0].prefix, step
    have = sorted({c.step for c in state.checkpoints if c.step} | ({best.step} if best else set()))
    raise ReconcileError(f"{model_dir}: no checkpoint of step {step}",
                         f"steps on disk: {', '.join(map(str, have)) or 'none'}")


def _export(validated: Validated, model_dir: Path, step: int | None, tflite: bool | None, *, smoke: bool,
            output: Path | None = None) -> ExportResult:
    from odspec.errors import ReconcileError
    from odspec.reconcile.record import config_sha256, read_run_record
    from odspec.reconcile.state import observe
    from odspec.runner.exporting import export_checkpoint

    state = observe(model_dir)
    record = read_run_record(model_dir)
    if record is None:
        raise ReconcileError(f"{model_dir}: no run here to export",
                             f"train it first: `odspec run {validated.loaded.path}`")
    build_dir = Path(record.build_dir)
    prefix, step = _export_prefix(state, step)
    config = build_dir / "pipeline.config"
    if not config.is_file() or config_sha256(config.read_bytes()) != record.pipeline_config_sha256:
        raise ReconcileError(f"{config}: not the pipeline.config these checkpoints were trained with",
                             "rebuild with the spec they were trained with, or run `odspec run "
                             f"{validated.loaded.path}`")
    spec = validated.loaded.spec
    wants_tflite = spec.export.tflite if tflite is None else tflite
    return export_checkpoint(config, prefix, output or model_dir / "export", tflite=wants_tflite,
                             build_dir=build_dir, step=step, smoke=smoke)


def export(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None, step: int | None = None,
           tflite: bool | None = None, output: Path | None = None) -> ExportResult:
    """Export the best checkpoint (or ``step``) as a SavedModel (+ TFLite), then smoke-test it on a val image."""
    from odspec.folders import has_marker
    from odspec.runner.exporting import EXPORT_INFO

    validated = validate(spec_path, out_dir, check_data=False)
    target = (model_dir or default_model_dir(validated.loaded)).resolve()
    if output is not None:
        output = _claim_output(validated, output, has_marker(EXPORT_INFO))
    return _export(validated, target, step, tflite, smoke=True, output=output)


def predict(spec_path: Path, images: list[Path], out_dir: Path | None = None, *, model_dir: Path | None = None,
            output: Path | None = None, min_score: float = 0.3) -> list[Path]:
    """Draw the exported model's detections on ``images``; one PNG per image in ``output``."""
    import tempfile

    from odspec.errors import OdspecError
    from odspec.runner.exporting import draw_predictions, predict_detections

    validated = validate(spec_path, out_dir, check_data=False)
    target = (model_dir or default_model_dir(validated.loaded)).resolve()
    from odspec.folders import only_entries

    folder = _claim_output(validated, output or target / "predictions", only_entries("*.predicted.png"))
    saved_model = target / "export" / "saved_model"
    if not (saved_model / "saved_model.pb").is_file():
        raise OdspecError(f"{saved_model}: no export yet", f"run `odspec export {spec_path}` first")
    missing = [str(i) for i in images if not i.is_file()]
    if missing:
        raise OdspecError(f"no such image: {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="odspec-predict-") as temp:
        found = predict_detections(saved_model, [i.resolve() for i in images], Path(temp) / "detections.json",
                                   min_score=min_score)
    classes = list(validated.loaded.spec.dataset.classes)
    return [draw_predictions(item, classes, folder / f"{Path(item.image).stem}.predicted.png") for item in found]


@dataclass(frozen=True)
class RunStatus:
    model_dir: Path
    exists: bool
    num_steps: int
    latest_step: int | None
    checkpoints: list[tuple[str, int | None]]
    metrics: list[MetricsRow]
    metric: str
    best: Best | None
    stopped_early: str | None
    verdict: str  # "new", "resume", "complete", "refused", "stopped"
    message: str
    seed: int | None = None  # train.seed of the spec; None: unseeded
    trained_seed: int | None = None  # the seed the checkpoints here were trained with (their run record's)
    trained: bool = False  # a run record is here, so trained_seed is known
    strategy: str = ""  # how the spec trains: the tf.distribute strategy and its devices (Distribution.describe)
    replicas: int = 1  # in sync over all workers, as the spec asks
    workers: int = 1
    trained_strategy: str | None = None  # what the last run here trained under (its run record's); None: unknown
    trained_replicas: int | None = None
    trained_workers: int | None = None


def status(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None) -> RunStatus:
    """Steps done, checkpoints, evaluations, the best, and whether the spec still matches. No TensorFlow."""
    from odspec.errors import BuildMissingError
    from odspec.reconcile.plan import Refuse, Resume, plan
    from odspec.reconcile.record import read_manifest, run_record_of
    from odspec.reconcile.state import observe
    from odspec.runner.metrics import read_metrics
    from odspec.runner.session import versions

    validated = validate(spec_path, out_dir, check_data=False)
    target = (model_dir or default_model_dir(validated.loaded)).resolve()
    state = observe(target)
    rows = read_metrics(target)
    selection = _selection(validated)
    stopper = selection.stopper()
    stopper.from_history(rows)
    stopped = stopper.stop_message() if selection.patience is not None and stopper.stopped else None
    try:
        dataset = read_manifest(validated.out_dir)["dataset_sha256"]
    except BuildMissingError:
        dataset = state.record.dataset_sha256 if state.record else ""
    record = run_record_of(validated.loaded.spec, validated.out_dir, versions(),
                           config=validated.files["pipeline.config"],
                           label_map=validated.files["label_map.pbtxt"], dataset_sha256=dataset)
    decided = plan(state, record)
    if isinstance(decided, Refuse):
        verdict, message = "refused", decided.message
    elif isinstance(decided, Resume):
        verdict = "stopped" if stopped else "complete" if decided.complete else "resume"
        changes = f" (changed, safe to resume: {', '.join(decided.changed)})" if decided.changed else ""
        message = (stopped or f"the spec matches these checkpoints{changes}; `odspec run` "
                   + ("has nothing left to train" if decided.complete
                      else f"resumes from step {decided.checkpoint.step}"))
    else:
        verdict, message = "new", "no checkpoints yet; `odspec run` starts training here"
    return RunStatus(target, bool(state.entries), record.train_steps, state.latest.step if state.latest else None,
                     [(c.name, c.step) for c in state.checkpoints], rows, selection.metric, state.best, stopped,
                     verdict, message, seed=record.seed, trained_seed=state.record.seed if state.record else None,
                     trained=state.record is not None, strategy=record.strategy or "", replicas=record.replicas or 1,
                     workers=record.workers or 1,
                     trained_strategy=state.record.strategy if state.record else None,
                     trained_replicas=state.record.replicas if state.record else None,
                     trained_workers=state.record.workers if state.record else None)


def report(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None,
           output: Path | None = None) -> list[Path]:
    """PNG plots of training losses and validation metrics over steps, the best and the early stop marked."""
    from odspec.folders import only_entries
    from odspec.runner.plots import LOSSES_PNG, METRICS_PNG, load_history, write_report

    found = status(spec_path, out_dir, model_dir=model_dir)
    validated = validate(spec_path, out_dir, check_data=False)
    folder = _claim_output(validated, output or found.model_dir / "report",
                           only_entries(LOSSES_PNG, METRICS_PNG, ".*.tmp"))
    stopped_step = found.metrics[-1].step if found.stopped_early and found.metrics else None
    best_step = found.best.step if found.best else None
    history = load_history(found.model_dir, metric=found.metric, best_step=best_step, stopped_step=stopped_step)
    return write_report(history, folder)


def plan(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None, base: str | None = None,
         workers: int | None = None, locked: bool = False) -> Plan:
    """What building and running the spec would change, against the build and model directory (or ``base``,
    a git revision of the spec file), classified by the rule `odspec run` resumes or refuses by. Writes nothing.

    ``locked``: LockError when the spec's lock file differs from what building now would lock."""
    from odspec.plan.compute import make_plan

    return make_plan(spec_path, out_dir, model_dir=model_dir, base=base, workers=workers, locked=locked)


@dataclass(frozen=True)
class DeployResult:
    deployment: Deployment
    content: bytes  # the manifest as written (YAML for kubernetes, JSON for vertex)
    path: Path | None  # where it was written; None when ``write`` was off


def deploy(spec_path: Path, options: DeployOptions, *, project_root: Path | None = None,
           output: Path | None = None, write: bool = True) -> DeployResult:
    """A TFJob or Vertex AI CustomJob that trains the spec on ``runtime.workers`` machines; written atomically to
    ``output`` (default: ``<build folder>/deploy/tfjob.yaml`` or ``vertex-job.json``) unless ``write`` is off.

    ``project_root`` (default: the spec's folder) is the folder every task sees at ``options.mount_path``: the
    spec and everything it reads must be inside it. No TensorFlow, no dataset read.
    """
    from odspec.deploy import deployment, manifest_bytes
    from odspec.folders import claim_file
    from odspec.io import atomic_write

    validated = validate(spec_path, None, check_data=False)
    loaded = validated.loaded
    root = (project_root or loaded.root).expanduser().resolve()
    deployed = deployment(loaded, options, root)
    content = manifest_bytes(deployed)
    if not write:
        return DeployResult(deployed, content, None)
    target = claim_file(output or validated.out_dir / "deploy" / deployed.filename)
    atomic_write(target, content)
    return DeployResult(deployed, content, target)


def doctor() -> Report:
    """Versions, stack, pins, active shims and devices, with every problem and its fix; TensorFlow runs in a child."""
    from odspec.doctor import diagnose

    return diagnose()


# --- hyperparameter search -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TuneResult:
    folder: Path  # the tune folder: trials, results, plots
    study: str  # the study's name in the storage
    storage: str  # its URL, without a password
    trials: list[TrialRecord]
    objective: Objective
    paths: list[str]  # the tuned fields, in the space's order
    written: list[Path]  # results files written (none for --status)


def _tune_context(spec_path: Path, storage: str | None, folder: Path | None) -> TuneContext:
    from odspec.tune.loop import TuneContext, default_storage, tune_folder
    from odspec.tune.study import objective_of

    validated = validate(spec_path, None, check_data=False)
    loaded = validated.loaded
    tune = loaded.spec.tune
    if tune is None:
        raise OdspecError(f"{loaded.path}: the spec has no tune block, so there is nothing to search",
                          "add one, e.g. tune: {space: {train.learning_rate.base: {low: 0.004, high: 0.08, "
                          "log: true}}} (README: Hyperparameter search)")
    selection = _selection(validated)
    target = (folder or tune_folder(loaded)).expanduser().resolve()
    return TuneContext(loaded, tune, objective_of(tune, (selection.metric, selection.mode)), target,
                       storage or default_storage(target))


def tune(spec_path: Path, *, trials: int | None = None, storage: str | None = None, folder: Path | None = None,
         on_trial: OnTrial | None = None, on_event: OnEvent | None = None) -> TuneResult:
    """Search ``tune.space``: each trial an ``odspec run`` of the spec with its values, in the tune folder (default
    ``runs/<project>-tune``), its evaluations reported to the study (pruned trials stop at that evaluation).
    Results are written after every trial; a study interrupted at any moment goes on when called again."""
    from odspec.tune.loop import claim_tune_folder, open_study, run_study, shown_url, write_results

    ctx = _tune_context(spec_path, storage, folder)
    claim_tune_folder(ctx.loaded, ctx.folder, ctx.url)
    events = on_event or (lambda _event: None)

    def train(trial_spec: Path, stop_when: StopWhen) -> RunOutcome:
        return run(trial_spec, export=False, on_event=events, stop_when=stop_when).outcome

    study = open_study(ctx.loaded, ctx.objective, ctx.url)
    try:
        run_study(ctx, study, train, trials=trials or ctx.tune.max_trials,
                  on_trial=on_trial or (lambda _what, _details: None), timeout_minutes=ctx.tune.timeout_minutes)
    finally:  # interrupted too: what the finished trials found is on disk
        written, found = write_results(ctx, study)
    return TuneResult(ctx.folder, study.study_name, shown_url(ctx.url), found, ctx.objective, list(ctx.tune.space),
                      written)


def tune_status(spec_path: Path, *, storage: str | None = None, folder: Path | None = None) -> TuneResult:
    """The study's trials as they are (running ones included); nothing runs, nothing is written."""
    from odspec.tune.loop import STUDY_DB, open_study, records, shown_url

    ctx = _tune_context(spec_path, storage, folder)
    if storage is None and not (ctx.folder / STUDY_DB).is_file():
        raise OdspecError(f"no search of this spec yet ({ctx.folder} has no study)",
                          f"run `odspec tune {spec_path}` first")
    study = open_study(ctx.loaded, ctx.objective, ctx.url, create=False)
    return TuneResult(ctx.folder, study.study_name, shown_url(ctx.url),
                      records(study, ctx.tune, ctx.objective.mode), ctx.objective, list(ctx.tune.space), [])
