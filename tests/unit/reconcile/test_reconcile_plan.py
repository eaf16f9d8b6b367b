"""plan(state, new_record): start, resume, or refuse naming what changed. Records come from real compiled configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from reconcile_support import (
    ARCH,
    VERSIONS,
    record,
    spec_dict,
    write_checkpoint,
    write_index,
)

from odspec.errors import ReconcileError
from odspec.reconcile.plan import Refuse, Resume, Start, plan
from odspec.reconcile.record import RunRecord, Versions, write_run_record
from odspec.reconcile.state import Checkpoint, CheckpointIndex, ModelDirState, observe

MODEL_DIR = Path("runs/pets")
WHAT_TO_DO = "Train into a new model directory (--model-dir) or start over with --restart."
DEPTH = "model.ssd.box_predictor.weight_shared_convolutional_box_predictor.depth"


def base(**sections: Any) -> dict[str, Any]:
    """The spec the checkpoints were trained with, plus ``sections`` (a section given replaces the base's)."""
    spec = spec_dict(train={"steps": 1000})
    spec.update(project="pets")
    for key, value in sections.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and key in ("dataset", "model") else value
    return spec


def trained(old: RunRecord, step: int | None = 400, number: int = 5) -> ModelDirState:
    """A model directory whose latest checkpoint (``ckpt-<number>``) was written under ``old`` at ``step``."""
    checkpoint = Checkpoint(number, MODEL_DIR / f"ckpt-{number}", step)
    name = f"ckpt-{number}"
    entries = tuple(sorted(("checkpoint", f"{name}.index", f"{name}.data-00000-of-00001", "odspec-run.json", "train")))
    return ModelDirState(MODEL_DIR, entries, old, CheckpointIndex(name, (name,)), (checkpoint,), (), checkpoint, None)


def resume(old_spec: dict[str, Any], new_spec: dict[str, Any], step: int | None = 400, **new: Any) -> Resume | Refuse | Start:
    return plan(trained(record(old_spec), step), record(new_spec, **new))


# --- start ---------------------------------------------------------------------------------------------------

def test_an_absent_or_empty_directory_starts() -> None:
    state = ModelDirState(MODEL_DIR, (), None, None, (), (), None, None)
    assert plan(state, record(base())) == Start([])


def test_a_run_record_without_checkpoints_starts_and_names_the_leftovers() -> None:
    entries = ("checkpoint", "ckpt-1.index", "notes.txt", "odspec-run.json", "train")
    state = ModelDirState(MODEL_DIR, entries, record(base()), CheckpointIndex("ckpt-1", ()), (), ("ckpt-1",), None, None)
    assert plan(state, record(base(model={"input_size": 384}))) == Start(["checkpoint", "ckpt-1.index", "train"])


def test_a_directory_of_someone_elses_files_is_refused() -> None:
    entries = ("README.md", "data", "spec.yaml", "zoo")
    outcome = plan(ModelDirState(MODEL_DIR, entries, None, None, (), (), None, None), record(base()))
    assert outcome == Refuse([], "runs/pets: refusing to train here: it is not empty and holds no odspec run "
                                 "(README.md, data, spec.yaml, ...). Choose a new or empty model directory (--model-dir).",
                             "not-a-model-dir")


# --- resume --------------------------------------------------------------------------------------------------

def test_the_same_spec_resumes_without_warnings() -> None:
    outcome = resume(base(), base())
    assert outcome == Resume(Checkpoint(5, MODEL_DIR / "ckpt-5", 400), 1000, [], [])
    assert not outcome.complete


SAFE_CHANGES = [
    ("project", {"project": "pets-v2"}),
    ("train.steps", {"train": {"steps": 2000}}),
    ("train.keep_checkpoints", {"train": {"steps": 1000, "keep_checkpoints": 20}}),
    ("train.checkpoint_every", {"train": {"steps": 1000, "checkpoint_every": 100}}),
    ("eval.metrics", {"eval": {"metrics": "pascal_voc_detection_metrics"}}),
    ("eval.split", {"eval": {"split": "test"}}),
    ("eval.every", {"eval": {"every": 200}}),
    ("eval.visualizations", {"eval": {"visualizations": 0}}),
    ("early_stopping", {"early_stopping": {"patience": 3}}),
    ("export.tflite", {"export": {"tflite": True}}),
    ("export.saved_model", {"export": {"saved_model": False}}),
    ("runtime.accelerator", {"runtime": {"accelerator": "cpu"}}),
    # the device count, with the same global batch (train.batch_size: 8, split over 2 or 4 or 2 x 2 replicas)
    ("runtime.replicas", {"runtime": {"replicas": 2}}),
    ("runtime.workers", {"runtime": {"workers": 2}}),
    # dataset inputs whose records came out the same
    ("dataset.images", {"dataset": {"images": "photos"}}),
    ("dataset.annotations", {"dataset": {"annotations": ["a.xml", "b.xml"]}}),
    ("dataset.split.seed", {"dataset": {"split": {"seed": 7}}}),
    ("dataset.shards", {"dataset": {"shards": 4}}),
    ("dataset.verify_pixels", {"dataset": {"verify_pixels": True}}),
    ("dataset.on_bad_annotation", {"dataset": {"on_bad_annotation": "skip_box"}}),
    ("dataset.keep_empty_images", {"dataset": {"keep_empty_images": False}}),
    ("dataset.orientation_fallback", {"dataset": {"orientation_fallback": "raw"}}),
]


@pytest.mark.parametrize(("field", "sections"), SAFE_CHANGES, ids=[f for f, _ in SAFE_CHANGES])
def test_every_safe_field_resumes(field: str, sections: dict[str, Any]) -> None:
    outcome = resume(base(), base(**sections))
    assert isinstance(outcome, Resume), outcome
    assert outcome.changed == [field]


def test_more_devices_with_the_same_global_batch_resume_but_another_batch_retrains() -> None:
    one = base(train={"steps": 1000, "batch_size": 8})
    outcome = resume(one, base(train={"steps": 1000, "batch_size": 8}, runtime={"replicas": 2, "workers": 2}))
    assert isinstance(outcome, Resume) and outcome.changed == ["runtime.replicas", "runtime.workers"]
    refused = resume(one, base(train={"steps": 1000, "batch_size": 16}, runtime={"replicas": 2, "workers": 2}))
    assert isinstance(refused, Refuse) and refused.changed == ["train.batch_size"]


def test_a_record_written_before_runtime_workers_existed_resumes() -> None:
    old = record(base())
    fields = {k: v for k, v in old.spec_fields.items() if k != "runtime.workers"}
    older = old.model_copy(update={"spec_fields": fields})
    outcome = plan(trained(older), record(base()))
    assert isinstance(outcome, Resume) and outcome.changed == ["runtime.workers"]


def test_a_changed_early_stopping_setting_resumes() -> None:
    outcome = resume(base(early_stopping={"patience": 3}), base(early_stopping={"patience": 8, "min_delta": 0.01}))
    assert isinstance(outcome, Resume) and outcome.changed == ["early_stopping.min_delta", "early_stopping.patience"]


def test_more_steps_resume_with_a_warning_about_the_schedule() -> None:
    outcome = resume(base(), base(train={"steps": 3000}))
    assert isinstance(outcome, Resume) and outcome.train_steps == 3000
    schedule = ("train.steps 1000 -> 3000: a learning-rate schedule laid over the whole run "
                "(cosine decay, or the zoo's default) now follows the new length from step 400 on")
    assert outcome.warnings == [schedule]


def test_fewer_steps_but_not_below_the_checkpoint_resume() -> None:
    outcome = resume(base(), base(train={"steps": 600}))
    assert isinstance(outcome, Resume) and outcome.changed == ["train.steps"] and not outcome.complete


def test_steps_equal_to_the_checkpoint_step_resume_with_nothing_left_to_train() -> None:
    outcome = resume(base(), base(train={"steps": 400}))
    assert isinstance(outcome, Resume) and outcome.complete


def test_a_finished_run_resumes_as_complete() -> None:
    outcome = resume(base(), base(), step=1000)
    assert isinstance(outcome, Resume) and outcome.complete and outcome.warnings == []


def test_other_versions_resume_with_a_warning() -> None:
    newer = Versions(odspec="0.1.0", tensorflow="2.16.1", object_detection="2.8.1")
    outcome = resume(base(), base(), versions=newer)
    assert isinstance(outcome, Resume) and outcome.changed == []
    versions = ("resuming with other versions than these checkpoints were written with: "
                "TensorFlow 2.15.1 -> 2.16.1, OD API 2.8.0.post1 -> 2.8.1")
    assert outcome.warnings == [versions]


def test_a_moved_build_resumes_with_a_warning() -> None:
    outcome = resume(base(), base(), build_dir="/elsewhere/build")
    assert isinstance(outcome, Resume) and outcome.changed == []
    assert outcome.warnings == ["the build moved from /build to /elsewhere/build; its config and records are the same"]


def test_a_checkpoint_of_unknown_step_resumes_with_a_warning() -> None:
    outcome = resume(base(), base(), step=None)
    assert isinstance(outcome, Resume) and not outcome.complete
    assert outcome.warnings == ["the step of ckpt-5 could not be read; TensorFlow will still restore it"]


# --- refuse --------------------------------------------------------------------------------------------------

OTHER_ARCH = "ssd_mobilenet_v2_fpnlite_640"
UNSAFE_CHANGES = [
    ("model.architecture", {"model": {"architecture": OTHER_ARCH}}),
    ("model.input_size", {"model": {"input_size": 384}}),
    ("model.batch_norm_decay", {"model": {"batch_norm_decay": 0.9}}),
    ("model.max_detections", {"model": {"max_detections": 50}}),
    ("model.pretrained", {"model": {"pretrained": {"checkpoint": "zoo/ckpt-0"}}}),
    ("dataset.classes", {"dataset": {"classes": ["a", "b", "c"]}}),
    ("train.batch_size", {"train": {"steps": 1000, "batch_size": 4}}),
    ("train.optimizer", {"train": {"steps": 1000, "optimizer": {"type": "adam"}}}),
    ("train.learning_rate", {"train": {"steps": 1000, "learning_rate": {"type": "constant", "rate": 0.01}}}),
    ("train.augmentation", {"train": {"steps": 1000, "augmentation": []}}),
    ("train.max_boxes", {"train": {"steps": 1000, "max_boxes": 50}}),
    ("train.gradient_clipping", {"train": {"steps": 1000, "gradient_clipping": 5.0}}),
    ("runtime.bfloat16", {"runtime": {"accelerator": "tpu", "bfloat16": True}}),
    ("overrides", {"overrides": {DEPTH: 96}}),
]


@pytest.mark.parametrize(("field", "sections"), UNSAFE_CHANGES, ids=[f for f, _ in UNSAFE_CHANGES])
def test_each_unsafe_field_refuses_naming_it(field: str, sections: dict[str, Any]) -> None:
    outcome = resume(base(), base(**sections))
    assert isinstance(outcome, Refuse) and outcome.reason == "changed"
    assert outcome.changed == [field]
    assert outcome.message == (f"runs/pets: refusing to resume: {field} changed since these checkpoints were written "
                               f"(step 400). {WHAT_TO_DO}")


def test_the_refusal_lists_every_changed_field() -> None:
    outcome = resume(base(), base(model={"input_size": 384}, dataset={"classes": ["cat", "dog", "bird"]}))
    assert isinstance(outcome, Refuse)
    assert outcome.changed == ["dataset.classes", "model.input_size"]
    assert outcome.message == ("runs/pets: refusing to resume: dataset.classes, model.input_size changed since these "
                               "checkpoints were written (step 400). Train into a new model directory (--model-dir) "
                               "or start over with --restart.")


def test_safe_changes_beside_an_unsafe_one_are_not_named() -> None:
    outcome = resume(base(), base(train={"steps": 2000, "batch_size": 4}, eval={"every": 100}))
    assert isinstance(outcome, Refuse) and outcome.changed == ["train.batch_size"]


def test_a_changed_schedule_type_is_named_as_the_schedule() -> None:
    constant = {"steps": 1000, "learning_rate": {"type": "constant", "rate": 0.01}}
    cosine = {"steps": 1000, "learning_rate": {"type": "cosine", "base": 0.04}}
    faster = {"steps": 1000, "learning_rate": {"type": "constant", "rate": 0.02}}
    retyped, retuned = resume(base(train=constant), base(train=cosine)), resume(base(train=constant), base(train=faster))
    assert isinstance(retyped, Refuse) and retyped.changed == ["train.learning_rate"]
    assert isinstance(retuned, Refuse) and retuned.changed == ["train.learning_rate.rate"]


def test_a_changed_override_is_named_by_its_path() -> None:
    outcome = resume(base(overrides={DEPTH: 96}), base(overrides={DEPTH: 64}))
    assert isinstance(outcome, Refuse) and outcome.changed == [f"overrides.{DEPTH}"]


def test_fewer_steps_than_already_trained_refuse() -> None:
    outcome = resume(base(), base(train={"steps": 300}))
    assert isinstance(outcome, Refuse) and outcome.changed == ["train.steps"]
    assert outcome.message == ("runs/pets: refusing to resume: train.steps changed since these checkpoints were written "
                               "(step 400). train.steps is now 300, fewer than the 400 steps already trained: set it to "
                               f"400 or more to go on. {WHAT_TO_DO}")


@pytest.mark.parametrize(("old", "new", "why"), [
    (0, 7, "train.seed is now 7, these checkpoints were trained with seed 0"),
    (None, 0, "train.seed is now 0, these checkpoints were trained unseeded"),
    (7, None, "train.seed is now null (unseeded), these checkpoints were trained with seed 7"),
])
def test_a_changed_seed_retrains(old: int | None, new: int | None, why: str) -> None:
    outcome = resume(base(train={"steps": 1000, "seed": old}), base(train={"steps": 1000, "seed": new}))
    assert isinstance(outcome, Refuse) and outcome.reason == "changed" and outcome.changed == ["train.seed"]
    assert outcome.message == ("runs/pets: refusing to resume: train.seed changed since these checkpoints were written "
                               f"(step 400). {why}: another seed is another run, which starts from step 0. {WHAT_TO_DO}")


def test_the_same_seed_resumes() -> None:
    outcome = resume(base(train={"steps": 1000, "seed": 7}), base(train={"steps": 2000, "seed": 7}))
    assert isinstance(outcome, Resume) and outcome.changed == ["train.steps"]


def test_checkpoints_of_an_odspec_that_did_not_seed_are_not_continued_seeded() -> None:
    old = record(base()).model_copy(update={"seed": None})
    old = old.model_copy(update={"spec_fields": {k: v for k, v in old.spec_fields.items() if k != "train.seed"}})
    outcome = plan(trained(old), record(base()))
    assert isinstance(outcome, Refuse) and outcome.changed == ["train.seed"]
    assert "these checkpoints were trained unseeded" in outcome.message


def test_a_seed_change_with_an_unexplained_config_names_both() -> None:
    new = record(base(train={"steps": 1000, "seed": 7})).model_copy(update={"pipeline_config_sha256": "edited"})
    outcome = plan(trained(record(base())), new)
    assert isinstance(outcome, Refuse) and outcome.changed == ["pipeline.config", "train.seed"]


def test_changed_records_refuse() -> None:
    outcome = resume(base(), base(), dataset="records-v2")
    assert isinstance(outcome, Refuse) and outcome.changed == ["dataset (records)"]
    assert outcome.message == ("runs/pets: refusing to resume: dataset (records) changed since these checkpoints were "
                               f"written (step 400). {WHAT_TO_DO}")


def test_dataset_inputs_that_changed_the_records_are_named_with_them() -> None:
    outcome = resume(base(), base(dataset={"images": "photos", "verify_pixels": True}), dataset="records-v2")
    assert isinstance(outcome, Refuse)
    assert outcome.changed == ["dataset (records)", "dataset.images", "dataset.verify_pixels"]


def test_new_classes_with_new_records_name_both() -> None:
    outcome = resume(base(), base(dataset={"classes": ["a", "b", "c"]}), dataset="records-v2")
    assert isinstance(outcome, Refuse) and outcome.changed == ["dataset (records)", "dataset.classes"]


def test_a_config_no_field_explains_refuses_naming_the_odspec_versions() -> None:
    old, new = record(base()), record(base(), versions=VERSIONS.model_copy(update={"odspec": "0.2.0"}))
    outcome = plan(trained(old), new.model_copy(update={"pipeline_config_sha256": "0" * 64}))
    assert isinstance(outcome, Refuse) and outcome.changed == ["pipeline.config"]
    assert outcome.message == ("runs/pets: refusing to resume: pipeline.config changed since these checkpoints were "
                               "written (step 400). pipeline.config differs though no spec field that shapes it changed "
                               f"(odspec 0.1.0 wrote these checkpoints, this is 0.2.0). {WHAT_TO_DO}")


def test_a_config_changed_beside_fields_that_never_reach_it_is_unexplained() -> None:
    old, new = record(base()), record(base(train={"steps": 1000, "keep_checkpoints": 3}, export={"tflite": True}))
    outcome = plan(trained(old), new.model_copy(update={"pipeline_config_sha256": "0" * 64}))
    assert isinstance(outcome, Refuse) and outcome.changed == ["pipeline.config"]
    assert outcome.message.endswith("changed (was the build edited by hand?). " + WHAT_TO_DO)


def test_a_config_changed_beside_a_field_that_shapes_it_is_explained() -> None:
    outcome = plan(trained(record(base())), record(base(eval={"visualizations": 3})).model_copy(update={"pipeline_config_sha256": "0" * 64}))
    assert isinstance(outcome, Resume)


def test_a_label_map_no_field_explains_refuses() -> None:
    outcome = plan(trained(record(base())), record(base()).model_copy(update={"label_map_sha256": "0" * 64}))
    assert isinstance(outcome, Refuse) and outcome.changed == ["label_map.pbtxt"]
    assert outcome.message == ("runs/pets: refusing to resume: label_map.pbtxt changed since these checkpoints were "
                               "written (step 400). label_map.pbtxt differs though dataset.classes did not change (was "
                               f"the build edited by hand?). {WHAT_TO_DO}")


def test_a_refusal_of_a_checkpoint_of_unknown_step_names_the_checkpoint() -> None:
    outcome = resume(base(), base(model={"input_size": 384}), step=None)
    assert isinstance(outcome, Refuse)
    assert outcome.message == ("runs/pets: refusing to resume: model.input_size changed since these checkpoints were "
                               f"written (ckpt-5). {WHAT_TO_DO}")


def test_checkpoints_without_a_run_record_refuse() -> None:
    state = trained(record(base()))
    outcome = plan(ModelDirState(MODEL_DIR, state.entries, None, state.index, state.checkpoints, (), state.latest, None), record(base()))
    assert outcome == Refuse([], "runs/pets: refusing to resume: it holds checkpoints (latest step 400) but no "
                                 f"odspec-run.json says what produced them. {WHAT_TO_DO}", "no-record")


def test_checkpoints_without_an_index_refuse() -> None:
    state = trained(record(base()))
    outcome = plan(ModelDirState(MODEL_DIR, state.entries, state.record, None, state.checkpoints, (), None, None), record(base()))
    assert outcome == Refuse([], "runs/pets: refusing to resume: it holds checkpoints (latest step 400) but there is no "
                                 "checkpoint index file naming the latest one, so TensorFlow would not restore them. "
                                 + WHAT_TO_DO, "unrestorable")


def test_an_index_naming_an_incomplete_checkpoint_refuses() -> None:
    state = trained(record(base()))
    index = CheckpointIndex("ckpt-6", ("ckpt-5", "ckpt-6"))
    outcome = plan(ModelDirState(MODEL_DIR, state.entries, state.record, index, state.checkpoints, ("ckpt-6",), None, None), record(base()))
    assert isinstance(outcome, Refuse) and outcome.reason == "unrestorable"
    assert outcome.message == ("runs/pets: refusing to resume: it holds checkpoints (latest step 400) but the checkpoint "
                               "index names ckpt-6, which is not complete here (its .index and every .data-* file), so "
                               f"TensorFlow would not restore them. {WHAT_TO_DO}")


def test_a_refusal_becomes_a_reconcile_error() -> None:
    outcome = resume(base(), base(model={"input_size": 384}))
    assert isinstance(outcome, Refuse)
    error = outcome.error()
    assert isinstance(error, ReconcileError) and str(error) == outcome.message


# --- observed from disk --------------------------------------------------------------------------------------

def test_observe_then_plan_resumes_from_the_step_in_the_checkpoint(tmp_path: Path) -> None:
    for number, step in ((1, 0), (2, 250), (3, 500)):
        write_checkpoint(tmp_path, number, step)
    write_checkpoint(tmp_path, 4, 750, data=False)  # a save cut short
    write_index(tmp_path, "ckpt-3", ["ckpt-1", "ckpt-2", "ckpt-3"])
    write_run_record(tmp_path, record(base()))
    outcome = plan(observe(tmp_path), record(base(train={"steps": 2000})))
    assert isinstance(outcome, Resume)
    assert (outcome.checkpoint.name, outcome.checkpoint.step, outcome.train_steps) == ("ckpt-3", 500, 2000)


def test_observe_then_plan_refuses_naming_the_real_step(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 2, 250)
    write_index(tmp_path, "ckpt-2", ["ckpt-2"])
    write_run_record(tmp_path, record(base()))
    outcome = plan(observe(tmp_path), record(base(model={"architecture": ARCH, "input_size": 256})))
    assert isinstance(outcome, Refuse)
    assert outcome.message == (f"{tmp_path}: refusing to resume: model.input_size changed since these checkpoints "
                               f"were written (step 250). {WHAT_TO_DO}")


def test_observe_then_plan_starts_in_a_new_directory(tmp_path: Path) -> None:
    assert plan(observe(tmp_path / "runs" / "pets"), record(base())) == Start([])
