"""Pure comparisons: flattened spec values, parsed pipeline.config messages, per-image dataset entries."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from odspec.odapi.protos import is_repeated
from odspec.plan.model import Action, FieldChange, ImageChange


def value_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str] | None = None
) -> list[FieldChange]:
    """A row per dotted path whose value differs (or exists on one side only), sorted; ``keys``: only these."""
    paths = sorted(set(keys) if keys is not None else old.keys() | new.keys())
    rows = []
    for path in paths:
        if path in old and path in new and old[path] == new[path]:
            continue
        action: Action = "added" if path not in old else "removed" if path not in new else "changed"
        rows.append(FieldChange(path, action, old.get(path), new.get(path)))
    return rows


def message_fields(message: Message, prefix: str = "") -> dict[str, Any]:
    """Every set field of a protobuf message as ``{"a.b[0].c": value}``; repeated scalars are one list."""
    flat: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        path = f"{prefix}.{descriptor.name}" if prefix else descriptor.name
        repeated = is_repeated(descriptor)
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            if repeated:
                for index, item in enumerate(value):
                    flat.update(message_fields(item, f"{path}[{index}]") or {f"{path}[{index}]": {}})
            else:
                flat.update(message_fields(value, path) or {path: {}})
        elif repeated:
            flat[path] = [_scalar(descriptor, v) for v in value]
        else:
            flat[path] = _scalar(descriptor, value)
    return flat


def _scalar(descriptor: FieldDescriptor, value: Any) -> Any:
    if descriptor.type == FieldDescriptor.TYPE_ENUM and descriptor.enum_type is not None:
        named = descriptor.enum_type.values_by_number.get(value)
        return named.name if named else value
    if descriptor.type == FieldDescriptor.TYPE_FLOAT:
        return float(f"{value:.7g}")  # float32 as text_format writes it, not its double expansion
    return value


def config_changes(old: Message | None, new: Message) -> list[FieldChange]:
    """pipeline.config field by field; ``old`` None: every field is new."""
    return value_changes(message_fields(old) if old is not None else {}, message_fields(new))


@dataclass(frozen=True)
class ImageEntry:
    """One image as a record holds it: its split, content hash and boxes (label and normalised corners)."""

    split: str
    sha256: str
    boxes: tuple[tuple[str, float, float, float, float], ...]


def image_changes(old: Mapping[str, ImageEntry], new: Mapping[str, ImageEntry]) -> list[ImageChange]:
    """Added, removed, changed pixels, changed boxes and split moves, image by image in path order.

    An image is listed once per kind of change (pixels and boxes and split can all change together).
    """
    rows: list[ImageChange] = []
    for image in sorted(old.keys() | new.keys()):
        before, after = old.get(image), new.get(image)
        if before is None:
            assert after is not None
            rows.append(ImageChange(image, "added", None, after.split, _boxes(len(after.boxes))))
            continue
        if after is None:
            rows.append(ImageChange(image, "removed", before.split, None, _boxes(len(before.boxes))))
            continue
        if before.sha256 != after.sha256:
            rows.append(ImageChange(image, "changed", before.split, after.split, "pixels changed"))
        if _rounded(before.boxes) != _rounded(after.boxes):
            rows.append(ImageChange(image, "boxes", before.split, after.split, _box_detail(before.boxes, after.boxes)))
        if before.split != after.split:
            rows.append(ImageChange(image, "moved", before.split, after.split, f"{before.split} -> {after.split}"))
    return rows


def _boxes(count: int) -> str:
    return f"{count} box{'es' if count != 1 else ''}"


def _rounded(boxes: Iterable[tuple[str, float, float, float, float]]) -> list[tuple[Any, ...]]:
    """Boxes compared at float32 precision, as records store them; order does not matter.

    Each corner is cast to float32 (what the record holds), not rounded to some decimals: a corner such as
    57/320 = 0.178125 sits on a decimal tie, and its float32 and float64 forms round to different sides.
    """
    return sorted((label, *_float32(corners)) for label, *corners in boxes)


def _float32(values: list[float]) -> tuple[float, ...]:
    return struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values))


def _box_detail(
    old: tuple[tuple[str, float, float, float, float], ...], new: tuple[tuple[str, float, float, float, float], ...]
) -> str:
    before, after = _rounded(old), _rounded(new)
    if len(before) != len(after):
        return f"{_boxes(len(before))} -> {len(after)}"
    moved = sum(1 for a, b in zip(before, after, strict=True) if a != b)
    return f"{moved} of {_boxes(len(after))} edited"
