"""The search space is checked before any trial: paths name tunable fields, every value it can take is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec import api
from odspec.errors import SpecError
from odspec.spec.load import load_spec
from odspec.tune.space import path_problem, space_problems
from tests.support import GOOD_SPEC

BASE = GOOD_SPEC + "train:\n  batch_size: 8\nruntime: {replicas: 4}\ntune:\n  space:\n"  # space entries: line 14 on


def problems(entries: str, extra: str = "") -> list[str]:
    loaded = load_spec(Path("spec.yaml"), BASE + entries + extra)
    return [str(p) for p in space_problems(loaded)]


def test_a_valid_space_has_no_problem() -> None:
    assert problems("    train.batch_size: {choices: [4, 8]}\n"
                    "    train.learning_rate: {choices: [{type: cosine, base: 0.04}, {type: constant, rate: 0.01}]}\n"
                    "    model.input_size: {low: 256, high: 384, step: 32}\n"
                    "    train.augmentation: {choices: [[], [{random_horizontal_flip: {}}]]}\n") == []


def test_a_choice_that_breaks_a_check_is_located_at_its_entry_with_the_reason_and_the_fix() -> None:
    assert problems("    model.input_size: {choices: [320]}\n    train.batch_size: {choices: [4, 6, 8]}\n") == [
        "spec.yaml:15:5: tune.space.train.batch_size: choice 6 makes the spec invalid: train.batch_size: batch size 6 "
        "does not split evenly over 4 replicas (remove 6 from choices; e.g. batch_size: 4)"]


def test_each_end_of_a_range_is_checked() -> None:
    assert problems("    model.input_size: {low: 320, high: 330}\n") == [
        "spec.yaml:14:5: tune.space.model.input_size: high end 330 makes the spec invalid: model.input_size: "
        "ssd_mobilenet_v2_fpnlite_320 needs sizes that are multiples of 32, got 330 "
        "(narrow the range (high: 330 is tried); e.g. input_size: 320)"]


def test_a_value_the_field_refuses_is_reported_by_the_spec_validation() -> None:
    assert problems("    train.learning_rate.base: {low: 0.004, high: 0.08}\n") == [
        "spec.yaml:14:5: tune.space.train.learning_rate.base: low end 0.004 makes the spec invalid: "
        "train.learning_rate: missing `type`: expected one of 'constant', 'cosine', 'exponential', 'manual_step' "
        "(narrow the range (low: 0.004 is tried); e.g. type: constant)"]


def test_values_valid_alone_are_checked_together() -> None:
    found = problems("    train.batch_size: {choices: [4, 8]}\n    runtime.replicas: {choices: [4, 8]}\n")
    assert found == [  # batch 4 splits over the spec's 4 replicas, and 8 replicas split its batch of 8
        "spec.yaml:14:5: tune.space.train.batch_size: choice 4 with runtime.replicas 8 makes the spec invalid: "
        "train.batch_size: batch size 4 does not split evenly over 8 replicas "
        "(remove 4 from choices; e.g. batch_size: 8)"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("    train.batch_sise: {choices: [4]}\n",
         "spec.yaml:14:5: tune.space.train.batch_sise: train has no field 'batch_sise', did you mean 'batch_size'?"),
        ("    trian.batch_size: {choices: [4]}\n",
         "spec.yaml:14:5: tune.space.trian.batch_size: the spec has no field 'trian', did you mean 'train'?"),
        ("    train.xyz: {choices: [4]}\n",
         "spec.yaml:14:5: tune.space.train.xyz: train has no field 'xyz' (fields of train: batch_size, steps, "
         "optimizer, learning_rate, augmentation, checkpoint_every, keep_checkpoints, max_boxes, gradient_clipping, "
         "seed)"),
        ("    dataset.images: {choices: [a, b]}\n",
         "spec.yaml:14:5: tune.space.dataset.images: dataset cannot be tuned: trials must be trained and compared on "
         "the same images"),
        ("    tune.trials: {choices: [1, 2]}\n",
         "spec.yaml:14:5: tune.space.tune.trials: tune cannot be tuned: the search cannot tune itself"),
        ("    train.batch_size.value: {choices: [4]}\n",
         "spec.yaml:14:5: tune.space.train.batch_size.value: train.batch_size is a single value, not a section: tune "
         "it whole (e.g. train.batch_size: {choices: [...]})"),
        ("    train.learning_rate: {choices: [{type: constant, rate: 0.1}]}\n"
         "    train.learning_rate.base: {low: 0.01, high: 0.1}\n",
         "spec.yaml:14:5: tune.space.train.learning_rate: train.learning_rate.base is tuned too, inside this field "
         "(tune one or the other)"),
    ],
)
def test_a_path_must_name_a_tunable_spec_field(entry: str, expected: str) -> None:
    assert problems(entry) == [expected]


def test_a_union_member_field_is_a_path_and_eval_split_is_frozen() -> None:
    assert path_problem("train.learning_rate.warmup_steps") is None  # a field of the cosine schedule
    assert path_problem("train.optimizer.momentum") is None
    assert path_problem("eval.split") == ("eval.split cannot be tuned: trials must be compared on the same "
                                          "evaluation images", None)
    assert path_problem("eval.every") is None


def test_a_grid_needs_discrete_values() -> None:
    assert problems("    train.learning_rate: {choices: [{type: constant, rate: 0.1}]}\n"
                    "    train.gradient_clipping: {low: 1.0, high: 10.0}\n", "  sampler: grid\n") == [
        "spec.yaml:16:3: tune.sampler: a grid needs every value listed, but train.gradient_clipping is a continuous "
        "range (give train.gradient_clipping a step or choices, or use sampler: tpe)"]


def test_validate_reports_the_space_and_the_objective(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE + "    train.batch_size: {choices: [4, 6]}\n")
    with pytest.raises(SpecError) as caught:
        api.validate(spec)
    assert [(p.line, p.key, p.hint) for p in caught.value.problems] == [
        (14, "tune.space.train.batch_size", "remove 6 from choices; e.g. batch_size: 4")]
    spec.write_text(BASE + "    train.batch_size: {choices: [4]}\n  objective: {metric: Loss/total_loss}\n")
    with pytest.raises(SpecError) as caught:
        api.validate(spec)
    assert [str(p) for p in caught.value.problems] == [
        f"{spec}:15:14: tune.objective.mode: a loss is better when lower (e.g. mode: min)"]
