"""The compiled pipeline.config of each bundled spec, byte for byte.

A change here is a change users see in their configs: review the diff, then
regenerate with ODSPEC_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import REPO

from odspec import api

EXPECTED = Path(__file__).parent / "expected"
SPECS = sorted((REPO / "specs").glob("*.yaml"))
OUT = Path("/odspec-golden")  # never written: validate compiles in memory


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_compiled_config_matches_golden(spec: Path) -> None:
    files = api.validate(spec, OUT / spec.stem).files
    for name in ("pipeline.config", "label_map.pbtxt"):
        golden = EXPECTED / f"{spec.stem}.{name}"
        if os.environ.get("ODSPEC_UPDATE_GOLDEN"):
            golden.write_bytes(files[name])
        assert golden.is_file(), f"no golden file {golden}; run with ODSPEC_UPDATE_GOLDEN=1 and review it"
        assert files[name].decode() == golden.read_text(), f"{spec.name}: compiled {name} differs from {golden}"


def test_every_family_has_a_bundled_spec() -> None:
    families = {api.validate(spec, OUT / spec.stem).architecture.family for spec in SPECS}
    assert families == {"ssd", "faster_rcnn", "center_net"}
