"""Render the templates, parse the result into the OD API's own protos, write it canonically.

Pure: returns ``{file name: bytes}``; writing is :mod:`odspec.io`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import jinja2
from google.protobuf import text_format
from google.protobuf.message import Message

from odspec.catalogue import CATALOGUE
from odspec.compile.context import Paths, template_context
from odspec.compile.final import final_problems
from odspec.compile.header import header
from odspec.compile.overrides import apply_override, owner
from odspec.errors import BuildError, CompileFailed, OverrideError
from odspec.odapi import protos
from odspec.odapi.pbtext import fields, literal
from odspec.odapi.protos import is_repeated
from odspec.resources import templates_folder
from odspec.spec.models import Spec

# The OD API's messages are classes built at run time from its .proto files (odapi/protos.py): the type checker
# cannot know their fields, so code that reads fields by name takes an OdapiMessage.
OdapiMessage = Any
_M = TypeVar("_M", bound=Message)


@dataclass(frozen=True)
class CompileProblem:
    """Something about the spec only compiling can find; ``loc`` is the spec path to blame."""

    loc: tuple[str | int, ...]
    message: str


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_folder())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pb"] = literal
    env.filters["pbfields"] = fields
    return env


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def parse(text: str, message: _M, what: str) -> _M:
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise BuildError(f"odspec rendered a {what} the OD API cannot parse: {err}",
                         "this is a bug in odspec; please report it") from None
    return message


def _messages_of_type(message: OdapiMessage, type_name: str) -> list[OdapiMessage]:
    """Every set sub-message of ``message`` whose proto type is ``type_name``."""
    found = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        values = value if is_repeated(field) else [value]
        for item in values:
            if field.message_type.name == type_name:
                found.append(item)
            found.extend(_messages_of_type(item, type_name))
    return found


_DETECTION_LIMITS = ("max_detections_per_class", "max_total_detections", "max_box_predictions")


def set_model_options(spec: Spec, config: OdapiMessage) -> list[CompileProblem]:
    """Spec options that apply wherever the architecture has the field: batch-norm decay, detection limits."""
    problems = []
    if spec.model.batch_norm_decay is not None:
        norms = _messages_of_type(config.model, "BatchNorm")
        if not norms:
            problems.append(CompileProblem(("model", "batch_norm_decay"),
                                           "this architecture has no configurable batch norm"))
        for norm in norms:
            norm.decay = spec.model.batch_norm_decay
    if spec.model.max_detections is not None:
        limits = _limit_owners(config.model)
        for owner, name in limits:
            setattr(owner, name, spec.model.max_detections)
    return problems


def _limit_owners(model: OdapiMessage) -> list[tuple[Message, str]]:
    """(message, field) of every per-image detection limit: NMS limits and CenterNet's box predictions."""
    owners: list[tuple[Message, str]] = []
    for type_name in ("BatchNonMaxSuppression", "ObjectCenterParams"):
        for message in _messages_of_type(model, type_name):
            owners.extend((message, name) for name in _DETECTION_LIMITS if name in message.DESCRIPTOR.fields_by_name)
    return owners


def apply_overrides(spec: Spec, config: OdapiMessage) -> list[CompileProblem]:
    """Apply each override, refusing those of fields a spec field sets (located at the override's own line)."""
    problems = []
    family = config.model.WhichOneof("model") or ""
    for path, value in spec.overrides.items():
        reason = owner(path, value, family)
        if reason is not None:
            problems.append(CompileProblem(("overrides", path), reason))
            continue
        try:
            apply_override(config, path, value)
        except OverrideError as err:
            problems.append(CompileProblem(("overrides", path), str(err)))
    return problems


def pipeline_message(spec: Spec, paths: Paths) -> tuple[Message, list[str]]:
    """The compiled ``TrainEvalPipelineConfig`` and its header comment lines, read from the final config."""
    context = template_context(spec, paths)
    config = parse(render("pipeline.config.j2", context), protos.load("pipeline_pb2").TrainEvalPipelineConfig(),
                   "pipeline.config")
    problems = set_model_options(spec, config) + apply_overrides(spec, config)
    problems += [CompileProblem(loc, message) for loc, message in final_problems(spec, config, paths)]
    if problems:
        raise CompileFailed(problems)
    return config, header(spec, CATALOGUE[spec.model.architecture], config)


def pipeline_text(config: Message, header: list[str]) -> str:
    comments = "".join(f"# {line}\n" for line in header)
    return comments + text_format.MessageToString(config, as_utf8=True)


def label_map_message(classes: list[str]) -> OdapiMessage:
    text = render("label_map.pbtxt.j2", {"classes": classes})
    label_map = parse(text, protos.load("string_int_label_map_pb2").StringIntLabelMap(), "label map")
    names = [item.name for item in label_map.item]
    if names != list(classes) or [item.id for item in label_map.item] != list(range(1, len(classes) + 1)):
        raise BuildError("the rendered label map does not match the class list",
                         "this is a bug in odspec; please report it")
    return label_map


def label_map_text(classes: list[str]) -> str:
    return text_format.MessageToString(label_map_message(classes), as_utf8=True)


def compile_spec(spec: Spec, paths: Paths) -> dict[str, bytes]:
    """``{"pipeline.config": ..., "label_map.pbtxt": ...}`` for ``spec``; same spec, same bytes."""
    config, header = pipeline_message(spec, paths)
    return {
        "pipeline.config": pipeline_text(config, header).encode("utf-8"),
        "label_map.pbtxt": label_map_text(list(spec.dataset.classes)).encode("utf-8"),
    }
