"""Spec numbers must fit the proto field they land in: refused in validation, at the spec line, never at render time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, minimal_spec, tree_digest, write_spec

from odspec import api
from odspec.datasets import shards
from odspec.errors import SpecError
from odspec.spec import models

ARCH = "ssd_mobilenet_v2_fpnlite_320"


def messages(folder: Path, spec: dict) -> list[str]:  # type: ignore[type-arg]
    """Each problem without its file name; asserts that its line is the one holding the key."""
    path = write_spec(folder, spec)
    with pytest.raises(SpecError) as caught:
        api.validate(path, check_data=False)
    lines = path.read_text().splitlines()
    for problem in caught.value.problems:
        assert lines[problem.line - 1].strip().startswith(problem.key.split(".")[-1] + ":")
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"train": {"steps": 10_000_000_000}},
         "train.steps: expected an integer from 1 to 4294967295, got 10000000000 (e.g. steps: 20000)"),
        ({"train": {"max_boxes": 3_000_000_000}},
         "train.max_boxes: expected an integer from 1 to 2147483647, got 3000000000 (e.g. max_boxes: 100)"),
        ({"train": {"batch_size": 5_000_000_000}},
         "train.batch_size: expected an integer from 1 to 4294967295, got 5000000000 (e.g. batch_size: 8)"),
        ({"train": {"batch_size": -4}}, "train.batch_size: expected a positive integer, got -4 (e.g. batch_size: 8)"),
        ({"train": {"checkpoint_every": 2**31}},
         "train.checkpoint_every: expected an integer from 1 to 2147483647, got 2147483648 (e.g. checkpoint_every: 500)"),
        ({"train": {"keep_checkpoints": 2**31}},
         "train.keep_checkpoints: expected an integer from 1 to 2147483647, got 2147483648 (e.g. keep_checkpoints: 10)"),
        ({"dataset": {"shards": 100_000}}, "dataset.shards: expected an integer from 1 to 99999, got 100000 (e.g. shards: 4)"),
        ({"model": {"architecture": ARCH, "max_detections": 2**31}},
         "model.max_detections: expected an integer from 1 to 2147483647, got 2147483648 (e.g. max_detections: 100)"),
        ({"eval": {"every": 2**31}}, "eval.every: expected an integer from 1 to 2147483647, got 2147483648 (e.g. every: 1000)"),
        ({"eval": {"visualizations": 2**32}},
         "eval.visualizations: expected an integer from 0 to 4294967295, got 4294967296 (e.g. visualizations: 10)"),
        ({"train": {"learning_rate": {"type": "cosine", "base": 0.1, "warmup_steps": 2**32}}},
         "train.learning_rate.warmup_steps: expected an integer from 0 to 4294967295, got 4294967296 (e.g. warmup_steps: 50)"),
        ({"train": {"learning_rate": {"type": "exponential", "initial": 0.1, "decay_steps": 2**32, "decay_factor": 0.9}}},
         "train.learning_rate.decay_steps: expected an integer from 1 to 4294967295, got 4294967296 (e.g. decay_steps: 800)"),
        ({"train": {"learning_rate": {"type": "constant", "rate": float("nan")}}},
         "train.learning_rate.rate: expected a positive number, got .nan (e.g. rate: 0.001)"),
        ({"train": {"learning_rate": {"type": "constant", "rate": float("inf")}}},
         "train.learning_rate.rate: expected a positive number, got .inf (e.g. rate: 0.001)"),
        ({"train": {"learning_rate": {"type": "constant", "rate": 1e39}}},
         "train.learning_rate.rate: expected a number > 0 and <= 3.40282e+38, got 1.0e+39 (e.g. rate: 0.001)"),
        ({"early_stopping": {"min_delta": float("inf")}},
         "early_stopping.min_delta: expected a number of 0 or more, got .inf (e.g. min_delta: 0.001)"),
    ],
)
def test_number_past_the_proto_range_is_refused_at_its_line(tmp_path: Path, sections: dict, expected: str) -> None:  # type: ignore[type-arg]
    found = messages(tmp_path, minimal_spec(ARCH, **sections))
    assert [m.split(": ", 1)[1] for m in found] == [expected]


def test_validate_cli_refuses_steps_past_uint32_and_leaves_the_folder_alone(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec(ARCH, train={"steps": 10_000_000_000}))
    before = tree_digest(tmp_path)
    done = subprocess.run([sys.executable, "-m", "odspec", "validate", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"{spec}:12:10: train.steps: expected an integer from 1 to 4294967295, got 10000000000 (e.g. steps: 20000)" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_digest(tmp_path) == before


def test_validate_cli_refuses_100000_shards(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec(ARCH, dataset={"shards": 100_000}))
    done = subprocess.run([sys.executable, "-m", "odspec", "validate", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "dataset.shards: expected an integer from 1 to 99999, got 100000 (e.g. shards: 4)" in done.stderr
    assert "Traceback" not in done.stderr


def test_largest_values_that_fit_compile(tmp_path: Path) -> None:
    spec = minimal_spec(ARCH, train={"steps": models.UINT32_MAX, "max_boxes": models.INT32_MAX, "batch_size": 8},
                        dataset={"shards": models.MAX_SHARDS})
    validated = api.validate(write_spec(tmp_path, spec), check_data=False)
    assert validated.config.train_config.num_steps == models.UINT32_MAX
    assert validated.config.train_config.max_number_of_boxes == models.INT32_MAX


def test_spec_and_shard_names_agree_on_the_shard_limit() -> None:
    assert models.MAX_SHARDS == shards.MAX_SHARDS
    assert len(shards.shard_name("train", models.MAX_SHARDS - 1, models.MAX_SHARDS)) == len(shards.shard_name("train", 0, 1))
