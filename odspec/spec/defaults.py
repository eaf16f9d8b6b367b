"""What a spec leaves unset, resolved once: compiling and checking the spec both read it here."""

from __future__ import annotations

import re

from odspec.catalogue import Architecture
from odspec.spec.models import Spec

Loc = tuple[str | int, ...]  # a spec path, as in odspec.compile.final


def num_steps(spec: Spec, arch: Architecture) -> int:
    return spec.train.steps or arch.train.num_steps


def checkpoint_every(spec: Spec, arch: Architecture) -> int:
    """Steps between checkpoints: the spec's, else the OD API's 1000 capped at the run length."""
    return spec.train.checkpoint_every or min(1000, num_steps(spec, arch))


def blame(spec: Spec, field: str, fallback: Loc) -> Loc:
    """The override that set ``field`` (its path covers the field or lies below it), else ``fallback``."""
    parts = field.split(".")
    for path in spec.overrides:
        mine = re.sub(r"\[\d*\]", "", path).split(".")
        if parts[: len(mine)] == mine or mine[: len(parts)] == parts:
            return ("overrides", path)
    return fallback
