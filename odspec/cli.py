"""The command line: parse, call :mod:`odspec.api`, print. No logic lives here."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from odspec.errors import OdspecError

if TYPE_CHECKING:
    from odspec.api import RunStatus
    from odspec.runner.display import Mode, RunDisplay

app = typer.Typer(
    name="odspec",
    help="Compile a small YAML spec into a TF2 Object Detection API project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from odspec import __version__

        typer.echo(__version__)
        raise typer.Exit


@app.callback()
def _options(_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                           help="print odspec's version and exit")) -> None:
    pass


def _local_path(path: Path | None) -> Path | None:
    """Refuse a URL where odspec needs a filesystem path (the rule: odspec.io.url_scheme)."""
    from odspec.io import URL_HINT, url_scheme

    scheme = url_scheme(path) if path is not None else None
    if scheme is not None:
        raise typer.BadParameter(f"{scheme}:// URLs are not paths odspec can use; {URL_HINT}")
    return path


SpecArg = typer.Argument(..., exists=False, dir_okay=False, help="the project spec (YAML)", callback=_local_path)
OutOpt = typer.Option(None, "--out", "-o", help="build folder [default: build/<project> beside the spec]",
                      callback=_local_path)


@app.command()
def validate(
    specs: list[Path] = typer.Argument(..., dir_okay=False, metavar="SPEC",
                                       help="the project spec (YAML); several for pre-commit"),
    out: Path | None = OutOpt,
    data: bool = typer.Option(False, "--data", help="also check every image and annotation as the build would "
                                                   "(exit 1 when it would stop); writes nothing"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output (with --data)"),
) -> None:
    """Check a spec strictly and compile it in memory; writes nothing."""
    if len(specs) > 1 and (out is not None or data or as_json):
        raise typer.BadParameter("--out, --data and --json check one spec", param_hint="SPEC")
    if data:
        _validate_data(specs[0], out, as_json)
        return
    if len(specs) == 1:
        _validate_one(specs[0], out)
        return
    failed = 0
    for spec in specs:  # every spec is checked, each error shown once; the worst exit code wins
        try:
            _validate_one(spec, None)
        except OdspecError as err:
            typer.echo(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", err=True)
            failed = max(failed, err.exit_code)
    if failed:
        raise typer.Exit(failed)


def _validate_one(spec: Path, out: Path | None) -> None:
    from odspec import api

    result = api.validate(spec, out)
    arch = result.architecture
    typer.echo(f"{spec}: ok ({arch.title}, {len(result.loaded.spec.dataset.classes)} classes)")


def _validate_data(spec: Path, out: Path | None, as_json: bool) -> None:
    from odspec import api

    found = api.check_data(spec, out, progress=_progress)
    stopped = found.stopped
    if as_json:
        typer.echo(json.dumps({
            "spec": str(spec), "ok": stopped is None, "build_cache_used": found.cache_used,
            "error": None if stopped is None else {"message": stopped.message, "hint": stopped.hint},
            "findings": [{"file": f.file, "line": f.line, "what": f.what, "action": f.action} for f in found.findings],
            "report": None if found.report is None else json.loads(found.report.to_json())}, indent=2,
                              ensure_ascii=False))
    else:
        by_action: dict[str, list[Any]] = {}
        for finding in found.findings:
            if stopped is not None and finding.action == "error":
                continue  # the error below lists these
            by_action.setdefault(finding.action, []).append(finding)
        for action, items in by_action.items():
            typer.echo(f"{action} ({len(items)}):", err=True)
            for finding in items:
                typer.echo(f"  {finding}", err=True)
        if stopped is not None:
            typer.echo(f"error: {stopped}" if "\n" not in str(stopped) else f"error:\n{stopped}", err=True)
        else:
            if found.report is not None:
                typer.echo(found.report.to_table())
            arch = found.validated.architecture
            typer.echo(f"{spec}: ok, the build would succeed ({arch.title}, "
                       f"{len(found.validated.loaded.spec.dataset.classes)} classes, "
                       f"{len(found.findings)} finding{'s' if len(found.findings) != 1 else ''})")
    if stopped is not None:
        raise typer.Exit(1)


def _progress(label: str, total: int):  # type: ignore[no-untyped-def]
    """A progress bar on stderr while a stage runs (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="img", disable=None, leave=False, file=sys.stderr, dynamic_ncols=True)

    def advance(count: int) -> None:
        bar.update(count)
        if bar.n >= total:
            bar.close()

    if total == 0:
        bar.close()
    return advance


@app.command()
def build(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would change, write nothing"),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="processes [default: up to 2 cores]"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list unchanged files and every finding"),
    no_wait: bool = typer.Option(False, "--no-wait",
                                 help="refuse, instead of waiting, while another build of the folder runs"),
    locked: bool = typer.Option(False, "--locked", help="refuse, writing nothing, when the data, the resolved "
                                                       "spec or the versions differ from the spec's lock file"),
) -> None:
    """Compile the spec: pipeline.config, label_map.pbtxt, TFRecord shards, the dataset report and the lock file."""
    from odspec.build import unchanged_line, up_to_date_for

    fresh = None if dry_run or locked else up_to_date_for(spec, out)  # --locked compares every hash
    if fresh is not None:  # nothing changed: answered without validating or importing the compiler
        typer.echo(unchanged_line(len(fresh[1])))
        return
    from odspec import api

    result = api.build(spec, out, dry_run=dry_run, progress=_progress, workers=workers, wait=not no_wait,
                       locked=locked)
    prefix = "would be " if dry_run else ""
    for change in result.changes:
        if change.change != "unchanged" or verbose:
            typer.echo(f"{prefix + change.change:>18}  {change.path}")
    unchanged = sum(c.change == "unchanged" for c in result.changes)
    if unchanged and not verbose:
        typer.echo(f"{'unchanged':>18}  {unchanged} file{'s' if unchanged != 1 else ''}")
    if result.report_table:
        typer.echo("\n" + result.report_table)
    for finding in result.findings[: None if verbose else 20]:
        typer.echo(f"finding: {finding}", err=True)
    if len(result.findings) > 20 and not verbose:
        typer.echo(f"… and {len(result.findings) - 20} more findings (see report.json, or use --verbose)", err=True)


@app.command()
def preview(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    split: str = typer.Option("train", "--split", help="train, val or test"),
    count: int = typer.Option(16, "--count", "-n", min=1, help="how many images"),
    image: Path | None = typer.Option(None, "--image",
                                      help="where to write the PNG [default: beside the build folder]"),
) -> None:
    """Draw images with their boxes, read back from the written TFRecords: what training will see."""
    from odspec import api

    typer.echo(str(api.preview(spec, out, split=split, count=count, image=image)))


ModelDirOpt = typer.Option(None, "--model-dir", "-m",
                           help="checkpoints and metrics [default: runs/<project> beside the spec]",
                           callback=_local_path)
DisplayOpt = typer.Option(None, "--output", help="live (a status line on a terminal), plain or json "
                                                "[default: live on a terminal, else plain]")


def _display(choice: str | None) -> RunDisplay:
    from odspec.runner.display import RunDisplay

    if choice not in (None, "live", "plain", "json"):
        raise typer.BadParameter(f"expected live, plain or json, got {choice!r}", param_hint="--output")
    mode: Mode = choice or ("live" if sys.stdout.isatty() else "plain")  # type: ignore[assignment]  # checked above
    state = {"transient": False}

    def write(text: str, transient: bool) -> None:
        if state["transient"]:
            sys.stdout.write("\r\033[K")
        sys.stdout.write(text if transient else text + "\n")
        sys.stdout.flush()
        state["transient"] = transient

    return RunDisplay(write, mode)


@app.command()
def run(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    restart: bool = typer.Option(False, "--restart", help="delete this model directory's checkpoints and start over"),
    no_export: bool = typer.Option(False, "--no-export", help="do not export the best checkpoint at the end"),
    output: str | None = DisplayOpt,
) -> None:
    """Build what is stale, train, evaluate every checkpoint, stop early, keep the best, export it."""
    import signal

    from odspec import api

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # stop the children and keep what is written, as Ctrl-C does

    previous = signal.signal(signal.SIGTERM, interrupt)
    display = _display(output)
    try:
        result = api.run(spec, out, model_dir=model_dir, restart=restart, export=not no_export, on_event=display,
                         progress=_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    done = result.outcome
    if display.mode == "json":
        return
    if result.task is not None and result.task.kind == "evaluator":
        typer.echo(f"{result.task.name} evaluated {done.evaluations} checkpoint{'' if done.evaluations == 1 else 's'} "
                   "for the chief, which keeps the best")
        return
    if result.task is not None:
        typer.echo(f"{result.task.name} trained to step {done.trained_to} beside the chief, which keeps the best")
        return
    best = done.best
    summary = f"best: step {best.step}, {best.metric} = {best.value:.4g} (in {done.model_dir / 'best'})" \
        if best else "no evaluation finished, so there is no best checkpoint yet"
    typer.echo(summary)


def seed_line(seed: int | None, trained: int | Literal["none"] | None) -> str:
    """The spec's ``train.seed``, and the model directory's run's when it was another (``"none"``: no run there yet)."""
    def shown(value: int | None) -> str:
        return "none (unseeded: runs differ from one another)" if value is None else str(value)

    line = f"seed: {shown(seed)}"
    return line if trained == "none" or trained == seed else f"{line}; the run here was trained with {shown(trained)}"


def strategy_line(found: RunStatus) -> str:
    """How the spec trains, and what the last run here trained under when that differs (or is not recorded)."""
    line = f"strategy: {found.strategy}"
    if not found.trained:
        return line
    if found.trained_strategy is None:
        return f"{line}; the run here does not say what it trained under (its record is from an earlier odspec)"
    if found.trained_strategy == found.strategy:
        return line
    return f"{line}; the checkpoints here were last trained under {found.trained_strategy}"


@app.command()
def status(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Steps done, checkpoints, metrics per checkpoint, the best, and whether the spec still matches."""
    import math

    from odspec import api

    found = api.status(spec, out, model_dir=model_dir)
    best_step = found.best.step if found.best else None
    if as_json:
        def finite(metrics: dict[str, float]) -> dict[str, float | None]:  # NaN is not JSON: null
            return {k: None if math.isnan(v) else v for k, v in metrics.items()}

        typer.echo(json.dumps({
            "model_dir": str(found.model_dir), "steps_done": found.latest_step, "num_steps": found.num_steps,
            "checkpoints": [{"checkpoint": n, "step": s} for n, s in found.checkpoints],
            "evaluations": [{"step": r.step, "checkpoint": r.checkpoint, "metrics": finite(dict(r.metrics))}
                            for r in found.metrics],
            "best": found.best.to_json() if found.best else None, "stopped_early": found.stopped_early,
            "verdict": found.verdict,
            "message": found.message, "seed": found.seed, "seeded": found.seed is not None,
            "trained_seed": found.trained_seed if found.trained else None,
            "trained_seeded": found.trained_seed is not None if found.trained else None,
            "strategy": found.strategy, "replicas": found.replicas, "workers": found.workers,
            "trained_strategy": found.trained_strategy, "trained_replicas": found.trained_replicas,
            "trained_workers": found.trained_workers}, indent=2, default=str))
        return
    typer.echo(f"model directory: {found.model_dir}" + ("" if found.exists else " (not created yet)"))
    typer.echo(seed_line(found.seed, found.trained_seed if found.trained else "none"))
    typer.echo(strategy_line(found))
    typer.echo(f"steps: {found.latest_step or 0} of {found.num_steps}")
    shown = ", ".join(f"{n} (step {s})" for n, s in found.checkpoints) or "none"
    typer.echo(f"checkpoints on disk: {shown}")
    if found.metrics:
        typer.echo(f"evaluations ({found.metric}):")
        for row in found.metrics:
            value = row.metrics.get(found.metric)
            mark = "  <- best" if row.step == best_step else ""
            shown_value = "n/a" if value is None or math.isnan(value) else f"{value:.4f}"
            typer.echo(f"  step {row.step:>7}  {shown_value}{mark}")
    if found.best:
        typer.echo(f"best: step {best_step} in {found.model_dir / 'best'}")
    typer.echo(f"spec: {found.message}")


@app.command("export")
def export_command(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    step: int | None = typer.Option(None, "--step", min=1, help="export this step's checkpoint [default: the best]"),
    tflite: bool | None = typer.Option(None, "--tflite/--no-tflite", help="[default: the spec's export.tflite]"),
    target: Path | None = typer.Option(None, "--to", help="export folder [default: <model dir>/export]"),
) -> None:
    """Export the best checkpoint (or --step N) as a SavedModel (+ TFLite), then test it on a validation image."""
    from odspec import api
    from odspec.runner.display import export_summary
    from odspec.runner.run_events import ExportSummary

    result = api.export(spec, out, model_dir=model_dir, step=step, tflite=tflite, output=target)
    typer.echo(export_summary(ExportSummary.of(result)))


@app.command("predict")
def predict_command(
    spec: Path = SpecArg,
    images: list[Path] = typer.Argument(..., help="images to run the exported model on"),
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    target: Path | None = typer.Option(None, "--to",
                                       help="folder for the drawn images [default: <model dir>/predictions]"),
    min_score: float = typer.Option(0.3, "--min-score", min=0.0, max=1.0, help="draw detections scoring at least this"),
) -> None:
    """Write the images with the exported model's detections drawn (class and score)."""
    from odspec import api

    for path in api.predict(spec, images, out, model_dir=model_dir, output=target, min_score=min_score):
        typer.echo(str(path))


@app.command("report")
def report_command(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    target: Path | None = typer.Option(None, "--to", help="folder for the PNGs [default: <model dir>/report]"),
) -> None:
    """Plot training losses and validation metrics over steps, marking the best checkpoint and the early stop."""
    from odspec import api

    for path in api.report(spec, out, model_dir=model_dir, output=target):
        typer.echo(str(path))


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List the architectures a spec can name."""
    from odspec import api

    rows = [
        {
            "name": a.name,
            "family": a.family,
            "input": "x".join(map(str, a.input_size)) + ("" if a.resizer == "fixed_shape" else " (keep aspect)"),
            "speed": f"{a.speed_class} ({a.speed_ms} ms)",
            "coco_map": a.coco_map,
            "tflite": "yes" if a.tflite else "no",
        }
        for a in api.architectures()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    headers = {"name": "ARCHITECTURE", "family": "FAMILY", "input": "INPUT", "speed": "SPEED", "coco_map": "COCO mAP",
               "tflite": "TFLITE"}
    widths = {k: max(len(headers[k]), *(len(str(r[k])) for r in rows)) for k in headers}
    typer.echo("  ".join(headers[k].ljust(widths[k]) for k in headers).rstrip())
    for row in rows:
        typer.echo("  ".join(str(row[k]).ljust(widths[k]) for k in headers).rstrip())


@app.command("example")
def example_command(folder: Path = typer.Argument(..., help="a new or empty folder for the example")) -> None:
    """Write the bundled example (a spec and its annotated images) into FOLDER, and say what to run next."""
    from odspec import api

    result = api.example(folder)
    typer.echo(f"wrote the example to {result.folder}: {result.spec.name} and its dataset "
               f"({result.images} images with Pascal VOC annotations)")
    typer.echo("next:")
    for command in result.next_commands:
        typer.echo(f"  {command}")


@app.command("init")
def init_command(
    data_dir: Path = typer.Argument(..., file_okay=False, help="the dataset folder (an export's root)"),
    spec: Path | None = typer.Option(None, "--spec", help="where to write the spec [default: ./<project>.yaml]"),
    architecture: str | None = typer.Option(None, "--architecture", help="[default: ssd_mobilenet_v2_fpnlite_320]"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing spec file"),
) -> None:
    """Write a starting spec for an existing dataset folder: its format, classes and split detected."""
    from odspec import api

    for line in api.init(data_dir, spec, architecture=architecture, force=force).lines:
        typer.echo(line)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editor completion and checks)."""
    from odspec import api

    typer.echo(json.dumps(api.schema(), indent=2))


PLAN_HELP = """Show what building and running the spec would change, Terraform-style, and classify it.

Compares the spec with the build folder and the model directory (default), or with the spec file at a git
revision (--base REV, read with `git show`, nothing checked out): each spec field old -> new, each
pipeline.config field it changes, each image added / removed / changed / moving split, and one
classification: no-op, export-only, eval-only, resume, rebuild-records or retrain; and the spec's lock
file (or, with --base, the lock at REV) against what building now would lock.

Exit codes (as `terraform plan -detailed-exitcode`): 0 no changes, 2 changes (0 with --exit-zero), 1 error
(with --locked: also when the lock file beside the spec differs).
"""


@app.command(help=PLAN_HELP)
def plan(
    spec: Path = SpecArg,
    out: Path | None = OutOpt,
    model_dir: Path | None = ModelDirOpt,
    base: str | None = typer.Option(None, "--base", help="compare with the spec file at this git revision "
                                                            "(e.g. origin/main) instead of the build"),
    output: str = typer.Option("text", "--format", help="text, markdown (a pull-request comment) or json "
                                                        "(schema odspec-plan-1)"),
    locked: bool = typer.Option(False, "--locked", help="exit 1 when the spec's lock file differs from what "
                                                       "building now would lock (for pre-commit and CI)"),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="exit 0 when there are changes too: only errors "
                                                             "(and, with --locked, a stale lock) fail"),
) -> None:
    from odspec.plan.render import FORMATS, colour_wanted

    if output not in FORMATS:
        typer.echo(f"error: --format: expected text, markdown or json, got {output!r}", err=True)
        raise typer.Exit(1)
    from odspec import api

    try:
        found = api.plan(spec, out, model_dir=model_dir, base=base, locked=locked)
    except OdspecError as err:  # 2 means "changes" here: every error exits 1
        typer.echo(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", err=True)
        raise typer.Exit(1) from None
    render = FORMATS[output]
    typer.echo(render(found, colour=colour_wanted()) if output == "text" else render(found), nl=output != "markdown")
    raise typer.Exit(2 if found.changed and not exit_zero else 0)


@app.command()
def deploy(
    spec: Path = SpecArg,
    target: str = typer.Option(..., "--target", help="kubernetes (a Kubeflow TFJob) or vertex (a Vertex AI CustomJob)"),
    image: str | None = typer.Option(None, "--image", help="the container image with odspec installed (required)"),
    gpus_per_worker: int | None = typer.Option(None, "--gpus-per-worker", min=1,
                                               help="GPUs per machine [default: runtime.replicas]"),
    project_root: Path | None = typer.Option(None, "--project-root", file_okay=False,
                                             help="the folder the tasks see at --mount-path [default: the spec's]"),
    mount_path: str | None = typer.Option(None, "--mount-path", help="the project folder inside the container "
                                          "[kubernetes: /workspace; vertex: required, /gcs/BUCKET/...]"),
    model_dir: str | None = typer.Option(None, "--model-dir", "-m", help="model directory inside the container "
                                         "[default: runs/<project> beside the spec]"),
    name: str | None = typer.Option(None, "--name", help="kubernetes: the TFJob's name [default: from the project]"),
    volume_claim: str | None = typer.Option(None, "--volume-claim", help="kubernetes: the ReadWriteMany "
                                            "PersistentVolumeClaim holding the project [default: <name>-workspace]"),
    cpu: str | None = typer.Option(None, "--cpu", help="kubernetes: CPU request per pod, e.g. 8"),
    memory: str | None = typer.Option(None, "--memory", help="kubernetes: memory request per pod, e.g. 32Gi"),
    restart_policy: str | None = typer.Option(None, "--restart-policy", help="kubernetes: ExitCode, OnFailure, "
                                              "Never or Always [default: ExitCode]"),
    clean_pod_policy: str | None = typer.Option(None, "--clean-pod-policy", help="kubernetes: Running, All or "
                                                "None [default: Running]"),
    machine_type: str | None = typer.Option(None, "--machine-type", help="vertex: [default: n1-standard-8]"),
    accelerator_type: str | None = typer.Option(None, "--accelerator-type",
                                                help="vertex: [default: NVIDIA_TESLA_T4]"),
    to: str | None = typer.Option(None, "--to", help="the manifest file, - for stdout "
                                  "[default: <build folder>/deploy/tfjob.yaml or vertex-job.json]"),
) -> None:
    """Write the manifest that trains the spec on a cluster: a Kubeflow TFJob or a Vertex AI CustomJob."""
    from odspec import api
    from odspec.deploy import DeployOptions

    options = DeployOptions(target, image, gpus_per_worker, name, mount_path, model_dir,
                            volume_claim, cpu, memory, restart_policy, clean_pod_policy, machine_type,
                            accelerator_type)
    result = api.deploy(spec, options, project_root=project_root, output=None if to in (None, "-") else Path(to),
                        write=to != "-")
    for warning in result.deployment.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.path is None:
        sys.stdout.write(result.content.decode("utf-8"))
    else:
        typer.echo(str(result.path))


@app.command("tune")
def tune_command(
    spec: Path = SpecArg,
    trials: int | None = typer.Option(None, "--trials", min=1, help="trials the study should hold [default: "
                                      "tune.trials]; more than it has runs the difference"),
    storage: str | None = typer.Option(None, "--storage", help="the study's database URL, shared by every machine "
                                       "tuning it, e.g. postgresql://user@host/db [default: sqlite in the tune "
                                       "folder]"),
    show_status: bool = typer.Option(False, "--status", help="print the study's table and run nothing"),
    output: str | None = DisplayOpt,
) -> None:
    """Search tune.space: each trial an odspec run of the spec with its values; pruned at an evaluation when behind."""
    import signal

    from odspec import api
    from odspec.tune.results import table_text

    if show_status:
        found = api.tune_status(spec, storage=storage)
        typer.echo(f"study {found.study} in {found.storage}: {len(found.trials)} trials")
        typer.echo(table_text(found.trials, found.paths, found.objective), nl=False)
        return

    tabled: list[bool] = []

    def told(what: str, details: Mapping[str, Any]) -> None:
        if what == "table":  # the study's table after each trial
            tabled.append(True)
            typer.echo(details["text"], nl=False)
        else:
            typer.echo(_trial_line(what, details))

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # stop the trial's children and keep what is written, as Ctrl-C does

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        result = api.tune(spec, trials=trials, storage=storage, on_trial=told, on_event=_display(output))
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not tabled:  # no trial ran (the study already has its trials): the table as it is
        typer.echo(table_text(result.trials, result.paths, result.objective), nl=False)
    for path in result.written:
        typer.echo(f"wrote {path}")


def _trial_line(what: str, details: Mapping[str, Any]) -> str:
    """One line per thing the study loop reports, for people."""
    number = details.get("number")
    if what == "start":
        values = ", ".join(f"{k} = {v}" for k, v in details["values"].items())
        again = f" (resumes trial {details['resumes']}'s folder)" if details.get("resumes") is not None else ""
        own = " (the spec's own values: the baseline)" if details.get("baseline") else ""
        return f"trial {number}: {values}{own}{again} in {details['folder']}"
    if what == "baseline":
        return f"the first trial is the spec's own values ({details['values']}), the baseline"
    if what == "no-baseline":
        return f"no baseline trial: {details['reason']} (the search starts from the sampler's first draw)"
    if what == "complete":
        return f"trial {number}: complete, best {details['value']:.4f} at step {details['step']}"
    if what == "pruned":
        return f"trial {number}: {details['reason']}"
    if what == "failed":
        return f"trial {number}: failed: {details['error']}"
    if what == "requeued":
        return f"trials {', '.join(map(str, details['trials']))}: their process is gone; queued to resume"
    if what == "timeout":
        return f"tune.timeout_minutes ({details['minutes']:g}) is up: no new trial starts"
    if what == "exhausted":
        return "the grid is exhausted: every combination has a trial"
    return f"{what}: {details}"


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """What a bug report needs: versions, stack and pins, active shims, devices; problems with their fixes (exit 1)."""
    from odspec import api
    from odspec.doctor import format_report

    report = api.doctor()
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))
    raise typer.Exit(report.exit_code)


def main() -> None:
    """Entry point: every OdspecError is printed once, with its fix, and exits 2."""
    try:
        if sys.argv[1:2] == ["plan"]:
            _plan_app()
            return
        app()
    except OdspecError as err:
        typer.echo(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - anything else is a bug: one line, trace saved
        from odspec.crash import report_crash

        report_crash(err)


def _plan_app() -> None:
    """`odspec plan`, whose exit code 2 means "changes": a usage error exits 1 instead of click's 2."""
    from typer._click.exceptions import ClickException  # typer's own click, there is no other

    try:
        result = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except ClickException as err:
        err.show()
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
