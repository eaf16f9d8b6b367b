"""Formatting Python values as protobuf text, so templates never build literals themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import text_encoding


class Enum(str):
    """A protobuf enum value: written bare (``SIGMOID``), not quoted."""


def literal(value: Any) -> str:
    """One scalar as protobuf text; strings are escaped, so user text stays one value."""
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + text_encoding.CEscape(value, as_utf8=True) + '"'  # type: ignore[arg-type]  # it takes str too; the stub says bytes
    raise TypeError(f"cannot write {value!r} as a protobuf scalar")


def fields(values: Mapping[str, Any], indent: int = 0) -> str:
    """A mapping as protobuf text fields: nested mappings are messages, lists repeat."""
    pad = "  " * indent
    lines: list[str] = []
    for name, value in values.items():
        items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for item in items:
            if isinstance(item, Mapping):
                lines.append(f"{pad}{name} {{")
                body = fields(item, indent + 1)
                if body:
                    lines.append(body)
                lines.append(f"{pad}}}")
            else:
                lines.append(f"{pad}{name}: {literal(item)}")
    return "\n".join(lines)
