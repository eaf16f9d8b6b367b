"""Every catalogue entry, compiled by odspec, is built by the OD API's own model_builder.

No fake OD API: each entry's compiled pipeline.config goes to `odspec.odapi.smoke`
in a child process, which reads it with the OD API's config_util and builds the
model with model_builder.build. The small architectures also run a forward pass
and a loss on a random batch.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.catalogue import CATALOGUE, Architecture
from odspec.odapi.smoke import parse_output
from odspec.runner.process import run_module

pytestmark = [pytest.mark.odapi, pytest.mark.catalogue]

MODEL_CLASS = {"ssd": "SSDMetaArch", "faster_rcnn": "FasterRCNNMetaArch", "center_net": "CenterNetMetaArch"}


def small(arch: Architecture) -> bool:
    """Cheap enough on 2 CPU cores for a forward pass and loss in CI."""
    return max(arch.input_size) <= 640 and arch.speed_ms <= 60


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_compiled_entry_builds_in_the_od_api(name: str, tmp_path: Path) -> None:
    arch = CATALOGUE[name]
    spec = write_spec(tmp_path, minimal_spec(name, ["circle", "square", "triangle"]))
    config = tmp_path / "pipeline.config"
    config.write_bytes(api.validate(spec, check_data=False).files["pipeline.config"])
    args = [str(config)] + (["--forward"] if small(arch) else [])
    result = parse_output(run_module("odspec.odapi.smoke", args, timeout=900).lines)
    assert result["built"] is True
    assert result["model_class"] == MODEL_CLASS[arch.family]
    assert result["num_classes"] == 3
    if small(arch):
        assert result["forward"] is True
        assert "Loss/total_loss" in result["losses"]
        assert all(math.isfinite(v) for v in result["losses"].values()), result["losses"]
