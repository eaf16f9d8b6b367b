"""The pure pieces of `odspec plan`: the fast path's arguments, the classification's precedence, the image diff,
the summary line, and one rule shared with `odspec run`'s resume/refuse."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from reconcile_support import record, spec_dict

from odspec.plan.classify import classify
from odspec.plan.diff import ImageEntry, image_changes
from odspec.plan.fast import plan_arguments
from odspec.plan.model import (
    Baseline,
    Classification,
    DatasetDiff,
    FieldChange,
    ImageChange,
    Plan,
)
from odspec.reconcile.plan import Refuse, Resume, classify_change, compare
from odspec.reconcile.state import Checkpoint


@pytest.mark.parametrize(("argv", "expected"), [
    (["plan", "s.yaml"], (Path("s.yaml"), None, "text")),
    (["plan", "s.yaml", "--format", "json"], (Path("s.yaml"), None, "json")),
    (["plan", "s.yaml", "--format=markdown", "-o", "b"], (Path("s.yaml"), Path("b"), "markdown")),
    (["plan", "s.yaml", "--out=b"], (Path("s.yaml"), Path("b"), "text")),
    (["plan", "s.yaml", "--format", "yaml"], None),
    (["plan", "s.yaml", "--base", "main"], None),
    (["plan", "s.yaml", "--out"], None),
    (["plan", "s.yaml", "--out", "a", "--out", "b"], None),
    (["plan", "--format", "json"], None),
    (["build", "s.yaml"], None),
])
def test_only_a_plain_plan_takes_the_fast_path(argv: list[str], expected: object) -> None:
    assert plan_arguments(argv) == expected


def _records(old: dict, new: dict, *, dataset: str = "records-v1") -> tuple:
    return record(spec_dict(**old)), record(spec_dict(**new), dataset=dataset)


def _kind(old: dict, new: dict, *, dataset: str = "records-v1", step: int | None = 100) -> Classification:
    before, after = _records(old, new, dataset=dataset)
    change = classify_change(before, after, step)
    return classify(change, config_changed=before.pipeline_config_sha256 != after.pipeline_config_sha256,
                    latest_step=step, has_checkpoints=step is not None)


def test_each_kind_from_the_shared_rule() -> None:
    assert _kind({}, {}).kind == "no-op"
    assert _kind({}, {"export": {"tflite": True}}).fields == ("export.tflite",)
    assert _kind({}, {"export": {"tflite": True}}).kind == "export-only"
    assert _kind({}, {"eval": {"visualizations": 3}, "export": {"tflite": False}}).kind == "eval-only"
    resumed = _kind({}, {"train": {"steps": 900}, "eval": {"visualizations": 3}})
    assert (resumed.kind, resumed.resume_step, resumed.checkpoints) == ("resume", 100, "valid")
    records = _kind({}, {"train": {"steps": 900}}, dataset="records-v2")
    assert (records.kind, records.fields, records.checkpoints) == ("rebuild-records", ("dataset (records)",), "invalid")
    retrain = _kind({}, {"model": {"input_size": [384, 384]}}, dataset="records-v2")
    assert (retrain.kind, retrain.fields, retrain.checkpoints) == ("retrain", ("model.input_size",), "invalid")


def test_run_refuses_exactly_what_plan_calls_a_retrain_or_a_rebuild() -> None:
    for new, dataset in (({"model": {"input_size": [384, 384]}}, "records-v1"), ({}, "records-v2")):
        before, after = _records({}, new, dataset=dataset)
        refused = compare(before, after, Checkpoint(2, Path("/m/ckpt-2"), 100), "/m")
        assert isinstance(refused, Refuse)
        assert refused.changed == classify_change(before, after, 100).unsafe
    before, after = _records({}, {"train": {"steps": 900}})
    assert isinstance(compare(before, after, Checkpoint(2, Path("/m/ckpt-2"), 100), "/m"), Resume)


def test_images_added_removed_edited_and_moved() -> None:
    box = ("cat", 0.1, 0.1, 0.5, 0.5)
    old = {"a.jpg": ImageEntry("train", "1", (box,)), "b.jpg": ImageEntry("val", "2", (box,)),
           "c.jpg": ImageEntry("train", "3", (box,)), "d.jpg": ImageEntry("train", "4", ())}
    new = {"a.jpg": ImageEntry("train", "1", (("cat", 0.1, 0.1, 0.6, 0.5),)), "b.jpg": ImageEntry("train", "2", (box,)),
           "c.jpg": ImageEntry("train", "9", (box,)), "e.jpg": ImageEntry("test", "5", (box, box))}
    assert image_changes(old, new) == [
        ImageChange("a.jpg", "boxes", "train", "train", "1 of 1 box edited"),
        ImageChange("b.jpg", "moved", "val", "train", "val -> train"),
        ImageChange("c.jpg", "changed", "train", "train", "pixels changed"),
        ImageChange("d.jpg", "removed", "train", None, "0 boxes"),
        ImageChange("e.jpg", "added", None, "test", "2 boxes"),
    ]


def test_float32_noise_is_not_a_box_change() -> None:
    old = {"a.jpg": ImageEntry("train", "1", (("cat", 0.30000001192092896, 0.1, 0.5, 0.5),))}
    new = {"a.jpg": ImageEntry("train", "1", (("cat", 0.3, 0.1, 0.5, 0.5),))}
    assert image_changes(old, new) == []


def test_a_corner_on_a_decimal_tie_is_not_a_box_change() -> None:
    # 57/320 = 0.178125 exactly; its float32 form (what the record holds) is 0.17812499403953552. Rounding both
    # to 5 decimals gives 0.17812 and 0.17813: corners of a 320-px image read back from records looked edited.
    stored = struct.unpack("<f", struct.pack("<f", 57 / 320))[0]
    assert round(stored, 5) != round(57 / 320, 5)
    old = {"a.jpg": ImageEntry("train", "1", (("cat", stored, 0.1, 0.5, 0.5),))}
    new = {"a.jpg": ImageEntry("train", "1", (("cat", 57 / 320, 0.1, 0.5, 0.5),))}
    assert image_changes(old, new) == []


def test_a_box_moved_by_one_float32_step_is_a_box_change() -> None:
    nudged = struct.unpack("<f", struct.pack("<i", struct.unpack("<i", struct.pack("<f", 0.5))[0] + 1))[0]
    old = {"a.jpg": ImageEntry("train", "1", (("cat", 0.1, 0.1, 0.5, 0.5),))}
    new = {"a.jpg": ImageEntry("train", "1", (("cat", 0.1, 0.1, nudged, 0.5),))}
    assert image_changes(old, new) == [ImageChange("a.jpg", "boxes", "train", "train", "1 of 1 box edited")]


def test_the_summary_line_counts_by_effect() -> None:
    rows = (FieldChange("model.input_size", "added", None, [384, 384], "retrain"),
            FieldChange("train.steps", "changed", 500, 900, "safe"), FieldChange("export.tflite", "changed", True, False, "safe"))
    plan = Plan("s.yaml", Baseline("git", "main", True, "/b", None), rows, (), DatasetDiff(False, note="n"),
                Classification("retrain", ("model.input_size",), "why"))
    assert plan.summary() == "1 retrain-forcing change, 2 safe changes"
    assert plan.to_json()["format"] == "odspec-plan-1"


def test_colours_only_when_asked() -> None:
    from odspec.plan.render import to_text

    rows = (FieldChange("train.steps", "changed", 500, 900, "safe"),)
    plan = Plan("s.yaml", Baseline("build", None, True, "/b", None), rows, (), DatasetDiff(True, (), 1, 1),
                Classification("resume", ("train.steps",), "safe"))
    plain, coloured = to_text(plan), to_text(plan, colour=True)
    assert "\033[" not in plain
    assert "  \033[33m~\033[0m train.steps: 500 -> 900  [safe]" in coloured.splitlines()
    assert "classification: \033[32;1mresume (train.steps)\033[0m" in coloured.splitlines()
    assert plain.splitlines()[-1] == "summary: 1 safe change"
