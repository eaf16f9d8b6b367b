"""The escape hatch: set any field of the pipeline proto by dotted path.

``model.ssd.feature_extractor.depth_multiplier: 0.5`` sets a scalar; a mapping
value merges into a message field; a list replaces a repeated field; ``name[i]``
indexes into a repeated message field. Paths are checked against the proto's
own descriptors, with a did-you-mean when a name is misspelt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from odspec.catalogue import suggest

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


class OverrideError(ValueError):
    """A path or value that does not fit the proto; the message says which part."""


def _field(message: Message, name: str) -> FieldDescriptor:
    fields = message.DESCRIPTOR.fields_by_name
    if name not in fields:
        choices = sorted(fields)
        raise OverrideError(f"{message.DESCRIPTOR.name} has no field {name!r}{suggest(name, choices)}")
    return fields[name]


def _step(message: Message, part: str) -> Message:
    match = _PART.match(part)
    if match is None:
        raise OverrideError(f"{part!r} is not a field name (use name or name[index])")
    name, index = match.group(1), match.group(2)
    field = _field(message, name)
    if field.message_type is None:
        raise OverrideError(f"{name!r} is a scalar, it has no fields below it")
    if field.label == FieldDescriptor.LABEL_REPEATED:
        if index is None:
            raise OverrideError(f"{name!r} is repeated: pick one with {name}[0]")
        items = getattr(message, name)
        if int(index) >= len(items):
            raise OverrideError(f"{name}[{index}] does not exist: it has {len(items)} entries")
        return items[int(index)]
    if index is not None:
        raise OverrideError(f"{name!r} is not repeated and cannot be indexed")
    return getattr(message, name)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        if value not in names:
            raise OverrideError(f"expected one of {', '.join(names)}, got {value!r}{suggest(str(value), names)}")
        return field.enum_type.values_by_name[value].number
    if field.type == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        raise OverrideError(f"expected true or false, got {value!r}")
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OverrideError(f"expected a number, got {value!r}")
        return float(value)
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
                          FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
        if isinstance(value, bool) or not isinstance(value, int):
            raise OverrideError(f"expected an integer, got {value!r}")
        return value
    if field.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        raise OverrideError(f"expected a string, got {value!r}")
    return value


def _assign(message: Message, name: str, value: Any) -> None:
    field = _field(message, name)
    repeated = field.label == FieldDescriptor.LABEL_REPEATED
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
    except json_format.ParseError as err:
        raise OverrideError(str(err)) from None


def apply_override(root: Message, path: str, value: Any) -> None:
    """Set ``path`` (dotted, from the pipeline root) to ``value`` in ``root``, in place."""
    parts = path.split(".")
    message = root
    for part in parts[:-1]:
        message = _step(message, part)
    _assign(message, parts[-1], value)
