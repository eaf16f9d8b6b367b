"""The run record: spec fingerprint per field path, build fingerprints, atomic write, typed read errors."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from reconcile_support import T0, VERSIONS, compiled, record, spec_dict

from odspec.errors import BuildMissingError, RunRecordError
from odspec.reconcile.record import (
    RUN_RECORD,
    config_sha256,
    flatten,
    new_run_record,
    read_run_record,
    spec_fingerprint,
    train_steps_of,
    value_hash,
    write_run_record,
)
from odspec.spec.models import Spec


def test_flatten_names_leaves_by_dotted_path() -> None:
    data = {"a": {"b": 1, "c": {"d": [1, {"e": 2}]}}, "f": None, "g": {}, "h": {"x.y": 3}}
    assert flatten(data) == {"a.b": 1, "a.c.d": [1, {"e": 2}], "f": None, "g": {}, "h.x.y": 3}


def test_every_field_of_the_spec_is_fingerprinted_by_name() -> None:
    fingerprint = spec_fingerprint(Spec.model_validate(spec_dict()))
    for name in ("project", "model.input_size", "model.architecture", "dataset.classes", "dataset.split.seed",
                 "train.augmentation", "train.steps", "eval.metrics", "early_stopping", "export.tflite",
                 "runtime.replicas", "overrides"):
        assert name in fingerprint
    assert fingerprint["dataset.classes"] == value_hash(["a", "b"])
    assert fingerprint["model.input_size"] == value_hash(None)


def test_a_changed_field_changes_only_its_own_hash() -> None:
    before = spec_fingerprint(Spec.model_validate(spec_dict()))
    after = spec_fingerprint(Spec.model_validate(spec_dict(model={"architecture": "ssd_mobilenet_v2_fpnlite_320", "input_size": 384})))
    assert [k for k in before if before[k] != after[k]] == ["model.input_size"]


def test_a_section_set_adds_its_fields() -> None:
    before = spec_fingerprint(Spec.model_validate(spec_dict()))
    after = spec_fingerprint(Spec.model_validate(spec_dict(early_stopping={"patience": 3})))
    assert set(after) - set(before) == {"early_stopping.metric", "early_stopping.mode", "early_stopping.patience", "early_stopping.min_delta"}
    assert set(before) - set(after) == {"early_stopping"}


def test_train_steps_come_from_the_compiled_train_config() -> None:
    config = compiled(spec_dict(train={"steps": 1234}))["pipeline.config"].decode()
    assert train_steps_of(config) == 1234
    assert train_steps_of(compiled(spec_dict())["pipeline.config"].decode()) == 50000  # the zoo's
    assert train_steps_of("train_config {\n  batch_size: 2\n}\n") is None


@pytest.mark.parametrize(("text", "steps"), [
    ("train_config { batch_size: 2 num_steps: 77 }", 77),  # one line
    ("# written by hand\ntrain_config {\n\tnum_steps:  88  # tabs, a comment\n}\n", 88),
    ("train_config: {\n    batch_size: 2\n    num_steps: 99\n}\n", 99),  # a colon, four spaces
    ("eval_config { num_examples: 5 }\ntrain_config <\n  num_steps: 12\n>\n", 12),  # not first, angle brackets
    ("train_config {\n  optimizer { adam_optimizer { } }\n  num_steps: 5\n  not_a_field_yet: 3\n}\n", 5),
])
def test_train_steps_are_read_from_any_text_format_layout(text: str, steps: int) -> None:
    assert train_steps_of(text) == steps


@pytest.mark.parametrize("text", [
    "",  # no train_config
    "eval_config { num_examples: 5 }\n",
    "train_config { }\n",  # num_steps absent
    "train_config {\n  # num_steps: 10\n  batch_size: 2\n}\n",  # commented out
    "eval_config {\n  num_steps: 10\n}\n",  # another message's num_steps
    "train_config {\n  num_steps: 10\n",  # cut short
    "not a pipeline.config at all",
])
def test_train_steps_are_none_when_the_config_sets_none(text: str) -> None:
    assert train_steps_of(text) is None


def test_new_run_record_fingerprints_the_build(tmp_path: Path) -> None:
    files = _build(tmp_path, spec_dict(train={"steps": 800}))
    spec = Spec.model_validate(spec_dict(train={"steps": 800}))
    made = new_run_record(spec, tmp_path, VERSIONS, now=T0)
    assert made.spec_fields == spec_fingerprint(spec)
    assert made.pipeline_config_sha256 == config_sha256(files["pipeline.config"])
    assert made.label_map_sha256 == hashlib.sha256(files["label_map.pbtxt"]).hexdigest()
    assert made.dataset_sha256 == "d" * 64
    assert (made.train_steps, made.build_dir, made.versions) == (800, str(tmp_path.resolve()), VERSIONS)
    assert made.created == made.updated == T0


def test_new_run_record_without_a_build(tmp_path: Path) -> None:
    with pytest.raises(BuildMissingError) as caught:
        new_run_record(Spec.model_validate(spec_dict()), tmp_path, VERSIONS)
    assert str(caught.value) == f"{tmp_path.resolve()}: no build here (build.json not found) (run `odspec build` first)"


def test_new_run_record_with_an_output_missing(tmp_path: Path) -> None:
    _build(tmp_path, spec_dict())
    (tmp_path / "label_map.pbtxt").unlink()
    with pytest.raises(BuildMissingError) as caught:
        new_run_record(Spec.model_validate(spec_dict()), tmp_path, VERSIONS)
    assert str(caught.value) == f"{tmp_path.resolve()}: label_map.pbtxt is missing (rebuild with `odspec build`)"


def test_new_run_record_with_an_old_manifest(tmp_path: Path) -> None:
    _build(tmp_path, spec_dict())
    (tmp_path / "build.json").write_text(json.dumps({"odspec": "0.0.9"}))
    with pytest.raises(BuildMissingError) as caught:
        new_run_record(Spec.model_validate(spec_dict()), tmp_path, VERSIONS)
    assert str(caught.value) == (f"{tmp_path.resolve() / 'build.json'}: no dataset_sha256 (written by an older odspec?) "
                                 "(rebuild with `odspec build`)")


def test_write_then_read_gives_the_same_record(tmp_path: Path) -> None:
    written = record(spec_dict())
    path = write_run_record(tmp_path / "runs" / "pets", written)
    assert path == tmp_path / "runs" / "pets" / RUN_RECORD
    assert read_run_record(tmp_path / "runs" / "pets") == written
    assert sorted(p.name for p in path.parent.iterdir()) == [RUN_RECORD]  # no temporary file left


def test_the_record_file_is_plain_json(tmp_path: Path) -> None:
    write_run_record(tmp_path, record(spec_dict()))
    data = json.loads((tmp_path / RUN_RECORD).read_text())
    assert data["format"] == 1 and data["train_steps"] == 50000
    assert data["created"] == "2026-11-02T09:30:00Z"
    assert data["versions"] == {"odspec": "0.1.0", "tensorflow": "2.15.1", "object_detection": "2.8.0.post1"}


def test_no_record_reads_as_none(tmp_path: Path) -> None:
    assert read_run_record(tmp_path) is None
    assert read_run_record(tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("text", "problem", "hint"),
    [
        ("{", "Invalid JSON: EOF while parsing an object at line 1 column 1",
         "train into a new model directory (--model-dir) or start over with --restart"),
        ('{"format": 1}', "spec_fields: Field required",
         "train into a new model directory (--model-dir) or start over with --restart"),
        ('{"format": 2}', "format: Input should be 1",
         "it was written by a newer odspec; upgrade odspec to resume this run"),
    ],
)
def test_a_corrupt_record_is_a_typed_error(tmp_path: Path, text: str, problem: str, hint: str) -> None:
    (tmp_path / RUN_RECORD).write_text(text)
    with pytest.raises(RunRecordError) as caught:
        read_run_record(tmp_path)
    assert str(caught.value) == f"{tmp_path / RUN_RECORD}: not a run record odspec can read ({problem}) ({hint})"


def test_continuing_keeps_the_first_creation_time() -> None:
    first = record(spec_dict())
    later = datetime(2026, 11, 3, tzinfo=timezone.utc)
    resumed = record(spec_dict(train={"steps": 60000}), now=later).continuing(first)
    assert (resumed.created, resumed.updated, resumed.train_steps) == (T0, later, 60000)


def _build(folder: Path, spec: dict[str, object]) -> dict[str, bytes]:
    files = compiled(spec, str(folder.resolve()))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "build.json").write_text(json.dumps({"dataset_sha256": "d" * 64, "files": {}}))
    return files


def test_the_config_digest_ignores_the_header_comment_but_not_the_body() -> None:
    body = b'train_config {\n  batch_size: 8\n  fine_tune_checkpoint: "a#b"\n}\n'
    digest = config_sha256(b"# Trains under the default strategy on one GPU (batch 8)\n" + body)
    assert digest == config_sha256(b"# Trains under MirroredStrategy over 2 GPUs\n#\n" + body)
    assert digest == config_sha256(body)
    assert digest != config_sha256(body.replace(b"8", b"4"))
    assert digest != config_sha256(body.replace(b"a#b", b"a#c"))
