"""The search space checked before any trial: each dotted path names a tunable field, each value it can take is valid.

Pure (the only files read are the pre-trained checkpoint's, by the spec's own checks) and without Optuna or
TensorFlow, so ``odspec validate`` runs it. A value is checked by substituting it into the spec's raw mapping
(:func:`odspec.tune.resolve.substitute`) and running the spec's own validation and cross-field checks on the
result; every problem is located at the ``tune.space`` entry that produces it.
"""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from odspec.errors import Problem, suggest
from odspec.spec.errors_map import flow, problems_from
from odspec.spec.load import LoadedSpec
from odspec.spec.models import SearchParam, Spec, Tune
from odspec.tune.resolve import substitute

# Where no trial may differ: what a trial is compared on, or what names the search.
FROZEN = {
    "tune": "the search cannot tune itself",
    "version": "every trial is a version 1 spec",
    "project": "trials are one project; each gets its own model directory",
    "dataset": "trials must be trained and compared on the same images",
    "eval.split": "trials must be compared on the same evaluation images",
    "eval.metrics": "trials must be compared by the same metrics",
}
MAX_COMBINATIONS = 256  # extreme-value combinations checked together; a larger space is checked value by value


def space_problems(loaded: LoadedSpec) -> list[Problem]:
    """Every problem of ``tune.space``: paths first; values only once every path names a tunable field."""
    tune = loaded.spec.tune
    if tune is None:
        return []
    found = [_at_key(loaded, loc, message, hint) for loc, message, hint in _path_findings(tune)]
    if found:
        return found
    return _value_problems(loaded, tune)


def _at_key(loaded: LoadedSpec, loc: tuple[str | int, ...], message: str, hint: str | None) -> Problem:
    """A space entry is one dotted key: point at it, not into its value (as for an override)."""
    line, col = loaded.source.locate(loc, at_key=True)
    return Problem(loaded.source.file, line, col, ".".join(str(p) for p in loc), message, hint)


# --- paths ---------------------------------------------------------------------------------------------------------

Finding = tuple[tuple[str | int, ...], str, "str | None"]


def _path_findings(tune: Tune) -> Iterator[Finding]:
    paths = list(tune.space)
    for path in paths:
        loc = ("tune", "space", path)
        problem = path_problem(path)
        if problem is not None:
            yield (loc, *problem)
            continue
        inside = [other for other in paths if other != path and other.startswith(path + ".")]
        if inside:
            yield loc, f"{inside[0]} is tuned too, inside this field", "tune one or the other"
    continuous = [path for path, param in tune.space.items() if param.kind == "float" and param.step is None]
    if tune.sampler.type == "grid" and continuous:
        yield (("tune", "sampler"), f"a grid needs every value listed, but {continuous[0]} is a continuous range",
               f"give {continuous[0]} a step or choices, or use sampler: tpe")


def path_problem(path: str) -> tuple[str, str | None] | None:
    """(message, hint) when ``path`` is not a spec field a trial may change, else None."""
    parts = path.split(".")
    for frozen, why in FROZEN.items():
        if parts[: frozen.count(".") + 1] == frozen.split("."):
            return f"{frozen} cannot be tuned: {why}", None
    models: list[type[BaseModel]] = [Spec]
    for depth, part in enumerate(parts):
        fields = {name: info for model in models for name, info in model.model_fields.items()}
        if part not in fields:
            where = ".".join(parts[:depth]) or "the spec"
            close = suggest(part, fields)
            hint = None if close else f"fields of {where}: {', '.join(_tunable(fields, parts[:depth]))}"
            return f"{where} has no field {part!r}{close}", hint
        models = _models(fields[part].annotation)
        if depth < len(parts) - 1 and not models:
            return (f"{'.'.join(parts[: depth + 1])} is a single value, not a section: tune it whole",
                    f"e.g. {'.'.join(parts[: depth + 1])}: {{choices: [...]}}")
    return None


def _tunable(fields: Mapping[str, Any], prefix: list[str]) -> list[str]:
    return [name for name in fields if path_problem(".".join([*prefix, name])) is None]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models a field holds: itself, or the members of an optional or discriminated union."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


# --- values --------------------------------------------------------------------------------------------------------

def candidates(param: SearchParam) -> list[Any]:
    """What a trial's value is checked at: every choice, or both ends of a range."""
    if param.choices is not None:
        return list(param.choices)
    return [param.low, param.high]


def _value_problems(loaded: LoadedSpec, tune: Tune) -> list[Problem]:
    found: dict[tuple[str, str], Problem] = {}
    for path, param in tune.space.items():
        for value in candidates(param):
            for problem in _invalid(loaded, {path: value}):
                found.setdefault((path, problem.key + problem.message),
                                 _located(loaded, path, param, {path: value}, problem))
    if found:
        return list(found.values())
    return _combination_problems(loaded, tune)


def _combination_problems(loaded: LoadedSpec, tune: Tune) -> list[Problem]:
    """Values each valid alone may not be together (a batch size and a replica count): the first failing mix."""
    lists = [candidates(p) for p in tune.space.values()]
    if len(tune.space) < 2 or _product_size(lists) > MAX_COMBINATIONS:
        return []
    for values in itertools.product(*lists):
        chosen = dict(zip(tune.space, values, strict=True))
        problems = _invalid(loaded, chosen)
        if problems:
            path = _blamed(list(chosen), problems[0].key)
            return [_located(loaded, path, tune.space[path], chosen, problems[0])]
    return []


def _product_size(lists: list[list[Any]]) -> int:
    size = 1
    for items in lists:
        size *= len(items)
    return size


def _blamed(paths: list[str], key: str) -> str:
    """The tuned path the problem's key lies in (or that lies in it), else the last one varied."""
    for path in paths:
        if key == path or key.startswith(path + ".") or path.startswith(key + "."):
            return path
    return paths[-1]


def _invalid(loaded: LoadedSpec, values: Mapping[str, Any]) -> list[Problem]:
    """The problems of the spec with ``values`` substituted, by the spec's own validation and checks."""
    from odspec.spec.checks import check

    data = substitute(loaded.data, values)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        return problems_from(err, Spec, data, loaded.source)
    return check(LoadedSpec(spec, loaded.path, loaded.source, data))


def _located(loaded: LoadedSpec, path: str, param: SearchParam, values: Mapping[str, Any],
             problem: Problem) -> Problem:
    value = values[path]
    if param.choices is not None:
        what, fix = f"choice {flow(value)}", f"remove {flow(value)} from choices"
    else:
        end = "low" if value == param.low else "high"
        what, fix = f"{end} end {flow(value)}", f"narrow the range ({end}: {flow(value)} is tried)"
    others = [f"{other} {flow(v)}" for other, v in values.items() if other != path]
    together = f" with {', '.join(others)}" if others else ""
    underlying = f"{problem.key}: {problem.message}" if problem.key else problem.message
    hint = f"{fix}; {problem.hint}" if problem.hint else fix
    return _at_key(loaded, ("tune", "space", path), f"{what}{together} makes the spec invalid: {underlying}", hint)
