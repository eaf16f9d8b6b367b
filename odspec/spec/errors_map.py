"""Turn pydantic's validation errors into located, friendly problems.

Each message says what was expected (from the field's type and constraints),
what was given, a did-you-mean for misspelt keys and choices, and an example
taken from the field's ``examples``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from odspec.errors import Problem, suggest
from odspec.spec.models import FLOAT32_MAX, INT32_MAX, MAX_SHARDS, UINT32_MAX
from odspec.spec.yamlsrc import Loc, SourceMap

TYPE_LIMITS = (INT32_MAX, UINT32_MAX, FLOAT32_MAX, MAX_SHARDS)


@dataclass
class Target:
    """What a pydantic error location points at, once union-member labels are dropped."""

    loc: Loc
    annotation: Any
    field: FieldInfo | None
    model: type[BaseModel] | None  # the model owning the last key, for did-you-mean


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """``Annotated[X, ...]`` -> (X, constraints)."""
    metadata: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        args = typing.get_args(tp)
        tp = args[0]
        for extra in args[1:]:
            metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
    return tp, metadata


def _members(tp: Any) -> list[Any]:
    base, _ = _unwrap(tp)
    if typing.get_origin(base) in (Union, types.UnionType):
        return [m for arg in typing.get_args(base) for m in _members(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: str | int, given: Any) -> tuple[Any, FieldInfo | None, bool]:
    """Follow one location part; the flag says whether it is a real key (not a union label)."""
    for member in _members(tp):
        base, _ = _unwrap(member)
        if _is_model(base) and isinstance(part, str) and part in base.model_fields:
            info = base.model_fields[part]
            return _with_metadata(info), info, True
        origin = typing.get_origin(base)
        if origin is list and isinstance(part, int):
            return typing.get_args(base)[0], None, True
        if origin is dict and isinstance(part, str) and isinstance(given, dict) and part in given:
            return typing.get_args(base)[1], None, True
    for member in _members(tp):  # a discriminator tag or a union member label
        base, _ = _unwrap(member)
        if _is_model(base) and _tag(base) == part:
            return base, None, False
    return tp, None, False


def _with_metadata(info: FieldInfo) -> Any:
    if info.metadata:
        arguments = (info.annotation, *info.metadata)
        return typing.Annotated[arguments]
    return info.annotation


def _tag(model: Any) -> Any:
    if not _is_model(model):
        return None
    field = model.model_fields.get("type")
    if field is not None and typing.get_origin(field.annotation) is Literal:
        return typing.get_args(field.annotation)[0]
    return None


def resolve(root: type[BaseModel], loc: Loc, data: Any) -> Target:
    tp: Any = root
    clean: list[str | int] = []
    info: FieldInfo | None = None
    owner: type[BaseModel] | None = root
    for part in loc:
        base_members = [_unwrap(m)[0] for m in _members(tp)]
        models = [m for m in base_members if _is_model(m)]
        tp, step_info, real = _step(tp, part, data)
        if real:
            owner = models[0] if models and isinstance(part, str) else None
            clean.append(part)
            info = step_info
            if isinstance(data, dict):
                data = data.get(part)
            else:
                data = data[part] if isinstance(data, list) and isinstance(part, int) and part < len(data) else None
    return Target(tuple(clean), tp, info, owner)


def describe(tp: Any, *, ranged: bool = False) -> str:
    """A phrase for what a type accepts: 'a positive integer', "one of 'a', 'b'".

    ``ranged`` names the type's ceiling.
    """
    phrases = []
    for member in _members(tp):
        base, metadata = _unwrap(member)
        if base is type(None):
            continue
        phrases.append(_describe_one(base, metadata, ranged))
    unique = list(dict.fromkeys(phrases))
    return " or ".join(unique) if unique else "a value"


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    found = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le", "min_length"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _describe_one(base: Any, metadata: list[Any], ranged: bool = False) -> str:
    bounds = _bounds(metadata) if ranged else _drop_limits(_bounds(metadata))
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(base))
    if base is bool:
        return "true or false"
    if base is int:
        return _describe_integer(bounds)
    if base is float:
        return _describe_number(bounds)
    if base is str:
        return "a string"
    origin = typing.get_origin(base)
    if origin is list:
        return "a list"
    if origin is dict or _is_model(base):
        return "a mapping"
    return getattr(base, "__name__", str(base))


def _drop_limits(bounds: dict[str, Any]) -> dict[str, Any]:
    """Without the proto-type ceilings: 'a positive integer' reads better than its range, unless the ceiling was hit."""
    return {k: v for k, v in bounds.items() if k not in ("lt", "le") or v not in TYPE_LIMITS}


def _describe_integer(bounds: dict[str, Any]) -> str:
    """'an integer from 1 to 4294967295': exclusive bounds become inclusive ones."""
    low = bounds["gt"] + 1 if "gt" in bounds else bounds.get("ge")
    high = bounds["lt"] - 1 if "lt" in bounds else bounds.get("le")
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    if low is not None:
        return "a positive integer" if low == 1 else f"an integer of {low} or more"
    return "an integer" if high is None else f"an integer of {high} or less"


def _describe_number(bounds: dict[str, Any]) -> str:
    if bounds.get("gt") == 0 and len(bounds) == 1:
        return "a positive number"
    if bounds.get("ge") == 0 and len(bounds) == 1:
        return "a number of 0 or more"
    low = f"> {bounds['gt']}" if "gt" in bounds else (f">= {bounds['ge']}" if "ge" in bounds else "")
    high = f"< {bounds['lt']}" if "lt" in bounds else (f"<= {bounds['le']:g}" if "le" in bounds else "")
    parts = [p for p in (low, high) if p]
    return "a number " + " and ".join(parts) if parts else "a number"


def flow(value: Any) -> str:
    """A value as one line of YAML (``[4, 8]``, ``{type: cosine}``): every message that quotes a value uses it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text[:-4] if text.endswith("\n...") else text.removesuffix("...").strip()


def _example(target: Target) -> str | None:
    if target.field is None or not target.field.examples or not target.loc:
        return None
    key = target.loc[-1]
    return f"e.g. {key}: {flow(target.field.examples[0])}"


def _given(value: Any) -> str:
    return "nothing" if value is None else flow(value) if not isinstance(value, str) else repr(value)


def problems_from(err: ValidationError, root: type[BaseModel], data: Any, source: SourceMap) -> list[Problem]:
    """One problem per distinct location (pydantic reports each union member separately)."""
    grouped: dict[Loc, tuple[Target, list[ErrorDetails]]] = {}
    for item in err.errors():
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            parent = resolve(root, loc[:-1], data)
            owner = next((_unwrap(m)[0] for m in _members(parent.annotation) if _is_model(_unwrap(m)[0])), None)
            target = Target((*parent.loc, loc[-1]), None, None, owner)
        else:
            target = resolve(root, loc, data)
        grouped.setdefault(target.loc, (target, []))[1].append(item)
    return [_problem(target, items, source) for target, items in grouped.values()]


def _problem(target: Target, items: list[ErrorDetails], source: SourceMap) -> Problem:
    key = ".".join(str(p) for p in target.loc)
    item = items[0]
    kind, given = item["type"], item.get("input")
    if kind == "extra_forbidden":
        choices = list(target.model.model_fields) if target.model else []
        line, col = source.locate(target.loc, at_key=True)
        hint = "allowed here: " + ", ".join(choices) if choices and not suggest(str(target.loc[-1]), choices) else None
        return Problem(source.file, line, col, key, f"unknown key{suggest(str(target.loc[-1]), choices)}", hint)
    line, col = source.locate(target.loc)
    if kind == "missing":
        return Problem(source.file, line, col, key, "required key is missing", _example(target))
    if kind == "too_short":
        least = item.get("ctx", {}).get("min_length", 1)
        message = f"expected at least {least} item{'s' if least != 1 else ''}, got {len(given) or 'none'}"
        return Problem(source.file, line, col, key, message, _example(target))
    if kind == "value_error":
        return Problem(source.file, line, col, key, item["msg"].removeprefix("Value error, "), None)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = [_tag(_unwrap(m)[0]) for m in _members(target.annotation)]
        tags = [t for t in tags if t is not None]
        wanted = ", ".join(repr(t) for t in tags)
        if kind == "union_tag_not_found":
            return Problem(source.file, line, col, key, f"missing `type`: expected one of {wanted}",
                           f"e.g. type: {tags[0]}")
        tag = str(item.get("ctx", {}).get("tag", ""))
        message = f"expected one of {wanted}, got {tag!r}{suggest(tag, tags)}"
        return Problem(source.file, line, col, key + ".type", message, f"e.g. type: {tags[0]}")
    if kind == "literal_error":
        choices = [str(v) for member in _members(target.annotation) if typing.get_origin(_unwrap(member)[0]) is Literal
                   for v in typing.get_args(_unwrap(member)[0]) if isinstance(v, str)]
        message = f"expected {describe(target.annotation)}, got {_given(given)}{suggest(str(given), choices)}"
        return Problem(source.file, line, col, key, message)
    expected = describe(target.annotation, ranged=kind in ("less_than", "less_than_equal"))
    return Problem(source.file, line, col, key, f"expected {expected}, got {_given(given)}", _example(target))
