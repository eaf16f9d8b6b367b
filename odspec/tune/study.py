"""The ``tune`` block in Optuna's terms: distributions, a trial's values, the sampler and the pruner.

Optuna is imported inside each function, never at module level, so ``odspec validate``, ``build`` and
``--help`` stay free of it (tests/unit/test_imports.py, tests/unit/cli/test_cli.py). Parameters are named by
their dotted spec path. Choices that Optuna cannot store (lists, mappings, or values Python counts as equal,
like ``1`` and ``true``) are offered to it as their one-line YAML text and turned back by :func:`decode`.

The study loop reports a trial's n-th evaluation (n = 1, 2, ...) as step n, so the pruners' settings count
evaluations whatever the evaluation interval: see :data:`FIRST_STEP`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from odspec.spec.errors_map import flow
from odspec.spec.models import (
    GridSampler,
    MedianPruner,
    Objective,
    RandomSampler,
    SearchParam,
    SuccessiveHalvingPruner,
    Tune,
)

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

FIRST_STEP = 1  # the step a trial's first evaluation is reported at
Mode = Literal["max", "min"]
_PLAIN = (str, int, float, bool, type(None))


def objective_of(tune: Tune, selection: tuple[str, Mode]) -> Objective:
    """``tune.objective``, else ``selection``: how the run picks its best checkpoint (``api._selection``'s metric
    and mode, passed in so that one place decides it)."""
    if tune.objective is not None:
        return tune.objective
    metric, mode = selection
    return Objective(metric=metric, mode=mode)


def direction(objective: Objective) -> Literal["maximize", "minimize"]:
    return "maximize" if objective.mode == "max" else "minimize"


def choice_labels(param: SearchParam) -> list[Any]:
    """What Optuna is offered for ``choices``: the values themselves when it can store them, else their YAML text."""
    assert param.choices is not None
    plain = all(isinstance(c, _PLAIN) for c in param.choices)
    if plain and len(set(param.choices)) == len(param.choices):  # Optuna finds a choice by ==: 1 is true
        return list(param.choices)
    return [flow(c) for c in param.choices]


def distributions(space: Mapping[str, SearchParam]) -> dict[str, BaseDistribution]:
    """One Optuna distribution per dotted path, for ``study.ask(fixed_distributions=...)``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    result: dict[str, BaseDistribution] = {}
    for path, param in space.items():
        if param.kind == "choices":
            result[path] = CategoricalDistribution(choice_labels(param))
        elif param.kind == "int":
            assert isinstance(param.low, int) and isinstance(param.high, int)
            result[path] = IntDistribution(param.low, param.high, log=param.log, step=int(param.step or 1))
        else:
            assert param.low is not None and param.high is not None
            result[path] = FloatDistribution(float(param.low), float(param.high), log=param.log,
                                             step=None if param.step is None else float(param.step))
    return result


def suggest(trial: optuna.Trial, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """The trial's value for every path, drawn by ``trial.suggest_*`` (define-by-run), decoded for the spec."""
    drawn: dict[str, Any] = {}
    for path, param in space.items():
        if param.kind == "choices":
            drawn[path] = trial.suggest_categorical(path, choice_labels(param))
        elif param.kind == "int":
            assert isinstance(param.low, int) and isinstance(param.high, int)
            drawn[path] = trial.suggest_int(path, param.low, param.high, step=int(param.step or 1), log=param.log)
        else:
            assert param.low is not None and param.high is not None
            drawn[path] = trial.suggest_float(path, float(param.low), float(param.high), log=param.log,
                                              step=None if param.step is None else float(param.step))
    return decode(space, drawn)


def decode(space: Mapping[str, SearchParam], params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's ``params`` (as Optuna stores them) as spec values, in the space's order."""
    values: dict[str, Any] = {}
    for path, param in space.items():
        value = params[path]
        if param.choices is not None:
            value = param.choices[choice_labels(param).index(value)]
        values[path] = value
    return values


def in_space(param: SearchParam, value: Any) -> bool:
    """Whether ``value`` is one the parameter can take (a choice, or in the range and on its step)."""
    if param.choices is not None:
        return _choice_index(param, value) is not None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if param.kind == "int" and not isinstance(value, int):
        return False
    assert param.low is not None and param.high is not None
    if not param.low <= value <= param.high:
        return False
    if param.step is None:
        return True
    steps = (value - param.low) / param.step
    return abs(steps - round(steps)) < 1e-9


def _choice_index(param: SearchParam, value: Any) -> int | None:
    """Where ``value`` is among the choices, by value and type (``1`` is not ``true``, nor ``1.0``)."""
    assert param.choices is not None
    return next((i for i, c in enumerate(param.choices) if value == c and type(value) is type(c)), None)


def baseline(space: Mapping[str, SearchParam], values: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The spec's own ``values`` of the space's paths as Optuna stores a trial's params, for
    ``study.enqueue_trial``; or None and which value is outside the space."""
    params: dict[str, Any] = {}
    for path, param in space.items():
        value = values.get(path)
        if not in_space(param, value):
            return None, f"{path} = {flow(value)} is outside the space"
        index = _choice_index(param, value) if param.choices is not None else None
        params[path] = value if index is None else choice_labels(param)[index]
    return params, ", ".join(f"{path} = {flow(values[path])}" for path in space)


def grid(space: Mapping[str, SearchParam]) -> dict[str, list[Any]]:
    """Every value of each path, for the grid sampler; the space check refuses a continuous range before this."""
    result: dict[str, list[Any]] = {}
    for path, param in space.items():
        if param.kind == "choices":
            result[path] = choice_labels(param)
        elif param.kind == "int":
            assert isinstance(param.low, int) and isinstance(param.high, int)
            result[path] = list(range(param.low, param.high + 1, int(param.step or 1)))
        else:
            assert param.low is not None and param.high is not None and param.step is not None
            count = round((param.high - param.low) / param.step)
            result[path] = [float(param.low) + i * param.step for i in range(count + 1)]
    return result


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number``'s draws: from ``train.seed`` and the trial's number, so that a study repeats
    its draws and two processes on one study (each with its own sampler) do not draw the same values."""
    if seed is None:
        return None
    return random.Random(f"odspec-tune:{seed}:{number}").getrandbits(32)


def make_sampler(tune: Tune, seed: int | None) -> optuna.samplers.BaseSampler:
    """The block's sampler, seeded with ``seed`` (``train.seed``; None: unseeded) so a study repeats its draws."""
    import optuna

    sampler = tune.sampler
    if isinstance(sampler, RandomSampler):
        return optuna.samplers.RandomSampler(seed=seed)
    if isinstance(sampler, GridSampler):
        return _ask_and_tell_grid(grid(tune.space), seed)
    return optuna.samplers.TPESampler(n_startup_trials=sampler.startup_trials, seed=seed)


def _ask_and_tell_grid(space: dict[str, list[Any]], seed: int | None) -> optuna.samplers.GridSampler:
    """Optuna's grid calls ``study.stop()`` after the last cell, which raises outside ``study.optimize``; the
    ask-and-tell loop asks ``sampler.is_exhausted(study)`` before each trial instead."""
    import optuna

    class AskAndTellGrid(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskAndTellGrid(space, seed=seed)


def make_pruner(tune: Tune) -> optuna.pruners.BasePruner:
    """The block's pruner, its settings counted in evaluations (see :data:`FIRST_STEP`)."""
    import optuna

    pruner = tune.pruner
    if isinstance(pruner, MedianPruner):
        # Optuna prunes from step n_warmup_steps on; the first warmup_evaluations evaluations are spared
        return optuna.pruners.MedianPruner(n_startup_trials=pruner.startup_trials,
                                           n_warmup_steps=pruner.warmup_evaluations + FIRST_STEP)
    if isinstance(pruner, SuccessiveHalvingPruner):
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=pruner.min_evaluations if pruner.min_evaluations is not None else "auto",
            reduction_factor=pruner.reduction_factor)
    return optuna.pruners.NopPruner()
