"""Lenient conversion of annotation values; ``None`` means "not a valid value"."""

from __future__ import annotations

import math


def finite_float(value: object) -> float | None:
    """A finite number from a JSON number or a string; booleans, NaN, inf and integers past float's range are
    rejected."""
    if type(value) is float:  # the common case first: every reader calls this for every coordinate
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer literal of 400 digits
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def whole_number(value: object) -> int | None:
    """A non-negative integer, also when written as ``"500.0"``."""
    number = finite_float(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


def flag(value: str | None) -> bool:
    """VOC's 0/1 flags; anything but a clear yes is ``False``."""
    return value is not None and value.strip().lower() in {"1", "true", "yes"}
