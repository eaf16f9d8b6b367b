"""The no-op plan, answered before typer, pydantic or the compiler are imported (like a no-op build).

When the build's input signature still matches (the same spec file, dataset files and odspec) and no
run is in the model directory, the plan has nothing to show; anything else goes to the full plan.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from odspec.io import url_scheme
from odspec.lock import lock_path
from odspec.plan.model import Baseline, Classification, DatasetDiff, LockDiff, Plan
from odspec.plan.render import FORMATS, colour_wanted

NOTHING = "nothing changed"  # the reason the full plan gives for a no-op too


def plan_arguments(argv: list[str]) -> tuple[Path, Path | None, str] | None:
    """(spec, out, format) for exactly ``plan SPEC [--out DIR] [--format F]`` (either order, ``-o``, ``=``);
    else None."""
    if len(argv) < 2 or argv[0] != "plan" or argv[1].startswith("-"):
        return None
    found: dict[str, str] = {}
    rest = argv[2:]
    while rest:
        option, _, attached = rest[0].partition("=")
        name = {"--out": "out", "-o": "out", "--format": "format"}.get(option)
        if name is None or name in found:
            return None
        if attached or "=" in rest[0]:
            value, rest = attached, rest[1:]
        elif len(rest) >= 2:
            value, rest = rest[1], rest[2:]
        else:
            return None
        if not value or value.startswith("-"):
            return None
        found[name] = value
    output = found.get("format", "text")
    if output not in FORMATS:
        return None
    return Path(argv[1]), Path(found["out"]) if "out" in found else None, output


def no_op_plan(argv: list[str]) -> bool:
    """Print the no-op plan and return True when ``argv`` is a plan with nothing to show, else False."""
    arguments = plan_arguments(argv)
    if arguments is None or any(url_scheme(path) for path in arguments[:2] if path is not None):
        return False  # the CLI refuses a URL
    spec, out_dir, output = arguments
    from odspec.build import _project_name, up_to_date_for

    project = _project_name(spec)
    if project is None:
        return False
    model_dir = spec.resolve().parent / "runs" / project
    if model_dir.exists() and (not model_dir.is_dir() or any(model_dir.iterdir())):
        return False  # a run to compare with: the full plan reads its record
    try:
        fresh = up_to_date_for(spec, out_dir)
    except Exception:  # noqa: BLE001 - the full plan reports it, with plan's exit code 1
        return False
    if fresh is None:
        return False
    out = fresh[0]
    try:
        shards = json.loads((out / "build.json").read_text(encoding="utf-8"))["shards"]
        images = sum(int(entry["records"]) for entry in shards.values())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    found = Plan(
        str(spec),
        Baseline("build", None, True, str(out), None),
        (),
        (),
        DatasetDiff(True, (), images, images),
        Classification("no-op", (), NOTHING),
        lock=LockDiff(True, lock_path(spec).name),  # up to date: the lock beside the spec is this build's
    )
    render = FORMATS[output]
    text = render(found, colour=colour_wanted()) if output == "text" else render(found)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return True
