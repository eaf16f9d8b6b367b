"""`odspec init` on every export layout detection knows (fixtures: exports.py, which cites each tool's format):
the spec it writes names the layout's classes in source order, keeps the source split when every image has one,
and validates and builds as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from odspec import api
from tests.unit.datasets.layouts.catalogue import EXPORTS as LAYOUTS


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_init_writes_a_spec_that_builds(tmp_path: Path, layout: str) -> None:
    builder, fmt, kind = LAYOUTS[layout]
    expected = builder(tmp_path / "export")
    made = api.init(tmp_path / "export", tmp_path / "spec.yaml")
    assert made.lines[0].startswith(f"found: {kind}")
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    dataset = spec["dataset"]
    assert dataset["path"] == "export" and dataset["format"] == fmt
    labels = list(dict.fromkeys(label for boxes in expected.boxes.values() for label, *_ in boxes))
    assert dataset["classes"] == list(expected.classes) if expected.classes else sorted(dataset["classes"]) == sorted(labels)
    source = set(expected.splits.values())
    assert dataset["split"].get("from_source", False) == (None not in source and bool(source & {"val", "test"}))
    api.validate(tmp_path / "spec.yaml")
    built = api.build(tmp_path / "spec.yaml", workers=1)
    report = json.loads((built.out_dir / "report.json").read_text())
    assert sum(s["images"] for s in report["splits"].values()) == len(expected.boxes)
    assert report["splits"]["train"]["images"] and report["splits"]["val"]["images"]
