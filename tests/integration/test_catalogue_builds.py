"""Every catalogue entry, compiled by odspec, is built by the OD API's own model_builder.

No fake OD API: each entry's compiled pipeline.config goes to `odspec.odapi.smoke`
in a child process, which reads it with the OD API's config_util and builds the
model with model_builder.build. The small architectures also run a forward pass
and a loss on a random batch. Two children check all the entries (one for those
with a forward pass, one for the rest, at the same time), so TensorFlow is imported twice, not 34 times.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.catalogue import CATALOGUE, Architecture
from odspec.odapi.smoke import parse_outputs
from odspec.runner.process import run_module

pytestmark = [pytest.mark.odapi, pytest.mark.catalogue]

MODEL_CLASS = {"ssd": "SSDMetaArch", "faster_rcnn": "FasterRCNNMetaArch", "center_net": "CenterNetMetaArch"}


def small(arch: Architecture) -> bool:
    """Cheap enough on 2 CPU cores for a forward pass and loss in CI."""
    return max(arch.input_size) <= 640 and arch.speed_ms <= 60


@pytest.fixture(scope="module")
def smoked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each entry's smoke result, keyed by entry name."""
    root = tmp_path_factory.mktemp("catalogue")
    configs: dict[str, Path] = {}
    for name in sorted(CATALOGUE):
        folder = root / name
        folder.mkdir()
        spec = write_spec(folder, minimal_spec(name, ["circle", "square", "triangle"]))
        configs[name] = folder / "pipeline.config"
        configs[name].write_bytes(api.validate(spec, check_data=False).files["pipeline.config"])

    def smoke(forward: bool) -> dict[str, dict[str, Any]]:
        names = [n for n in sorted(configs) if small(CATALOGUE[n]) == forward]
        args = [str(configs[n]) for n in names] + (["--forward"] if forward else [])
        done = run_module("odspec.odapi.smoke", args, timeout=1800, check=False)
        by_config = parse_outputs(done.lines)
        return {name: by_config.get(str(configs[name]), {"error": f"no result (smoke exited {done.returncode})",
                                                         "tail": done.lines[-20:]}) for name in names}

    # the two children at once: building a model is mostly single-threaded Python, so each leaves a core idle
    with ThreadPoolExecutor(max_workers=2) as pool:
        with_forward, built_only = pool.map(smoke, (True, False))
    return {**with_forward, **built_only}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_compiled_entry_builds_in_the_od_api(name: str, smoked: dict[str, dict[str, Any]]) -> None:
    arch = CATALOGUE[name]
    result = smoked[name]
    assert "error" not in result, result
    assert result["built"] is True
    assert result["model_class"] == MODEL_CLASS[arch.family]
    assert result["num_classes"] == 3
    if small(arch):
        assert result["forward"] is True
        assert "Loss/total_loss" in result["losses"]
        assert all(math.isfinite(v) for v in result["losses"].values()), result["losses"]
