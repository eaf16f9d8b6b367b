"""The ``tune:`` block validates like every other block: exact located messages, shorthands, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.spec.load import load_spec
from odspec.spec.models import DEFAULT_TUNE_TRIALS, MedianPruner, TPESampler
from tests.support import GOOD_SPEC, load_errors

SPACE = "tune:\n  space:\n"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("    train.batch_size: {choices: [4, 8], low: 1}\n",
         "spec.yaml:11:23: tune.space.train.batch_size: give choices or a range (low, high), not both (remove low)"),
        ("    train.batch_size: {low: 4}\n",
         "spec.yaml:11:23: tune.space.train.batch_size: give low and high (a range), or choices, "
         "e.g. {low: 0.004, high: 0.08, log: true}"),
        ("    train.learning_rate.base: {low: 0.08, high: 0.004}\n",
         "spec.yaml:11:31: tune.space.train.learning_rate.base: low must be below high, got low 0.08 and high 0.004"),
        ("    train.batch_size: {low: 8, high: 8}\n",
         "spec.yaml:11:23: tune.space.train.batch_size: low and high are both 8: for one value write choices: [8]"),
        ("    train.learning_rate.base: {low: 0, high: 0.1, log: true}\n",
         "spec.yaml:11:31: tune.space.train.learning_rate.base: a log range must start above 0, got low 0"),
        ("    train.learning_rate.base: {low: 0.01, high: 0.1, log: true, step: 0.01}\n",
         "spec.yaml:11:31: tune.space.train.learning_rate.base: give log or step, not both "
         "(Optuna samples a log range continuously)"),
        ("    train.batch_size: {low: 4, high: 17, step: 4}\n",
         "spec.yaml:11:23: tune.space.train.batch_size: high - low (13) must be a multiple of step 4, "
         "so high is reachable (e.g. high: 16)"),
        ("    train.batch_size: {choices: [4, 4]}\n",
         "spec.yaml:11:23: tune.space.train.batch_size: choices must differ, repeated: 4"),
        ("    train.batch_size: {choices: []}\n",
         "spec.yaml:11:33: tune.space.train.batch_size.choices: expected at least 1 item, got none "
         "(e.g. choices: [4, 8])"),
        ("    train.batch_size: {low: true, high: 3}\n",
         "spec.yaml:11:29: tune.space.train.batch_size.low: expected an integer or a number, got true "
         "(e.g. low: 0.004)"),
        ("    train.batch_size: {low: .nan, high: 3}\n",
         "spec.yaml:11:29: tune.space.train.batch_size.low: expected an integer or a number, got .nan "
         "(e.g. low: 0.004)"),
        ("    train.batch_size: {choise: [4]}\n",
         "spec.yaml:11:24: tune.space.train.batch_size.choise: unknown key, did you mean 'choices'?"),
        ("    train.batch_size: {choices: [4]}\n  pruner: medain\n",
         "spec.yaml:12:11: tune.pruner.type: expected one of 'median', 'successive_halving', 'none', got 'medain', "
         "did you mean 'median'? (e.g. type: median)"),
        ("    train.batch_size: {choices: [4]}\n  sampler: {type: tpe, startup: 3}\n",
         "spec.yaml:12:24: tune.sampler.startup: unknown key, did you mean 'startup_trials'?"),
        ("    train.batch_size: {choices: [4]}\n  trials: 0\n",
         "spec.yaml:12:11: tune.trials: expected a positive integer, got 0 (e.g. trials: 20)"),
        ("    train.batch_size: {choices: [4]}\n  pruner: {type: successive_halving, reduction_factor: 1}\n",
         "spec.yaml:12:56: tune.pruner.reduction_factor: expected an integer of 2 or more, got 1 "
         "(e.g. reduction_factor: 3)"),
    ],
)
def test_a_bad_tune_block_is_a_located_error(entry: str, expected: str) -> None:
    assert load_errors(GOOD_SPEC + SPACE + entry) == [expected]


def test_an_empty_space_is_refused() -> None:
    assert load_errors(GOOD_SPEC + "tune:\n  space: {}\n") == [
        "spec.yaml:10:10: tune.space: expected at least 1 item, got none "
        "(e.g. space: {train.batch_size: {choices: [4, 8]}})"]


def test_shorthands_defaults_and_kinds() -> None:
    text = GOOD_SPEC + SPACE + (
        "    train.learning_rate.base: {low: 0.004, high: 0.08, log: true}\n"
        "    train.steps: {low: 100, high: 300, step: 100}\n"
        "    train.gradient_clipping: {low: 1, high: 10.0}\n"
        "    train.augmentation: {choices: [[], [{random_horizontal_flip: {}}]]}\n"
        "  pruner: none\n  sampler: random\n")
    tune = load_spec(Path("spec.yaml"), text).spec.tune
    assert tune is not None
    kinds = {path: param.kind for path, param in tune.space.items()}
    assert kinds == {"train.learning_rate.base": "float", "train.steps": "int", "train.gradient_clipping": "float",
                     "train.augmentation": "choices"}
    assert (tune.pruner.type, tune.sampler.type, tune.objective) == ("none", "random", None)
    assert tune.max_trials == DEFAULT_TUNE_TRIALS  # neither trials nor a time budget given


def test_defaults_are_tpe_and_median_and_a_time_budget_alone_sets_no_trial_count() -> None:
    tune = load_spec(Path("spec.yaml"), GOOD_SPEC + SPACE + "    train.batch_size: {choices: [4]}\n"
                     "  timeout_minutes: 90\n").spec.tune
    assert tune is not None
    assert tune.sampler == TPESampler(type="tpe", startup_trials=10)
    assert tune.pruner == MedianPruner(type="median", startup_trials=5, warmup_evaluations=1)
    assert tune.max_trials is None


def test_the_tune_block_is_left_out_of_every_dump_so_editing_it_retrains_nothing() -> None:
    plain = load_spec(Path("spec.yaml"), GOOD_SPEC).spec
    tuned = load_spec(Path("spec.yaml"), GOOD_SPEC + SPACE + "    train.batch_size: {choices: [4]}\n").spec
    assert tuned.tune is not None
    assert "tune" not in tuned.model_dump(mode="json")
    assert tuned.model_dump(mode="json") == plain.model_dump(mode="json")


def test_the_json_schema_accepts_the_shorthands_and_refuses_unknown_names() -> None:
    import jsonschema
    import yaml

    from odspec.spec.models import Spec

    schema = Spec.model_json_schema()
    spec = yaml.safe_load(GOOD_SPEC + SPACE + "    train.batch_size: {choices: [4, 8]}\n  pruner: median\n"
                          "  sampler: {type: tpe, startup_trials: 3}\n")
    jsonschema.validate(spec, schema)
    spec["tune"]["pruner"] = "medain"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
