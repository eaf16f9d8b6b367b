"""observe(model_dir): checkpoints as TensorFlow would see them, the run record, best/info.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reconcile_support import record, spec_dict, write_checkpoint, write_index

from odspec.errors import ReconcileError, RunRecordError
from odspec.reconcile.record import write_run_record
from odspec.reconcile.state import Best, CheckpointIndex, observe, read_checkpoint_index


def test_an_absent_directory_is_new(tmp_path: Path) -> None:
    state = observe(tmp_path / "runs" / "pets")
    assert state.is_new and state.entries == ()
    assert (state.record, state.index, state.latest, state.best) == (None, None, None, None)
    assert state.checkpoints == () and state.incomplete == ()


def test_an_empty_directory_is_new(tmp_path: Path) -> None:
    assert observe(tmp_path).is_new


def test_a_file_is_not_a_model_directory(tmp_path: Path) -> None:
    (tmp_path / "model").write_text("x")
    with pytest.raises(ReconcileError) as caught:
        observe(tmp_path / "model")
    assert str(caught.value) == f"{tmp_path / 'model'}: is a file, not a model directory (give a directory with --model-dir)"


def test_checkpoints_with_their_steps_and_the_latest_the_index_names(tmp_path: Path) -> None:
    for number, step in ((1, 0), (2, 200), (3, 400)):
        write_checkpoint(tmp_path, number, step)
    write_index(tmp_path, "ckpt-3", ["ckpt-1", "ckpt-2", "ckpt-3"])
    state = observe(tmp_path)
    assert [(c.name, c.number, c.step) for c in state.checkpoints] == [("ckpt-1", 1, 0), ("ckpt-2", 2, 200), ("ckpt-3", 3, 400)]
    assert state.latest is not None and (state.latest.name, state.latest.step) == ("ckpt-3", 400)
    assert state.latest.prefix == tmp_path / "ckpt-3"
    assert state.index == CheckpointIndex("ckpt-3", ("ckpt-1", "ckpt-2", "ckpt-3"))
    assert not state.is_new and state.foreign == ()


def test_checkpoints_sort_by_number_not_by_name(tmp_path: Path) -> None:
    for number in (9, 10, 2):
        write_checkpoint(tmp_path, number, number * 100)
    assert [c.number for c in observe(tmp_path).checkpoints] == [2, 9, 10]


def test_a_checkpoint_without_its_data_file_does_not_count(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, 0)
    write_checkpoint(tmp_path, 2, 200, data=False)
    write_index(tmp_path, "ckpt-2", ["ckpt-1", "ckpt-2"])
    state = observe(tmp_path)
    assert [c.name for c in state.checkpoints] == ["ckpt-1"]
    assert state.incomplete == ("ckpt-2",)
    assert state.latest is None  # TensorFlow would pick ckpt-2 and fail to restore it


def test_a_data_file_without_its_index_does_not_count(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 4, 300)
    (tmp_path / "ckpt-4.index").unlink()
    state = observe(tmp_path)
    assert state.checkpoints == () and state.incomplete == ("ckpt-4",)


def test_a_sharded_checkpoint_needs_every_shard(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, 0, shards=2)
    write_checkpoint(tmp_path, 2, 100, shards=3)
    (tmp_path / "ckpt-2.data-00001-of-00003").unlink()
    state = observe(tmp_path)
    assert [c.name for c in state.checkpoints] == ["ckpt-1"] and state.incomplete == ("ckpt-2",)


def test_stray_files_are_not_checkpoints(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, 0)
    for name in ("ckpt-2.index.tempstate1234", "ckpt-x.index", "ckpt-3.data-0-of-1", "old-ckpt-5.index", "ckpt-6.index~"):
        (tmp_path / name).write_bytes(b"junk")
    (tmp_path / "ckpt-7_temp").mkdir()
    (tmp_path / "ckpt-7_temp" / "part-00000-of-00001.index").write_bytes(b"junk")
    state = observe(tmp_path)
    assert [c.name for c in state.checkpoints] == ["ckpt-1"] and state.incomplete == ()
    assert state.foreign == ("old-ckpt-5.index",)


def test_a_checkpoint_whose_step_cannot_be_read_still_counts(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, 0)
    (tmp_path / "ckpt-1.index").write_bytes(b"not a table")
    assert [(c.name, c.step) for c in observe(tmp_path).checkpoints] == [("ckpt-1", None)]


def test_an_absolute_path_in_the_index_inside_the_directory(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 2, 200)
    write_index(tmp_path, str(tmp_path / "ckpt-2"), [str(tmp_path / "ckpt-2")])
    latest = observe(tmp_path).latest
    assert latest is not None and latest.name == "ckpt-2"


def test_an_index_naming_a_checkpoint_elsewhere_has_no_latest(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "here", 2, 200)
    write_index(tmp_path / "here", str(tmp_path / "elsewhere" / "ckpt-2"), [])
    assert observe(tmp_path / "here").latest is None


def test_index_strings_are_unescaped_like_protobuf_text(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    path.write_text('# written by TensorFlow\nmodel_checkpoint_path: "runs/caf\\303\\251/ckpt-\\"1\\""\n'
                    "all_model_checkpoint_paths: 'a\\\\b\\x41'\nall_model_checkpoint_timestamps: 1.5\n\n")
    assert read_checkpoint_index(path) == CheckpointIndex('runs/café/ckpt-"1"', ("a\\bA",))


def test_an_index_without_a_latest_path(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    path.write_text("last_preserved_timestamp: 1.0\n")
    assert read_checkpoint_index(path) == CheckpointIndex(None, ())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("model_checkpoint_path ckpt-1\n", "1: not a checkpoint index line: 'model_checkpoint_path ckpt-1'"),
        ('last_preserved_timestamp: 1.0\nmodel_checkpoint_path: ckpt-1\n', "2: model_checkpoint_path: expected a quoted path, got ckpt-1"),
    ],
)
def test_a_damaged_index_is_an_error(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "checkpoint").write_text(text)
    with pytest.raises(ReconcileError) as caught:
        observe(tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'checkpoint'}:{problem} (it is TensorFlow's list of checkpoints; "
                                 "start over with --restart if it was damaged)")


def test_the_run_record_is_read(tmp_path: Path) -> None:
    written = record(spec_dict())
    write_run_record(tmp_path, written)
    assert observe(tmp_path).record == written


def test_a_corrupt_run_record_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "odspec-run.json").write_text("{")
    with pytest.raises(RunRecordError):
        observe(tmp_path)


MAP = "DetectionBoxes_Precision/mAP"


def write_best_info(model_dir: Path, info: dict[str, object]) -> None:
    (model_dir / "best").mkdir()
    (model_dir / "best" / "info.json").write_text(json.dumps(info))


def test_best_info_is_read(tmp_path: Path) -> None:
    info = {"step": 400, "checkpoint": "ckpt-5", "metric": MAP, "mode": "max", "value": 0.71,
            "metrics": {MAP: 0.71, "Loss/total_loss": None}, "spec_sha256": "a", "pipeline_config_sha256": "b",
            "label_map_sha256": "c", "dataset_sha256": "d", "saved": "2026-01-02T03:04:05+00:00"}
    write_best_info(tmp_path, info)
    best = observe(tmp_path).best
    assert best == Best(400, "ckpt-5", MAP, 0.71, "max", {MAP: 0.71, "Loss/total_loss": None}, "a", "b", "c", "d",
                        "2026-01-02T03:04:05+00:00")
    assert best is not None and best.to_json() == info  # what the runner writes is what is read back


def test_best_info_needs_only_the_step_checkpoint_metric_and_value(tmp_path: Path) -> None:
    write_best_info(tmp_path, {"step": 400, "checkpoint": "ckpt-5", "metric": MAP, "value": 0.71, "later": 1})
    assert observe(tmp_path).best == Best(400, "ckpt-5", MAP, 0.71)


def test_best_info_without_a_step_is_an_error(tmp_path: Path) -> None:
    write_best_info(tmp_path, {"best_ckpt_global_step": 400, "checkpoint": "ckpt-5", "metric": MAP, "value": 0.71})
    with pytest.raises(ReconcileError, match=r"best/info.json: not a best checkpoint's info \(step: Field required\) "
                                             r"\(delete the best/ folder; the next evaluation refills it\)$"):
        observe(tmp_path)


def test_a_best_folder_without_info_has_no_best(tmp_path: Path) -> None:
    (tmp_path / "best").mkdir()
    assert observe(tmp_path).best is None


@pytest.mark.parametrize("text", ["{", "[1, 2]"])
def test_an_unreadable_best_info_is_an_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "info.json").write_text(text)
    with pytest.raises(ReconcileError, match=r"best/info.json: .* \(delete the best/ folder; the next evaluation refills it\)$"):
        observe(tmp_path)


def test_foreign_entries_are_those_neither_odspec_nor_the_odapi_writes(tmp_path: Path) -> None:
    for name in ("train", "eval", "best", "export", "data", "notes.txt"):
        (tmp_path / name).mkdir()
    for name in ("metrics.jsonl", ".odspec-run.json.abc.tmp", "spec.yaml"):
        (tmp_path / name).write_text("")
    assert observe(tmp_path).foreign == ("data", "notes.txt", "spec.yaml")


def test_reconcile_never_imports_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys, odspec.reconcile.plan, odspec.reconcile.state, odspec.reconcile.record; "
            "sys.exit('tensorflow' in sys.modules or 'object_detection' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
