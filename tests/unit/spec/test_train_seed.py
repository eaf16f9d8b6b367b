"""``train.seed``: every run seeded by default (the value is in the validated spec and the run record), null opts out."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.errors import SpecError
from odspec.reconcile.record import Versions, run_record_of
from odspec.spec.models import DEFAULT_TRAIN_SEED, Spec

ARCH = "ssd_mobilenet_v2_fpnlite_320"
VERSIONS = Versions(odspec="1", tensorflow="2.20.0", object_detection="2.8.0")


def record_of(spec: Spec, validated: api.Validated) -> int | None:
    return run_record_of(spec, validated.out_dir, VERSIONS, config=validated.files["pipeline.config"],
                         label_map=validated.files["label_map.pbtxt"], dataset_sha256="d",
                         now=datetime(2026, 1, 1, tzinfo=timezone.utc)).seed


def test_an_unwritten_seed_is_the_default_in_the_resolved_spec_and_the_run_record(tmp_path: Path) -> None:
    validated = api.validate(write_spec(tmp_path, minimal_spec(ARCH)), check_data=False)
    spec = validated.loaded.spec
    assert DEFAULT_TRAIN_SEED == 0
    assert spec.train.seed == 0 and spec.model_dump(mode="json")["train"]["seed"] == 0
    assert record_of(spec, validated) == 0


def test_a_written_seed_is_kept(tmp_path: Path) -> None:
    validated = api.validate(write_spec(tmp_path, minimal_spec(ARCH, train={"seed": 4294967295})), check_data=False)
    assert validated.loaded.spec.train.seed == 4294967295
    assert record_of(validated.loaded.spec, validated) == 4294967295


def test_null_opts_out_of_seeding(tmp_path: Path) -> None:
    validated = api.validate(write_spec(tmp_path, minimal_spec(ARCH, train={"seed": None})), check_data=False)
    assert validated.loaded.spec.train.seed is None
    assert record_of(validated.loaded.spec, validated) is None


def test_the_seed_does_not_reach_pipeline_config(tmp_path: Path) -> None:
    one = api.validate(write_spec(tmp_path / "a", minimal_spec(ARCH)), check_data=False)
    other = api.validate(write_spec(tmp_path / "b", minimal_spec(ARCH, train={"seed": 9})), check_data=False)
    strip = [line for line in one.files["pipeline.config"].decode().splitlines() if str(tmp_path) not in line]
    assert strip == [line for line in other.files["pipeline.config"].decode().splitlines() if str(tmp_path) not in line]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (4294967296, "train.seed: expected an integer from 0 to 4294967295, got 4294967296 (e.g. seed: 42)"),
        (-1, "train.seed: expected an integer of 0 or more, got -1 (e.g. seed: 42)"),
    ],
)
def test_a_seed_out_of_range_is_refused_at_its_line(tmp_path: Path, seed: int, expected: str) -> None:
    path = write_spec(tmp_path, minimal_spec(ARCH, train={"seed": seed}))
    with pytest.raises(SpecError) as caught:
        api.validate(path, check_data=False)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("seed:"))
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}:9: {expected}"]
