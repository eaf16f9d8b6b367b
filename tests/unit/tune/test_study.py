"""The space in Optuna's terms, checked against real Optuna: distributions, suggestions, sampler and pruner."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from odspec.spec.load import load_spec
from odspec.spec.models import Objective, Tune
from odspec.tune.study import (
    FIRST_STEP,
    decode,
    direction,
    distributions,
    grid,
    make_pruner,
    make_sampler,
    objective_of,
    suggest,
)
from tests.support import GOOD_SPEC

SPACE = {
    "train.learning_rate.base": {"low": 0.004, "high": 0.08, "log": True},
    "train.steps": {"low": 100, "high": 300, "step": 100},
    "train.gradient_clipping": {"low": 1.0, "high": 2.0, "step": 0.5},
    "train.batch_size": {"choices": [4, 8]},
    "train.augmentation": {"choices": [[], [{"random_horizontal_flip": {}}]]},
    "model.input_size": {"choices": [1, True]},  # equal to Python: offered as text
}


def tune(**settings: object) -> Tune:
    return Tune.model_validate({"space": SPACE, **settings})


def test_distributions_follow_the_kinds() -> None:
    found = distributions(tune().space)
    assert found["train.learning_rate.base"] == optuna.distributions.FloatDistribution(0.004, 0.08, log=True)
    assert found["train.steps"] == optuna.distributions.IntDistribution(100, 300, step=100)
    assert found["train.gradient_clipping"] == optuna.distributions.FloatDistribution(1.0, 2.0, step=0.5)
    assert found["train.batch_size"] == optuna.distributions.CategoricalDistribution([4, 8])
    assert found["train.augmentation"] == optuna.distributions.CategoricalDistribution(
        ["[]", "[{random_horizontal_flip: {}}]"])
    assert found["model.input_size"] == optuna.distributions.CategoricalDistribution(["1", "true"])


def test_suggest_and_ask_give_spec_values_in_range() -> None:
    space = tune().space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_flips = set()
    for _ in range(12):
        trial = study.ask()
        values = suggest(trial, space)
        assert 0.004 <= values["train.learning_rate.base"] <= 0.08
        assert values["train.steps"] in (100, 200, 300) and values["train.gradient_clipping"] in (1.0, 1.5, 2.0)
        assert values["train.augmentation"] in ([], [{"random_horizontal_flip": {}}])
        assert values["model.input_size"] in (1, True) and type(values["model.input_size"]) in (int, bool)
        seen_flips.add(len(values["train.augmentation"]))
        asked = study.ask(distributions(space))  # ask-and-tell with fixed distributions decodes the same way
        assert decode(space, asked.params)["train.batch_size"] in (4, 8)
        study.tell(trial, 0.5)
        study.tell(asked, 0.5)
    assert seen_flips == {0, 1}


def test_tpe_is_seeded_so_a_study_repeats_its_draws() -> None:
    def draws(seed: int | None) -> list[dict[str, object]]:
        study = optuna.create_study(sampler=make_sampler(tune(), seed))
        out = []
        for i in range(4):
            trial = study.ask()
            out.append(suggest(trial, tune().space))
            study.tell(trial, float(i))
        return out

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert isinstance(make_sampler(tune(sampler="random"), 1), optuna.samplers.RandomSampler)


def test_grid_lists_every_value_and_runs_through_them() -> None:
    space = Tune.model_validate({"space": {"train.steps": {"low": 100, "high": 300, "step": 100},
                                           "train.gradient_clipping": {"low": 1.0, "high": 2.0, "step": 0.5},
                                           "train.augmentation": SPACE["train.augmentation"]},
                                 "sampler": "grid"})
    assert grid(space.space) == {"train.steps": [100, 200, 300], "train.gradient_clipping": [1.0, 1.5, 2.0],
                                 "train.augmentation": ["[]", "[{random_horizontal_flip: {}}]"]}
    study = optuna.create_study(sampler=make_sampler(space, 0))
    seen = set()
    for _ in range(18):
        trial = study.ask()
        values = suggest(trial, space.space)
        seen.add((values["train.steps"], values["train.gradient_clipping"], len(values["train.augmentation"])))
        study.tell(trial, 1.0)  # Optuna's own grid would raise here on the last cell, outside study.optimize
    assert len(seen) == 18
    assert study.sampler.is_exhausted(study)  # type: ignore[attr-defined]


def test_median_pruner_spares_the_warmup_evaluations() -> None:
    pruner = make_pruner(tune(pruner={"type": "median", "startup_trials": 1, "warmup_evaluations": 1}))
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    good = study.ask()
    for n in (FIRST_STEP, FIRST_STEP + 1):
        good.report(0.9, n)
    study.tell(good, 0.9)
    bad = study.ask()
    bad.report(0.1, FIRST_STEP)
    assert not bad.should_prune()  # its first evaluation is warm-up
    bad.report(0.1, FIRST_STEP + 1)
    assert bad.should_prune()


def test_other_pruners() -> None:
    halving = make_pruner(tune(pruner={"type": "successive_halving", "min_evaluations": 2, "reduction_factor": 3}))
    assert isinstance(halving, optuna.pruners.SuccessiveHalvingPruner)
    assert (halving._min_resource, halving._reduction_factor) == (2, 3)
    assert isinstance(make_pruner(tune(pruner="none")), optuna.pruners.NopPruner)


def test_the_objective_defaults_to_the_runs_selection() -> None:
    assert objective_of(tune(), ("DetectionBoxes_Precision/mAP", "max")) == Objective(
        metric="DetectionBoxes_Precision/mAP", mode="max")
    given = tune(objective={"metric": "Loss/total_loss", "mode": "min"})
    assert objective_of(given, ("DetectionBoxes_Precision/mAP", "max")).metric == "Loss/total_loss"
    assert direction(objective_of(given, ("x", "max"))) == "minimize"


@pytest.mark.parametrize("text", ["    train.batch_size: {choices: [4, 8]}\n"])
def test_a_loaded_block_maps_too(text: str) -> None:
    loaded = load_spec(Path("spec.yaml"), GOOD_SPEC + "tune:\n  space:\n" + text)
    assert loaded.spec.tune is not None
    assert list(distributions(loaded.spec.tune.space)) == ["train.batch_size"]


def test_in_space_and_the_baseline_params() -> None:
    from odspec.spec.models import SearchParam
    from odspec.tune.study import baseline, in_space

    rate = SearchParam.model_validate({"low": 0.001, "high": 0.1, "log": True})
    size = SearchParam.model_validate({"low": 2, "high": 8, "step": 2})
    flips = SearchParam.model_validate({"choices": [[], [{"random_horizontal_flip": {}}]]})
    switch = SearchParam.model_validate({"choices": [1, True]})
    assert in_space(rate, 0.04) and not in_space(rate, 0.2) and not in_space(rate, "0.04") and not in_space(rate, True)
    assert in_space(size, 6) and not in_space(size, 5) and not in_space(size, 6.0) and not in_space(size, None)
    assert in_space(flips, []) and not in_space(flips, [{"random_vertical_flip": {}}])
    assert in_space(switch, True) and in_space(switch, 1) and not in_space(switch, 1.0)
    params, said = baseline({"train.learning_rate.base": rate, "train.augmentation": flips, "x": switch},
                            {"train.learning_rate.base": 0.04, "train.augmentation": [], "x": True})
    assert params == {"train.learning_rate.base": 0.04, "train.augmentation": "[]", "x": "true"}  # YAML labels
    assert said == "train.learning_rate.base = 0.04, train.augmentation = [], x = true"
    assert baseline({"train.batch_size": size}, {}) == (None, "train.batch_size = null is outside the space")


def test_each_trial_is_seeded_from_the_spec_seed_and_its_number() -> None:
    from odspec.tune.study import trial_seed

    seeds = [trial_seed(0, n) for n in range(50)]
    assert seeds == [trial_seed(0, n) for n in range(50)]  # a study repeats its draws
    assert len(set(seeds)) == 50 and set(seeds).isdisjoint(trial_seed(1, n) for n in range(50))
    assert trial_seed(None, 3) is None  # unseeded stays unseeded
