"""Make a plan: compile the spec and its baseline, diff them, read the dataset, classify. Reads; writes nothing."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from odspec.plan.baseline import (
    BuildFolder,
    planned_entries,
    read_build,
    recorded_entries,
    spec_at,
)
from odspec.plan.classify import classify, effect_of, everything_new
from odspec.plan.diff import config_changes, image_changes, value_changes
from odspec.plan.lockdiff import lock_diff
from odspec.plan.model import Baseline, DatasetDiff, FieldChange, Plan

NO_BUILD = ("no build folder to compare the images with: run `odspec build` at the base revision first "
            "(the CI recipe in the README does), then plan")


NO_BUILD_FOR_RUN = ("no build folder: the images are compared with the run's records only through their digest "
                    "(run `odspec build` to see each image)")
OLD_BUILD = ("the build was made by an odspec that kept only a hash per spec section: every field of a changed "
             "section counts as changed, without its old value (rebuild to see them)")
RUN_ONLY = "the run record keeps a hash of each spec field, not its value: old values are not recorded"
UNRECORDED_VALUES = "old values shown as (not recorded) are those the build does not share with the run"


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Old:
    """The baseline's side: its record (what the rule compares), its values and its parsed config."""

    record: Any  # RunRecord
    values: dict[str, Any] | None  # flattened resolved spec; None when the baseline kept none
    config: Any  # TrainEvalPipelineConfig, or None


def make_plan(spec_path: Path, out_dir: Path | None = None, *, model_dir: Path | None = None,
              base: str | None = None, workers: int | None = None, locked: bool = False) -> Plan:
    """The plan of ``spec_path``; ``locked``: LockError when its lock file differs from what building would lock."""
    from odspec import project
    from odspec.reconcile.plan import classify_change
    from odspec.reconcile.record import config_sha256, flatten, run_record_of
    from odspec.reconcile.state import observe
    from odspec.runner.session import versions
    from odspec.spec.load import default_model_dir

    validated = project.validate(spec_path, out_dir, check_data=False)
    loaded, out = validated.loaded, validated.out_dir
    build = read_build(out)
    at = spec_at(spec_path, base) if base is not None else None
    state = observe((model_dir or default_model_dir(loaded)).resolve())
    trained = state.record is not None and state.latest is not None
    latest_step = state.latest.step if trained and state.latest else None
    new_spec = (build is None and not trained) if at is None else at.text is None
    if at is not None and build is None and not new_spec:
        dataset, digest, inputs = DatasetDiff(False, note=NO_BUILD), "", None
    else:
        dataset, digest, inputs = _dataset(validated, None if new_spec else build, workers)
        if build is None and not new_spec:  # a run, but its build is gone: only the records' digest compares
            dataset = DatasetDiff(False, new_count=dataset.new_count, note=NO_BUILD_FOR_RUN)
    new = run_record_of(loaded.spec, out, versions(), config=validated.files["pipeline.config"],
                        label_map=validated.files["label_map.pbtxt"], dataset_sha256=digest)
    baseline = Baseline("git" if at else "build", base, not new_spec, str(out),
                        str(state.model_dir) if state.record is not None else None)
    new_values = flatten(loaded.spec.model_dump(mode="json"))
    notes: list[str] = []
    lock = lock_diff(spec_path, validated, inputs, base, locked=locked)
    notes += [lock.stale] if lock.stale else []
    if new_spec:
        return replace(_everything_new(spec_path, baseline, new_values, validated.config, dataset, notes), lock=lock)
    if at is not None:
        old = _at_revision(spec_path, at.text or "", out, build, new.dataset_sha256)
    elif trained:
        assert state.record is not None
        old = _Old(state.record, build.spec_values if build else None,
                   _parse_config(build.pipeline_config) if build else None)
        if build and config_sha256(build.pipeline_config) != state.record.pipeline_config_sha256:
            notes.append(f"the build in {out} is not the one these checkpoints were trained on: the spec fields are "
                         "compared with the run, pipeline.config and the images with the build")
    else:
        assert build is not None
        old = _Old(_build_record(build, new, loaded.spec.model_dump(mode="json")), build.spec_values,
                   _parse_config(build.pipeline_config))
    change = classify_change(old.record, new, latest_step)
    rows = _spec_rows(change, old, new_values)
    if any(not row.old_known for row in rows):
        notes.append(RUN_ONLY if build is None else OLD_BUILD if build.spec_values is None else UNRECORDED_VALUES)
    configs = config_changes(old.config, validated.config)
    decided = classify(change, config_changed=bool(configs), latest_step=latest_step,
                       has_checkpoints=bool(state.checkpoints))
    if (
        latest_step is not None
        and latest_step < new.train_steps
        and decided.kind in ("no-op", "eval-only", "export-only")
    ):
        notes.append(f"training is not finished: `odspec run` goes on from step {latest_step} to {new.train_steps}")
    return Plan(str(spec_path), baseline, tuple(rows), tuple(configs), dataset, decided, tuple(notes), lock)


def _spec_rows(change: Any, old: _Old, new_values: dict[str, Any]) -> list[FieldChange]:
    from odspec.reconcile.record import value_hash

    values = old.values or {}
    rows = []
    for row in value_changes(values, new_values, change.changed):
        recorded = old.record.spec_fields.get(row.path)  # the rule's old side; the values must be the same
        known = (
            old.values is not None
            and (recorded is None) == (row.path not in values)
            and (recorded is None or value_hash(values[row.path]) == recorded)
        )
        action = row.action
        if not known:
            action = (
                "added"
                if row.path not in old.record.spec_fields
                else "removed"
                if row.path not in new_values
                else "changed"
            )
        rows.append(
            FieldChange(row.path, action, row.old if known else None, row.new, effect_of(row.path, change), known)
        )
    return rows


def _everything_new(
    spec_path: Path, baseline: Baseline, values: dict[str, Any], config: Any, dataset: DatasetDiff, notes: list[str]
) -> Plan:
    from odspec.reconcile.plan import SAFE_FIELDS, under

    rows = tuple(
        FieldChange(path, "added", None, value, "safe" if under(path, SAFE_FIELDS) else "retrain")
        for path, value in sorted(values.items())
    )
    where = f"at {baseline.revision}" if baseline.revision else "in the build folder (none yet)"
    decided = everything_new()
    notes.append(f"no baseline {where}: every field, config value and image is new")
    return Plan(str(spec_path), baseline, rows, tuple(config_changes(None, config)), dataset, decided, tuple(notes))


def _at_revision(spec_path: Path, text: str, out: Path, build: BuildFolder | None, digest: str) -> _Old:
    from odspec import project
    from odspec.errors import PlanError, SpecError
    from odspec.reconcile.record import flatten, run_record_of
    from odspec.runner.session import versions
    from odspec.spec.load import load_spec

    try:
        loaded = load_spec(spec_path, text)
        compiled = project.compile_loaded(loaded, out)
    except SpecError as err:
        raise PlanError(f"the spec at the base revision does not validate with this odspec:\n{err}") from None
    record = run_record_of(
        loaded.spec,
        out,
        versions(),
        config=compiled.files["pipeline.config"],
        label_map=compiled.files["label_map.pbtxt"],
        dataset_sha256=build.dataset_sha256 if build else digest,
    )
    return _Old(record, flatten(loaded.spec.model_dump(mode="json")), compiled.config)


def _build_record(build: BuildFolder, new: Any, resolved: dict[str, Any]) -> Any:
    """The build as a run record: what training it would have been (its spec, config, label map and records)."""

    from odspec.reconcile.record import RunRecord, config_sha256, train_steps_of, value_hash

    values = build.spec_values
    fields = {k: value_hash(v) for k, v in values.items()} if values is not None else _by_section(build, new, resolved)
    steps = train_steps_of(build.pipeline_config.decode("utf-8", errors="replace"))
    return RunRecord(
        spec_fields=fields,
        pipeline_config_sha256=config_sha256(build.pipeline_config),
        label_map_sha256=_sha256(build.label_map),
        dataset_sha256=build.dataset_sha256,
        train_steps=steps if steps and steps > 0 else new.train_steps,
        build_dir=new.build_dir,
        versions=new.versions,
        created=new.created,
        updated=new.updated,
    )


UNRECORDED = "unrecorded"  # the hash of a field whose value an older build did not keep: it counts as changed


def _by_section(build: BuildFolder, new: Any, resolved: dict[str, Any]) -> dict[str, str]:
    """An older build kept one hash per section: the fields of a section whose hash differs all count as changed."""
    from odspec.build import section_hashes

    recorded, current = build.manifest.get("spec_sections", {}), section_hashes(resolved)
    return {
        k: (v if recorded.get(k.split(".", 1)[0]) == current.get(k.split(".", 1)[0]) else UNRECORDED)
        for k, v in new.spec_fields.items()
    }


def _parse_config(data: bytes) -> Any:
    from google.protobuf import text_format

    from odspec.odapi import protos

    message = protos.load("pipeline_pb2").TrainEvalPipelineConfig()
    try:
        text_format.Parse(data.decode("utf-8"), message)
    except (text_format.ParseError, UnicodeDecodeError):
        return None  # not a config this odspec can read: every field shows as new
    return message


def _dataset(validated: Any, build: BuildFolder | None, workers: int | None) -> tuple[DatasetDiff, str, Any]:
    """The dataset as the build would read it, against the build's records; its digest (build.json's); and
    the lock's inputs (:class:`odspec.lock.LockInputs`, the build's cached digests reused)."""
    from odspec import project
    from odspec.build import (
        RECORD_FORMAT,
        dataset_digest,
        needed_splits,
        no_progress,
        previous_splits,
        read_cache,
        read_file_digests,
    )
    from odspec.datasets.pipeline import default_workers, plan_dataset
    from odspec.lock import lock_inputs

    loaded, out = validated.loaded, validated.out_dir
    with tempfile.TemporaryDirectory(prefix="odspec-plan-") as workdir:
        planned = plan_dataset(
            loaded.root,
            loaded.spec.dataset,
            max_boxes=validated.max_boxes,
            check_read=lambda most: project.check_box_limits(validated, most),
            cache=read_cache(out) if build else {},
            previous_splits=previous_splits(out) if build else {},
            workers=workers or min(default_workers(), 2),
            progress=no_progress,
            salt=RECORD_FORMAT,
            workdir=Path(workdir),
            needed=needed_splits(loaded.spec),
        )
        digest = dataset_digest(planned)
        inputs = lock_inputs(loaded, out, planned.cache_file, read_file_digests(out) if build else {})
        new_count = sum(s.count for s in planned.shards)
        if build is None:
            images = image_changes({}, planned_entries(planned.shards))
            return DatasetDiff(True, tuple(images), 0, new_count), digest, inputs
        recorded = build.shards()
        old_count = sum(int(e.get("records", 0)) for e in build.manifest.get("shards", {}).values())
        if digest == build.dataset_sha256:
            return DatasetDiff(True, (), old_count, new_count), digest, inputs
        planned_digests = {s.name: s.digest for s in planned.shards}
        changed_new = [s for s in planned.shards if recorded.get(s.name, ("", ""))[1] != s.digest]
        changed_old = [n for n, (_, d) in recorded.items() if planned_digests.get(n) != d and (out / n).is_file()]
        images = image_changes(recorded_entries(build, changed_old), planned_entries(changed_new))
        return DatasetDiff(True, tuple(images), old_count, new_count), digest, inputs
