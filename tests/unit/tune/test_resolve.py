"""A trial's spec: the user's, with the trial's values, no tune block, paths that still point at the data."""

from __future__ import annotations

from pathlib import Path

from odspec.spec.load import load_spec
from odspec.tune.resolve import substitute, trial_data, trial_spec_text

SPEC = """\
project: pets
dataset:
  format: voc
  images: data/images
  annotations: [data/a, /elsewhere/b]
  classes: [cat, dog]
model:
  architecture: ssd_mobilenet_v2_fpnlite_320
  pretrained: {checkpoint: zoo/ckpt-0}
train:
  steps: 100
tune:
  space:
    train.batch_size: {choices: [4, 8]}
eval: {split: val}
"""


def test_substitute_drops_tune_keeps_the_order_and_appends_new_keys() -> None:
    data = {"project": "p", "train": {"steps": 100}, "tune": {"space": {}}, "eval": {"split": "val"}}
    result = substitute(data, {"train.batch_size": 8, "train.learning_rate.base": 0.01, "runtime.replicas": 2})
    assert list(result) == ["project", "train", "eval", "runtime"]
    assert list(result["train"]) == ["steps", "batch_size", "learning_rate"]
    assert result["train"]["learning_rate"] == {"base": 0.01}
    assert data["train"] == {"steps": 100} and "tune" in data  # the input is not changed


def test_a_substituted_list_is_a_copy() -> None:
    flips = [{"random_horizontal_flip": {}}]
    first = substitute({}, {"train.augmentation": flips})
    first["train"]["augmentation"].append({"other": {}})
    assert flips == [{"random_horizontal_flip": {}}]


def test_trial_paths_are_absolute_from_the_spec_folder(tmp_path: Path) -> None:
    data = load_spec(Path("spec.yaml"), SPEC).data
    result = trial_data(data, {"train.batch_size": 8}, tmp_path / "project")
    assert result["dataset"]["images"] == str(tmp_path / "project" / "data" / "images")
    assert result["dataset"]["annotations"] == [str(tmp_path / "project" / "data" / "a"), "/elsewhere/b"]
    assert result["model"]["pretrained"]["checkpoint"] == str(tmp_path / "project" / "zoo" / "ckpt-0")


def test_best_yaml_paths_are_relative_to_its_folder(tmp_path: Path) -> None:
    data = load_spec(Path("spec.yaml"), SPEC).data
    result = trial_data(data, {}, tmp_path / "project", relative_to=tmp_path / "project" / "tune")
    assert result["dataset"]["images"] == "../data/images"
    assert result["dataset"]["annotations"] == ["../data/a", "/elsewhere/b"]


def test_the_trial_text_is_deterministic_ordered_and_loads_as_a_valid_spec_without_tune(tmp_path: Path) -> None:
    data = load_spec(Path("spec.yaml"), SPEC).data
    text = trial_spec_text(data, {"train.batch_size": 8}, tmp_path, header="trial 3\ntrain.batch_size = 8")
    assert text == trial_spec_text(data, {"train.batch_size": 8}, tmp_path, header="trial 3\ntrain.batch_size = 8")
    assert text.splitlines()[:4] == ["# trial 3", "# train.batch_size = 8", "project: pets", "dataset:"]
    assert "tune" not in text
    assert [line for line in text.splitlines() if not line.startswith(" ")][2:] == [
        "project: pets", "dataset:", "model:", "train:", "eval:"]
    loaded = load_spec(tmp_path / "trial.yaml", text)
    assert loaded.spec.train.batch_size == 8 and loaded.spec.tune is None
    assert loaded.spec.dataset.images == str(tmp_path / "data" / "images")
