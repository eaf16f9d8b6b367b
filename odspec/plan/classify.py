"""One classification of a whole change, from the rule ``odspec run`` resumes or refuses by. Pure.

:func:`odspec.reconcile.plan.classify_change` decides what refuses a resume; this only names the
outcome: a change that would refuse is a retrain, or a rebuild of the records when the records are
all that changed; a change it accepts is a resume, or eval-only / export-only when only those
sections changed, or no-op.
"""

from __future__ import annotations

from odspec.plan.model import Checkpoints, Classification, Effect
from odspec.reconcile.plan import (
    EVAL_FIELDS,
    EXPORT_FIELDS,
    RECORDS,
    RECORDS_FIELDS,
    SAFE_FIELDS,
    Change,
    under,
)


def effect_of(path: str, change: Change) -> Effect:
    """What one changed spec field forces, as the rule sees it."""
    if any(under(path, (k,)) or under(k, (path,)) for k in change.retrain_fields):
        return "retrain"
    if under(path, RECORDS_FIELDS):
        return "records" if change.records else "safe"
    return "safe" if under(path, SAFE_FIELDS) else "retrain"


def everything_new() -> Classification:
    """No baseline (a spec new at the base revision, or never built): everything is built and trained."""
    return Classification("retrain", ("spec",), "no baseline: the spec is new, so everything is trained from scratch")


def classify(change: Change, *, config_changed: bool, latest_step: int | None, has_checkpoints: bool) -> Classification:
    """The kind of the whole change; ``latest_step``: the checkpoint a run would resume from."""
    if change.retrain_fields:
        fields = tuple(change.retrain_fields)
        checkpoints: Checkpoints = "invalid" if has_checkpoints else "none"
        why = (f"{', '.join(fields)} changed: `odspec run` refuses to resume these checkpoints (train from scratch "
               "with --restart, or into a new --model-dir)" if has_checkpoints
               else f"{', '.join(fields)} changed: training starts from scratch")
        return Classification("retrain", fields, why, checkpoints=checkpoints)
    if change.records:
        fields = tuple(k for k in change.unsafe if k == RECORDS or under(k, RECORDS_FIELDS))
        if has_checkpoints:
            return Classification("rebuild-records", fields, "the dataset changed: the records are rebuilt, and "
                                  "`odspec run` refuses to resume checkpoints trained on the old records",
                                  checkpoints="invalid")
        return Classification("rebuild-records", fields, "the dataset changed: the records are rebuilt")
    kept: Checkpoints = "valid" if has_checkpoints else "none"
    fields = tuple(change.safe)
    if not fields and not config_changed:
        return Classification("no-op", (), "nothing changed", latest_step, kept)
    if fields and all(under(k, EXPORT_FIELDS) for k in fields):
        return Classification("export-only", fields, "only the export changes: no training, no evaluation",
                              latest_step, kept)
    if fields and all(under(k, EVAL_FIELDS + EXPORT_FIELDS) for k in fields):
        return Classification("eval-only", fields, "only evaluation (and export) change: the checkpoints stay",
                              latest_step, kept)
    where = f" from step {latest_step}" if latest_step is not None else ""
    return Classification("resume", fields, f"safe for trained checkpoints: `odspec run` resumes{where}",
                          latest_step, kept)
