"""The command line: parse, call :mod:`odspec.api`, print. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from odspec.errors import OdspecError

app = typer.Typer(
    name="odspec",
    help="Compile a small YAML spec into a TF2 Object Detection API project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

SpecArg = typer.Argument(..., exists=False, dir_okay=False, help="the project spec (YAML)")
OutOpt = typer.Option(None, "--out", "-o", help="build folder [default: build/<project> beside the spec]")


@app.command()
def validate(spec: Path = SpecArg, out: Optional[Path] = OutOpt) -> None:
    """Check a spec strictly and compile it in memory; writes nothing."""
    from odspec import api

    result = api.validate(spec, out)
    arch = result.architecture
    typer.echo(f"{spec}: ok ({arch.title}, {len(result.loaded.spec.dataset.classes)} classes)")


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
    out: Optional[Path] = OutOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would change, write nothing"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="processes [default: up to 2 cores]"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list unchanged files and every finding"),
) -> None:
    """Compile the spec: pipeline.config, label_map.pbtxt, TFRecord shards and the dataset report."""
    from odspec.build import up_to_date_for

    fresh = None if dry_run else up_to_date_for(spec, out)
    if fresh is not None:  # nothing changed: answered without validating or importing the compiler
        typer.echo(f"{'unchanged':>18}  {len(fresh[1])} files (nothing changed)")
        return
    from odspec import api

    result = api.build(spec, out, dry_run=dry_run, progress=_progress, workers=workers)
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
    out: Optional[Path] = OutOpt,
    split: str = typer.Option("train", "--split", help="train, val or test"),
    count: int = typer.Option(16, "--count", "-n", min=1, help="how many images"),
    image: Optional[Path] = typer.Option(None, "--image", help="where to write the PNG [default: beside the build folder]"),
) -> None:
    """Draw images with their boxes, read back from the written TFRecords: what training will see."""
    from odspec import api

    typer.echo(str(api.preview(spec, out, split=split, count=count, image=image)))


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
    headers = {"name": "ARCHITECTURE", "family": "FAMILY", "input": "INPUT", "speed": "SPEED", "coco_map": "COCO mAP", "tflite": "TFLITE"}
    widths = {k: max(len(headers[k]), *(len(str(r[k])) for r in rows)) for k in headers}
    typer.echo("  ".join(headers[k].ljust(widths[k]) for k in headers).rstrip())
    for row in rows:
        typer.echo("  ".join(str(row[k]).ljust(widths[k]) for k in headers).rstrip())


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editor completion and checks)."""
    from odspec import api

    typer.echo(json.dumps(api.schema(), indent=2))


def main() -> None:
    """Entry point: every OdspecError is printed once, with its fix, and exits 2."""
    try:
        app()
    except OdspecError as err:
        typer.echo(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", err=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
