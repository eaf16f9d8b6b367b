"""The plan for people (terminal, colours on a TTY), for a pull-request comment (markdown) and for machines (JSON)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from odspec.plan.model import DatasetDiff, FieldChange, ImageChange, LockDiff, Plan

SHOWN = 20  # rows of a long list shown on a terminal
COLLAPSE = 10  # rows beyond which a markdown table is folded in <details>
_SIGN = {"added": "+", "removed": "-", "changed": "~", "boxes": "~", "moved": ">"}
_COLOUR = {"+": "32", "-": "31", "~": "33", ">": "35", "retrain": "31;1", "rebuild-records": "33;1",
           "resume": "32;1", "eval-only": "36;1", "export-only": "36;1", "no-op": "32"}
_IMAGE_WHAT = {"added": "added", "removed": "removed", "changed": "pixels changed", "boxes": "boxes changed",
               "moved": "moved split"}


def value_text(value: Any) -> str:
    """A value as in the spec: JSON, strings quoted; ``(none)`` for null."""
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _old(row: FieldChange) -> str:
    if not row.old_known:
        return "(not recorded)"
    return "(absent)" if row.action == "added" else value_text(row.old)


def _new(row: FieldChange) -> str:
    return "(absent)" if row.action == "removed" else value_text(row.new)


def baseline_text(plan: Plan) -> str:
    base = plan.baseline
    where = f"git revision {base.revision}" if base.kind == "git" else f"the build in {base.build_dir}"
    model = f" and the run in {base.model_dir}" if base.model_dir else ""
    return where + model


def classification_text(plan: Plan) -> str:
    decided = plan.classification
    fields = f" ({', '.join(decided.fields)})" if decided.fields and decided.kind != "no-op" else ""
    return f"{decided.kind}{fields}"


def colour_wanted() -> bool:
    """Colours on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# --- terminal ------------------------------------------------------------------------------------------------------

def to_text(plan: Plan, *, colour: bool = False) -> str:
    paint: Callable[[str, str], str] = (
        (lambda code, text: f"\033[{code}m{text}\033[0m") if colour else (lambda _c, t: t)
    )
    lines = [f"odspec plan: {plan.spec} against {baseline_text(plan)}", ""]
    lines += _text_fields("spec fields", plan.spec_changes, paint, effects=True)
    lines += _text_fields("pipeline.config", plan.config_changes, paint, effects=False)
    lines += _text_dataset(plan.dataset, paint)
    lines += _text_lock(plan.lock, paint)
    decided = plan.classification
    lines.append(f"classification: {paint(_COLOUR[decided.kind], classification_text(plan))}")
    lines.append(f"  {decided.reason}")
    if decided.checkpoints != "none":
        lines.append(f"  checkpoints: {'still valid' if decided.checkpoints == 'valid' else 'no longer valid'}")
    lines += [f"note: {note}" for note in plan.notes]
    lines.append(f"summary: {plan.summary()}")
    return "\n".join(lines)


def _text_fields(
    title: str, rows: Sequence[FieldChange], paint: Callable[[str, str], str], *, effects: bool
) -> list[str]:
    if not rows:
        return [f"{title}: no changes", ""]
    lines = [f"{title} ({len(rows)}):"]
    for row in rows[:SHOWN]:
        sign = _SIGN[row.action]
        effect = f"  [{row.effect}]" if effects and row.effect else ""
        lines.append(f"  {paint(_COLOUR[sign], sign)} {row.path}: {_old(row)} -> {_new(row)}{effect}")
    if len(rows) > SHOWN:
        lines.append(f"  ... and {len(rows) - SHOWN} more (--format json lists them all)")
    return [*lines, ""]


def _text_dataset(dataset: DatasetDiff, paint: Callable[[str, str], str]) -> list[str]:
    if not dataset.compared:
        return [f"dataset: not compared ({dataset.note})", ""]
    title = f"dataset ({dataset.old_count} -> {dataset.new_count} images)"
    if not dataset.images:
        return [f"{title}: no changes", ""]
    lines = [f"{title}: {_counts(dataset)}"]
    for image in dataset.images[:SHOWN]:
        sign = _SIGN[image.what]
        lines.append(f"  {paint(_COLOUR[sign], sign)} {image.image}: {_IMAGE_WHAT[image.what]} ({_where(image)})")
    if len(dataset.images) > SHOWN:
        lines.append(f"  ... and {len(dataset.images) - SHOWN} more (--format json lists them all)")
    if not dataset.count("moved"):
        lines.append("  no image moves between splits")
    return [*lines, ""]


def _text_lock(lock: LockDiff, paint: Callable[[str, str], str]) -> list[str]:
    if not lock.compared:
        return [f"lock: not compared ({lock.note})", ""]
    note = f" ({lock.note})" if lock.note else ""
    if not lock.differences:
        return [f"lock ({lock.baseline}): no differences{note}", ""]
    lines = [f"lock ({lock.baseline}): {_count(len(lock.differences), 'difference')}{note}"]
    for row in lock.differences[:SHOWN]:
        sign = "+" if row.old is None else "-" if row.new is None else "~"
        lines.append(f"  {paint(_COLOUR[sign], sign)} {row}")
    if len(lock.differences) > SHOWN:
        lines.append(f"  ... and {len(lock.differences) - SHOWN} more (--format json lists them all)")
    return [*lines, ""]


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _counts(dataset: DatasetDiff) -> str:
    parts = [f"{dataset.count(what)} {_IMAGE_WHAT[what]}" for what in _IMAGE_WHAT if dataset.count(what)]  # type: ignore[arg-type]
    return ", ".join(parts)


def _where(image: ImageChange) -> str:
    split = image.new_split if image.new_split else image.old_split
    return f"{split}, {image.detail}" if image.what != "moved" else image.detail


# --- markdown ------------------------------------------------------------------------------------------------------


def to_markdown(plan: Plan) -> str:
    decided = plan.classification
    out = [
        f"### odspec plan: `{plan.spec}`: **{decided.kind}**",
        "",
        f"Compared with {_cell(baseline_text(plan))}. Summary: **{plan.summary()}**.",
        "",
        "#### Classification",
        "",
    ]
    out += _table(
        ["classification", "fields", "resume from step", "checkpoints", "why"],
        [
            [
                decided.kind,
                ", ".join(decided.fields) or "-",
                "-" if decided.resume_step is None else str(decided.resume_step),
                decided.checkpoints,
                decided.reason,
            ]
        ],
    )
    out += _md_fields("Spec fields", plan.spec_changes, effects=True)
    out += _md_fields("pipeline.config", plan.config_changes, effects=False)
    out += _md_dataset(plan.dataset)
    out += _md_lock(plan.lock)
    if plan.notes:
        out += ["#### Notes", "", *(f"- {_cell(n)}" for n in plan.notes), ""]
    return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _folded(summary: str, table: list[str], count: int) -> list[str]:
    if count <= COLLAPSE:
        return table
    return [f"<details><summary>{summary}</summary>", "", *table, "</details>", ""]


def _md_fields(title: str, rows: Sequence[FieldChange], *, effects: bool) -> list[str]:
    out = [f"#### {title}", ""]
    if not rows:
        return [*out, "No changes.", ""]
    headers = ["field", "change", "old", "new", *(["effect"] if effects else [])]
    body = [[row.path, row.action, _old(row), _new(row), *([row.effect] if effects else [])] for row in rows]
    return [*out, *_folded(f"{len(rows)} fields changed", _table(headers, body), len(rows))]


def _md_dataset(dataset: DatasetDiff) -> list[str]:
    out = ["#### Dataset", ""]
    if not dataset.compared:
        return [*out, f"Not compared: {_cell(dataset.note)}", ""]
    out += _table(
        ["images before", "images after", "added", "removed", "pixels changed", "boxes changed", "moved split"],
        [
            [
                str(dataset.old_count),
                str(dataset.new_count),
                *(str(dataset.count(w)) for w in ("added", "removed", "changed", "boxes", "moved")),
            ]
        ],
    )
    if dataset.images:
        body = [
            [i.image, _IMAGE_WHAT[i.what], i.old_split or "-", i.new_split or "-", i.detail] for i in dataset.images
        ]
        table = _table(["image", "change", "old split", "new split", "detail"], body)
        out += _folded(f"{len(dataset.images)} image changes", table, len(dataset.images))
    return out


def _md_lock(lock: LockDiff) -> list[str]:
    out = ["#### Lock file", ""]
    if not lock.compared:
        return [*out, f"Not compared: {_cell(lock.note)}", ""]
    note = f" ({_cell(lock.note)})" if lock.note else ""
    if not lock.differences:
        return [*out, f"`{lock.baseline}`: no differences{note}.", ""]
    out += [f"`{lock.baseline}` against what building now would lock{note}:", ""]
    body = [[d.kind, d.path, d.detail] for d in lock.differences]
    table = _table(["kind", "path", "difference"], body)
    return [*out, *_folded(_count(len(lock.differences), "lock difference"), table, len(lock.differences))]


# --- JSON ----------------------------------------------------------------------------------------------------------


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False)


FORMATS: dict[str, Callable[..., str]] = {"text": to_text, "markdown": to_markdown, "json": to_json}
