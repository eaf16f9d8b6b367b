"""The escape hatch: set any field of the pipeline proto by dotted path.

``model.ssd.feature_extractor.depth_multiplier: 0.5`` sets a scalar; a mapping
value merges into a message field; a list replaces a repeated field; ``name[i]``
indexes into a repeated message field. Paths are checked against the proto's
own descriptors, with a did-you-mean when a name is misspelt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from odspec.errors import OverrideError, suggest
from odspec.odapi.protos import is_repeated

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d{1,9})\])?$")


def _field(message: Message, name: str) -> FieldDescriptor:
    fields = message.DESCRIPTOR.fields_by_name
    if name not in fields:
        choices = sorted(fields)
        raise OverrideError(f"{message.DESCRIPTOR.name} has no field {name!r}{suggest(name, choices)}")
    field: FieldDescriptor = fields[name]  # type: ignore[assignment]  # upb's descriptors are typed apart; same API
    return field


def _step(message: Message, part: str) -> Message:
    match = _PART.match(part)
    if match is None:
        raise OverrideError(f"{part!r} is not a field name (use name or name[index])")
    name, index = match.group(1), match.group(2)
    field = _field(message, name)
    if field.message_type is None:
        raise OverrideError(f"{name!r} is a scalar, it has no fields below it")
    if is_repeated(field):
        if index is None:
            raise OverrideError(f"{name!r} is repeated: pick one with {name}[0]")
        items = getattr(message, name)
        if int(index) >= len(items):
            raise OverrideError(f"{name}[{index}] does not exist: it has {len(items)} entries")
        item: Message = items[int(index)]
        return item
    if index is not None:
        raise OverrideError(f"{name!r} is not repeated and cannot be indexed")
    child: Message = getattr(message, name)
    return child


_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1, "uint64"),
}
_FLOAT32_MAX = 3.4028234663852886e38


def _show(value: Any) -> str:
    """The given value for a message, cut short: an override can hold a huge string or list."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's digit limit
        return "a number too long to print"
    return text if len(text) <= 80 else text[:77] + "..."


def _number(field: FieldDescriptor, value: Any) -> float:
    """A finite number that the field's type holds (float32 for ``float`` fields)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OverrideError(f"expected a number, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise OverrideError(f"expected a finite number, got {_show(value)}")
    if field.type == FieldDescriptor.TYPE_FLOAT and abs(number) > _FLOAT32_MAX:
        raise OverrideError(f"expected a number from -3.4e+38 to 3.4e+38 (float), got {_show(value)}")
    return number


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None, f"enum field {field.full_name} has no enum type"
        names = [v.name for v in enum.values]
        if value not in names:
            close = suggest(value, names) if isinstance(value, str) and len(value) < 100 else ""
            raise OverrideError(f"expected one of {', '.join(names)}, got {_show(value)}{close}")
        return enum.values_by_name[value].number
    if field.type == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        raise OverrideError(f"expected true or false, got {_show(value)}")
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return _number(field, value)
    if field.cpp_type in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OverrideError(f"expected an integer, got {_show(value)}")
        low, high, kind = _INT_RANGES[field.cpp_type]
        if not low <= value <= high:
            raise OverrideError(f"expected an integer from {low} to {high} ({kind}), got {_show(value)}")
        return value
    if field.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        raise OverrideError(f"expected a string, got {_show(value)}")
    return value


def _assign(message: Message, name: str, value: Any) -> None:
    field = _field(message, name)
    repeated = is_repeated(field)
    if repeated and not isinstance(value, list):
        raise OverrideError(f"{name!r} is repeated: give a list")
    try:
        if field.message_type is not None:
            values = value if repeated else [value]
            if not all(isinstance(v, Mapping) for v in values):
                raise OverrideError(f"{name!r} is a message: give a mapping of its fields")
            if repeated:
                del getattr(message, name)[:]
                for item in values:
                    json_format.ParseDict(item, getattr(message, name).add())
            else:
                target = getattr(message, name)
                target.SetInParent()
                json_format.ParseDict(value, target)
        elif repeated:
            del getattr(message, name)[:]
            getattr(message, name).extend(_scalar(field, v) for v in value)
        else:
            setattr(message, name, _scalar(field, value))
    except (json_format.ParseError, ValueError, TypeError, OverflowError, RecursionError) as err:
        if isinstance(err, OverrideError):
            raise
        raise OverrideError(f"{name!r} does not take this value: {str(err)[:300]}") from None


def apply_override(root: Message, path: str, value: Any) -> None:
    """Set ``path`` (dotted, from the pipeline root) to ``value`` in ``root``, in place."""
    parts = path.split(".")
    message = root
    for part in parts[:-1]:
        message = _step(message, part)
    _assign(message, parts[-1], value)


# Pipeline fields a spec field computes (compile/context.py): an override of one would let the
# config disagree with the spec and with the checks run on it. ``{family}`` is the architecture's.
OWNED: tuple[tuple[str, str], ...] = (
    (r"model\.{family}\.num_classes", "dataset.classes"),
    (r"model\.{family}\.image_resizer(\..*)?", "model.input_size"),
    (r"model\..*\.(max_detections_per_class|max_total_detections|max_box_predictions)", "model.max_detections"),
    (r"model\..*\.batch_norm\.decay", "model.batch_norm_decay"),
    (r"model(\.(?!{family}(\.|$)).*)?", "model.architecture"),
    (r"train_config\.batch_size", "train.batch_size"),
    (r"train_config\.num_steps", "train.steps"),
    (r"train_config\.max_number_of_boxes", "train.max_boxes"),
    (r"train_config\.fine_tune_checkpoint.*", "model.pretrained"),
    (r"train_config\.use_bfloat16", "runtime.bfloat16"),
    (r"train_config\.gradient_clipping_by_norm", "train.gradient_clipping"),
    (r"train_config\.data_augmentation_options(\..*)?", "train.augmentation"),
    (r"train_config\.optimizer\.\w+_optimizer\.learning_rate(\..*)?", "train.learning_rate"),
    (r"train_config\.optimizer(\.\w+_optimizer(\..*)?)?", "train.optimizer"),
    (r"(train|eval)_input_reader\.(label_map_path|(.*\.)?input_path)", ""),
    (r"eval_config\.metrics_set", "eval.metrics"),
    (r"eval_config\.num_visualizations", "eval.visualizations"),
)
_SAME_VALUE = ("train.batch_size", "train.steps", "train.max_boxes", "runtime.bfloat16", "train.gradient_clipping",
               "model.max_detections", "model.batch_norm_decay", "eval.visualizations")


def _leaves(path: str, value: Any) -> list[tuple[str, Any]]:
    """(dotted path without indexes, value) of each field a mapping or list value sets; JSON names as proto names."""
    path = re.sub(r"\[\d*\]", "", path)
    items: list[tuple[str, Any]] = []
    if isinstance(value, Mapping) and value:
        items = [(f"{path}.{_snake(str(key))}", item) for key, item in value.items()]
    elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        items = [(path, item) for item in value if isinstance(item, Mapping)]
    if not items:
        return [(path, value)]
    return [leaf for sub, item in items for leaf in _leaves(sub, item)]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def owner(path: str, value: Any, family: str) -> str | None:
    """Why ``path: value`` may not be overridden (which spec field sets it), or None if it may."""
    try:
        leaves = _leaves(path, value)
    except RecursionError:
        return "the value is nested too deeply"
    for leaf, leaf_value in leaves:
        for pattern, field in OWNED:
            if re.fullmatch(pattern.replace("{family}", family), leaf):
                return _owned_message(field, leaf_value, family)
    return None


def _owned_message(field: str, value: Any, family: str) -> str:
    if not field:
        return "odspec writes this path itself (into the build folder); remove the override"
    if field == "model.architecture":
        return f"set by model.architecture (its family is {family}); pick another architecture instead of overriding it"
    if field == "dataset.classes":
        return "num_classes follows dataset.classes; change dataset.classes instead of overriding it"
    if field in _SAME_VALUE and isinstance(value, (bool, int, float)):
        shown = str(value).lower() if isinstance(value, bool) else _show(value)
        return f"set by {field}; write {field}: {shown} instead of overriding it"
    return f"set by {field}; set {field} in the spec instead of overriding it"
