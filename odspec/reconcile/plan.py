"""Decide what ``odspec run`` does with a model directory: start, resume, or refuse. Pure.

Checkpoints are only worth resuming when they come from the same training problem: the
same model, classes, records and optimisation. The spec fields that only say how long to
train, how to evaluate, when to stop early and what to export may change in between
(``SAFE_FIELDS``). The dataset's input fields (paths, split, policies) matter only
through the records they produce, so they may change as long as the records did not
(``RECORDS_FIELDS``). Every other field refuses, and is named: it asks for a retrain. That includes
``train.seed`` (``SEED``): a seeded run is reproducible only from its first step, so checkpoints of
another seed (or of an unseeded run) are never continued under a new one. What the trainer reads is
fingerprinted as well, so a pipeline.config or label map that differs while no spec
field explains it (a new odspec rendering it differently, an edited build) refuses too.

:func:`classify_change` is that rule, on two run records; ``odspec run`` (:func:`compare`) and
``odspec plan`` (:mod:`odspec.plan.classify`) both decide by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from odspec.errors import ReconcileError
from odspec.reconcile.record import RUN_RECORD, RunRecord
from odspec.reconcile.state import CHECKPOINT_INDEX, Checkpoint, ModelDirState

SAFE_FIELDS = (
    "project",
    "train.steps",  # not below the latest checkpoint's step
    "train.keep_checkpoints",
    "train.checkpoint_every",
    "eval",
    "early_stopping",
    "export",
    "runtime.accelerator",
    # the device count: the global batch (train.batch_size, which retrains) is split over however many there are
    "runtime.replicas",
    "runtime.workers",
    "runtime.evaluator",  # which task evaluates: the checkpoints are the same
)
# Safe fields that touch only one stage: a change of these alone needs no training (``odspec plan``'s kinds).
EVAL_FIELDS = ("eval",)
EXPORT_FIELDS = ("export",)
RECORDS_FIELDS = (
    "dataset.path",
    "dataset.format",
    "dataset.images",
    "dataset.annotations",
    "dataset.names",
    "dataset.split",
    "dataset.on_bad_annotation",
    "dataset.keep_empty_images",
    "dataset.shards",
    "dataset.orientation_fallback",
    "dataset.verify_pixels",
)
SEED = "train.seed"  # not safe: a seed change retrains (and the refusal says which seed trained them)
# Fields that never reach pipeline.config: a config that differs when only these changed is unexplained.
CONFIG_NEUTRAL = ("train.keep_checkpoints", "train.checkpoint_every", "early_stopping", "export",
                  "runtime.accelerator", "runtime.replicas", "runtime.workers", "runtime.evaluator", SEED,
                  *RECORDS_FIELDS)
RECORDS = "dataset (records)"
WHAT_TO_DO = "Train into a new model directory (--model-dir) or start over with --restart."
RefuseReason = Literal["changed", "no-record", "unrestorable", "not-a-model-dir"]


@dataclass(frozen=True)
class Start:
    """Train from scratch; ``leftovers``: what a run that saved no checkpoint left (odspec's own entries only)."""

    leftovers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Resume:
    checkpoint: Checkpoint
    train_steps: int
    changed: list[str]  # safe fields that changed, sorted
    warnings: list[str]

    @property
    def complete(self) -> bool:
        """Nothing left to train: the runner can go straight to evaluation and export."""
        return self.checkpoint.step is not None and self.checkpoint.step >= self.train_steps


@dataclass(frozen=True)
class Refuse:
    changed: list[str]  # dotted spec fields, or RECORDS / pipeline.config / label_map.pbtxt; sorted
    message: str
    reason: RefuseReason = "changed"

    def error(self) -> ReconcileError:
        return ReconcileError(self.message)


Plan = Start | Resume | Refuse


def plan(state: ModelDirState, new: RunRecord) -> Plan:
    """What to do with ``state.model_dir`` to train what ``new`` describes."""
    if not state.checkpoints:
        if state.record is None and state.foreign:
            return _not_a_model_dir(state)
        return Start([e for e in state.entries if e != RUN_RECORD and e not in state.foreign])
    if state.record is None:
        return Refuse([], f"{state.model_dir}: refusing to resume: it holds checkpoints ({_newest(state)}) but no "
                          f"{RUN_RECORD} says what produced them. {WHAT_TO_DO}", "no-record")
    if state.latest is None:
        return _unrestorable(state)
    return compare(state.record, new, state.latest, str(state.model_dir))


@dataclass(frozen=True)
class Change:
    """How a training problem changed between two run records: the one rule ``run`` and ``plan`` share.

    ``unsafe`` names what refuses a resume (spec fields, RECORDS, pipeline.config, label_map.pbtxt);
    ``safe`` the changed fields checkpoints survive; ``records`` whether the records differ.
    """

    changed: list[str]  # every dotted spec path that differs, raw
    safe: list[str]  # named, sorted
    unsafe: list[str]  # named, sorted
    records: bool  # the dataset digest differs: the records are rebuilt
    too_short: bool  # train.steps is below the latest checkpoint's step
    config: bool  # pipeline.config differs while no spec field explains it
    labels: bool  # label_map.pbtxt differs while dataset.classes did not change

    @property
    def retrain_fields(self) -> list[str]:
        """What forces training from scratch other than the records themselves."""
        return [k for k in self.unsafe if k != RECORDS and not under(k, RECORDS_FIELDS)]


def classify_change(old: RunRecord, new: RunRecord, latest_step: int | None) -> Change:
    """Compare what trained ``old`` with ``new``; ``latest_step``: the checkpoint to resume from, if known."""
    changed = changed_fields(old.spec_fields, new.spec_fields)
    unsafe = [k for k in changed if not under(k, SAFE_FIELDS + RECORDS_FIELDS)]
    records = old.dataset_sha256 != new.dataset_sha256
    if records:
        unsafe += [RECORDS, *(k for k in changed if under(k, RECORDS_FIELDS))]
    too_short = latest_step is not None and new.train_steps < latest_step
    if too_short:
        unsafe.append("train.steps")
    config = _config_unexplained(old, new, changed)
    if config:
        unsafe.append("pipeline.config")
    labels = old.label_map_sha256 != new.label_map_sha256 and "dataset.classes" not in changed
    if labels:
        unsafe.append("label_map.pbtxt")
    names = named(unsafe)
    return Change(changed, [k for k in named(changed) if k not in names], names, records, too_short, config, labels)


def compare(old: RunRecord, new: RunRecord, latest: Checkpoint, where: str) -> Resume | Refuse:
    """Resume from ``latest`` (written under ``old``) to train ``new``, or refuse naming what changed."""
    change = classify_change(old, new, latest.step)
    if change.unsafe:
        details = _details(old, new, latest, too_short=change.too_short, config=change.config, labels=change.labels,
                           seed=SEED in change.changed)
        message = (f"{where}: refusing to resume: {', '.join(change.unsafe)} changed since these checkpoints were "
                   f"written ({_at(latest)}).{details} {WHAT_TO_DO}")
        return Refuse(change.unsafe, message)
    return Resume(latest, new.train_steps, named(change.changed), _warnings(old, new, latest))


def changed_fields(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Dotted paths whose value hash differs, or that exist on one side only (a section set or unset)."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def named(keys: Iterable[str]) -> list[str]:
    """Changed paths as a user names them: a union whose ``type`` changed, or a section set or unset, as one."""
    keys = set(keys)
    roots = keys | {k[: -len(".type")] for k in keys if k.endswith(".type")}
    return sorted(k for k in roots if not any(k != r and under(k, (r,)) for r in roots))


def under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _config_unexplained(old: RunRecord, new: RunRecord, changed: list[str]) -> bool:
    if old.pipeline_config_sha256 == new.pipeline_config_sha256 or old.build_dir != new.build_dir:
        return False  # the config names the build folder's files, so a moved build changes it
    return all(under(k, CONFIG_NEUTRAL) for k in changed)


def _details(old: RunRecord, new: RunRecord, latest: Checkpoint, *, too_short: bool, config: bool, labels: bool,
             seed: bool = False) -> str:
    parts = []
    if seed:
        parts.append(f"{SEED} is now {seed_text(new.seed)}, these checkpoints were trained "
                     f"{'unseeded' if old.seed is None else f'with seed {old.seed}'}: another seed is another run, "
                     "which starts from step 0.")
    if too_short:
        parts.append(f"train.steps is now {new.train_steps}, fewer than the {latest.step} steps already trained: "
                     f"set it to {latest.step} or more to go on.")
    if config:
        why = (f"odspec {old.versions.odspec} wrote these checkpoints, this is {new.versions.odspec}"
               if old.versions.odspec != new.versions.odspec else "was the build edited by hand?")
        parts.append(f"pipeline.config differs though no spec field that shapes it changed ({why}).")
    if labels:
        parts.append("label_map.pbtxt differs though dataset.classes did not change (was the build edited by hand?).")
    return "".join(f" {p}" for p in parts)


def _warnings(old: RunRecord, new: RunRecord, latest: Checkpoint) -> list[str]:
    warnings = []
    if latest.step is None:
        warnings.append(f"the step of {latest.name} could not be read; TensorFlow will still restore it")
    if old.train_steps != new.train_steps:
        warnings.append(f"train.steps {old.train_steps} -> {new.train_steps}: a learning-rate schedule laid over "
                        "the whole run (cosine decay, or the zoo's default) now follows the new length from "
                        f"{_at(latest)} on")
    versions = [f"{label} {getattr(old.versions, key)} -> {getattr(new.versions, key)}"
                for key, label in (("odspec", "odspec"), ("tensorflow", "TensorFlow"), ("object_detection", "OD API"))
                if getattr(old.versions, key) != getattr(new.versions, key)]
    if versions:
        warnings.append(f"resuming with other versions than these checkpoints were written with: {', '.join(versions)}")
    if old.build_dir != new.build_dir:
        warnings.append(f"the build moved from {old.build_dir} to {new.build_dir}; its config and records are the same")
    return warnings


def seed_text(seed: int | None) -> str:
    return "null (unseeded)" if seed is None else str(seed)


def _at(checkpoint: Checkpoint) -> str:
    return f"step {checkpoint.step}" if checkpoint.step is not None else checkpoint.name


def _newest(state: ModelDirState) -> str:
    return f"latest {_at(max(state.checkpoints, key=lambda c: c.number))}"


def _unrestorable(state: ModelDirState) -> Refuse:
    """Checkpoints TensorFlow would not find: it would train from step 0 over them."""
    if state.index is None or state.index.latest is None:
        why = f"there is no {CHECKPOINT_INDEX} index file naming the latest one"
    else:
        why = (f"the {CHECKPOINT_INDEX} index names {state.index.latest}, "
               "which is not complete here (its .index and every .data-* file)")
    message = (f"{state.model_dir}: refusing to resume: it holds checkpoints ({_newest(state)}) but {why}, "
               f"so TensorFlow would not restore them. {WHAT_TO_DO}")
    return Refuse([], message, "unrestorable")


def _not_a_model_dir(state: ModelDirState) -> Refuse:
    shown = ", ".join(state.foreign[:3]) + (", ..." if len(state.foreign) > 3 else "")
    message = (f"{state.model_dir}: refusing to train here: it is not empty and holds no odspec run ({shown}). "
               "Choose a new or empty model directory (--model-dir).")
    return Refuse([], message, "not-a-model-dir")
