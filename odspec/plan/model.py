"""The plan as data. Pure; nothing here imports pydantic, so the fast no-op path can build one too.

A plan is a list of sections (spec fields, pipeline.config fields, dataset images), each a list of rows,
and one classification. A later section (a lock file's diff) is one more :class:`Section`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from odspec.lock import LockDifference

FORMAT = "odspec-plan-1"
Kind = Literal["no-op", "export-only", "eval-only", "resume", "rebuild-records", "retrain"]
KINDS: tuple[Kind, ...] = ("no-op", "export-only", "eval-only", "resume", "rebuild-records", "retrain")
Action = Literal["added", "removed", "changed"]
Effect = Literal["retrain", "records", "safe", ""]
Checkpoints = Literal["none", "valid", "invalid"]


@dataclass(frozen=True)
class FieldChange:
    """One spec or pipeline.config field: ``old`` -> ``new`` (None on the side where it is absent)."""

    path: str
    action: Action
    old: Any = None
    new: Any = None
    effect: Effect = ""  # spec fields only: what this change forces
    old_known: bool = True  # False when the baseline kept only a hash of the old value

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"path": self.path, "action": self.action, "old": self.old, "new": self.new}
        if self.effect:
            row["effect"] = self.effect
        if not self.old_known:
            row["old_known"] = False
        return row


ImageWhat = Literal["added", "removed", "changed", "boxes", "moved"]


@dataclass(frozen=True)
class ImageChange:
    """One image: added, removed, its pixels changed, its boxes changed, or moved between splits."""

    image: str
    what: ImageWhat
    old_split: str | None = None
    new_split: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "what": self.what, "old_split": self.old_split, "new_split": self.new_split,
                "detail": self.detail}


@dataclass(frozen=True)
class DatasetDiff:
    """The dataset against the baseline build's records; ``compared`` False (with ``note``) when there is none."""

    compared: bool
    images: tuple[ImageChange, ...] = ()
    old_count: int | None = None
    new_count: int | None = None
    note: str = ""

    def count(self, what: ImageWhat) -> int:
        return sum(1 for i in self.images if i.what == what)

    def to_json(self) -> dict[str, Any]:
        counts = {what: self.count(what) for what in ("added", "removed", "changed", "boxes", "moved")}
        return {"compared": self.compared, "note": self.note or None, "old_images": self.old_count,
                "new_images": self.new_count, "counts": counts, "images": [i.to_json() for i in self.images]}


@dataclass(frozen=True)
class LockDiff:
    """The spec's lock file against what building now would lock; ``compared`` False (with ``note``) without one.

    ``baseline``: the lock compared with, ``example.lock`` or, with ``--base``, ``origin/main:example.lock``.
    Shards are not compared (their checksums are known only once written); their inputs are.
    """

    compared: bool
    baseline: str | None = None
    differences: tuple[LockDifference, ...] = ()
    note: str = ""
    stale: str = ""  # with ``--base``: the branch's own lock file is not current (a plan note says so)

    def to_json(self) -> dict[str, Any]:
        return {"compared": self.compared, "baseline": self.baseline, "note": self.note or None,
                "differences": [d.to_json() for d in self.differences]}


@dataclass(frozen=True)
class Classification:
    kind: Kind
    fields: tuple[str, ...]  # the fields (or "dataset (records)") that decide the kind
    reason: str
    resume_step: int | None = None  # the checkpoint `odspec run` would go on from
    checkpoints: Checkpoints = "none"  # whether the model directory's checkpoints stay usable

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "fields": list(self.fields), "reason": self.reason,
                "resume_step": self.resume_step, "checkpoints": self.checkpoints}


@dataclass(frozen=True)
class Baseline:
    kind: Literal["build", "git"]
    revision: str | None  # --base REV
    spec_existed: bool  # False: the spec file is new at REV (or no build was ever made)
    build_dir: str
    model_dir: str | None  # when it holds an odspec run


@dataclass(frozen=True)
class Plan:
    spec: str
    baseline: Baseline
    spec_changes: tuple[FieldChange, ...]
    config_changes: tuple[FieldChange, ...]
    dataset: DatasetDiff
    classification: Classification
    notes: tuple[str, ...] = field(default=())
    lock: LockDiff = field(default=LockDiff(False, note="not compared"))

    @property
    def changed(self) -> bool:
        return self.classification.kind != "no-op"

    def summary(self) -> str:
        """``1 retrain-forcing change, 2 safe changes``: the spec fields by effect, then the dataset's images."""
        def count(n: int, what: str) -> str:
            return f"{n} {what} change{'s' if n != 1 else ''}"

        by_effect = {e: sum(1 for c in self.spec_changes if c.effect == e) for e in ("retrain", "records", "safe")}
        parts = [count(by_effect["retrain"], "retrain-forcing"), count(by_effect["records"], "records"),
                 count(by_effect["safe"], "safe")]
        shown = [p for p, n in zip(parts, by_effect.values(), strict=True) if n]
        if self.dataset.images:
            shown.append(count(len(self.dataset.images), "dataset"))
        if not shown and self.config_changes:
            shown.append(count(len(self.config_changes), "pipeline.config"))
        return ", ".join(shown) or "no changes"

    def to_json(self) -> dict[str, Any]:
        base = self.baseline
        return {
            "format": FORMAT,
            "spec": self.spec,
            "baseline": {"kind": base.kind, "revision": base.revision, "spec_existed": base.spec_existed,
                         "build_dir": base.build_dir, "model_dir": base.model_dir},
            "classification": self.classification.to_json(),
            "summary": self.summary(),
            "changes": self.changed,
            "spec_fields": [c.to_json() for c in self.spec_changes],
            "pipeline_config": [c.to_json() for c in self.config_changes],
            "dataset": self.dataset.to_json(),
            "notes": list(self.notes),
            "lock": self.lock.to_json(),
        }
