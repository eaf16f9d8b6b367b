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


@app.command()
def build(
    spec: Path = SpecArg,
    out: Optional[Path] = OutOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would change, write nothing"),
) -> None:
    """Compile the spec into pipeline.config and label_map.pbtxt."""
    from odspec import api

    result = api.build(spec, out, dry_run=dry_run)
    verb = "would be" if dry_run else ""
    for change in result.changes:
        label = f"{change.change} {verb}".strip() if change.change != "unchanged" else "unchanged"
        typer.echo(f"{label:>10}  {change.path}")


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
