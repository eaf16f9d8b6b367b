"""Paths written as URLs (``gs://bucket/...``) are refused everywhere odspec takes a path, with what to do instead.

Left alone, pathlib reads ``gs://bucket/run`` as the relative folder ``gs:/bucket/run``: a build or a model
directory would be written next to the spec, silently, instead of to the bucket.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.errors import SpecError
from odspec.io import url_scheme

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


@pytest.mark.parametrize(("path", "scheme"), [
    ("gs://bucket/run", "gs"), (Path("gs://bucket/run"), "gs"), ("s3://b/x", "s3"), ("hdfs://nn/x", "hdfs"),
    ("file:///data", "file"), ("images", None), ("/gcs/bucket/run", None), ("C:/data/images", None),
    ("./gs:/x", None), ("runs/a:b", None),
])
def test_url_scheme(path: str | Path, scheme: str | None) -> None:
    assert url_scheme(path) == scheme


def spec_problems(tmp_path: Path, **sections: object) -> str:
    path = write_spec(tmp_path, minimal_spec(FPNLITE, **sections))
    with pytest.raises(SpecError) as caught:
        api.validate(path, check_data=False)
    return str(caught.value)


def test_a_dataset_folder_given_as_a_url_is_refused_at_its_line(tmp_path: Path) -> None:
    message = spec_problems(tmp_path, dataset={"format": "voc", "images": "gs://bucket/images",
                                               "annotations": "annotations", "classes": ["a", "b"]})
    assert "dataset.images: 'gs://bucket/images' is a gs:// URL, and odspec reads local paths only" in message
    assert "/gcs/BUCKET/" in message  # what to do instead
    assert f"{tmp_path / 'spec.yaml'}:" in message  # located


def test_each_annotation_url_is_named_by_its_index(tmp_path: Path) -> None:
    message = spec_problems(tmp_path, dataset={"format": "coco", "images": "images", "classes": ["a", "b"],
                                               "annotations": ["train.json", "s3://b/val.json"]})
    assert "dataset.annotations.1: 's3://b/val.json' is a s3:// URL" in message
    assert "train.json' is" not in message


def test_a_pretrained_checkpoint_url_gets_one_problem(tmp_path: Path) -> None:
    message = spec_problems(tmp_path, model={"architecture": FPNLITE,
                                             "pretrained": {"checkpoint": "gs://zoo/ckpt-0"}})
    assert "model.pretrained.checkpoint: 'gs://zoo/ckpt-0' is a gs:// URL" in message
    assert "no checkpoint at" not in message


@pytest.mark.parametrize("args", [
    ["build", "{spec}", "--out", "gs://bucket/build"],
    ["build", "{spec}", "--out=gs://bucket/build"],
    ["plan", "{spec}", "--out", "gs://bucket/build"],
    ["status", "{spec}", "--model-dir", "gs://bucket/runs"],
    ["run", "{spec}", "--model-dir", "gs://bucket/runs"],
    ["validate", "{spec}", "--out", "gs://bucket/build"],
])
def test_the_cli_refuses_a_url_and_writes_nothing(tmp_path: Path, args: list[str]) -> None:
    api.example(tmp_path / "example")
    spec = tmp_path / "example" / "example.yaml"
    api.build(spec, workers=1)  # so a fast no-op path would answer if it did not decline the URL
    done = subprocess.run([sys.executable, "-m", "odspec", *(a.format(spec=spec) for a in args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    # a usage error: exit 2, but plan's 2 means "changes", so its usage errors exit 1 (as terraform plan's)
    assert done.returncode == (1 if args[0] == "plan" else 2), (done.stdout, done.stderr)
    assert "gs:// URLs are not paths odspec can use" in " ".join(done.stderr.split()), done.stderr
    assert not (tmp_path / "gs:").exists()
