"""The header comment of the compiled ``pipeline.config``, read from the final config.

It is made after the overrides are applied, from the parsed
``TrainEvalPipelineConfig`` itself, so it can never contradict the body it sits
on (templates only lay values out; they compute nothing). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from odspec.catalogue import Architecture
from odspec.compile.context import batch_size
from odspec.distribute import runtime_distribution
from odspec.spec.models import Spec


def _bfloat16_line(on: bool, arch: Architecture, *, on_tpu: bool) -> list[str]:
    """The departure from the zoo's ``use_bfloat16``, if there is one."""
    if on == arch.train.tpu_bfloat16:
        return []
    if on:
        return ["- use_bfloat16 is on (the zoo config trains in float32);"]
    why = "the spec turns it off" if on_tpu else "it only works on TPU"
    return [f"- use_bfloat16 is off ({why}; the zoo config trains in bfloat16 on its TPU);"]


def header(spec: Spec, arch: Architecture, config: Any) -> list[str]:
    """Comment lines stating where the final ``config`` departs from the published zoo config."""
    train = config.train_config
    trains_under = runtime_distribution(spec.runtime).describe(train.batch_size)
    lines = [
        f"Compiled by odspec from project {spec.project!r}: {arch.title}.",
        f"Defaults reproduce the published TF2 zoo config {arch.zoo_config}, except:",
        _batch_line(train.batch_size, batch_size(spec, arch), arch.train.zoo_batch_size),
        *_bfloat16_line(train.use_bfloat16, arch, on_tpu=spec.runtime.accelerator == "tpu"),
        "- the TF1-only fields sync_replicas and replicas_to_aggregate are not emitted.",
        f"Trains under {trains_under}, as the spec's runtime asks.",
    ]
    if spec.overrides:
        lines.append("Set by overrides, after the defaults: " + ", ".join(spec.overrides) + ".")
    if arch.derived:
        lines.append(f"Derived: {arch.derived}")
    return lines


def _batch_line(final: int, scaled_for: int, zoo: int) -> str:
    """The batch size the config trains with; when an override changed it, the one the rates were scaled for."""
    scaling = (
        " when the spec sets no learning rate, the zoo's rates are scaled by that ratio"
        if final == scaled_for
        else f" when the spec sets no learning rate, the zoo's rates are scaled by the ratio of batch size {scaled_for}"
        " (the spec's, before the overrides) to the zoo's"
    )
    return (
        f"- batch size {final} instead of the zoo's {zoo} (a TPU-pod batch);"
        f"{scaling} and its step counts by the ratio of training steps;"
    )
