"""The starting spec `odspec init` writes: decided in odspec.initspec (pure), formatted by init_spec.yaml.j2.

Every rendered spec is loaded back through the spec's own models, so a value the
template mangles (quoting, a class name with ':' or non-ASCII) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.split import SplitItem, assign_splits
from odspec.initspec import Survey, choose_seed, project_name_for, render_spec, spec_values, summary_lines, survey
from odspec.spec.models import Spec


def found(per_split: dict[str, int], unsplit: int = 0, classes: tuple[str, ...] = ("cat", "dog")) -> Survey:
    return Survey(Path("/data/exports/pets"), "coco", "Roboflow COCO JSON (a folder per split)", classes,
                  "in the order of the COCO categories", 10, 14, per_split, unsplit, ())


def rendered(survey_: Survey, spec: Path = Path("/data/pets.yaml"), architecture: str = "ssd_mobilenet_v2_fpnlite_320"
             ) -> dict:
    return yaml.safe_load(render_spec(spec_values(survey_, spec, architecture)))


@pytest.mark.parametrize(("folder", "name"), [("pets", "pets"), ("My Photos (2024)", "My-Photos-2024"),
                                               (".hidden..set", "hidden.set"), ("Ünïcode 写真", "Unicode"), ("...", "project")])
def test_project_names_are_made_valid(folder: str, name: str) -> None:
    assert project_name_for(folder) == name


def test_a_source_split_with_val_is_kept() -> None:
    spec = rendered(found({"train": 7, "val": 2, "test": 1}))
    assert spec["dataset"] == {"path": "exports/pets", "format": "coco", "classes": ["cat", "dog"],
                               "split": {"from_source": True}, "on_bad_annotation": "stop"}
    assert spec["project"] == "pets" and spec["model"] == {"architecture": "ssd_mobilenet_v2_fpnlite_320"}
    assert "eval" not in spec
    Spec.model_validate(spec)


def test_a_source_split_without_val_evaluates_on_test() -> None:
    spec = rendered(found({"train": 8, "test": 2}))
    assert spec["dataset"]["split"] == {"from_source": True} and spec["eval"] == {"split": "test"}
    Spec.model_validate(spec)


@pytest.mark.parametrize(("per_split", "unsplit"), [({}, 10), ({"train": 10}, 0), ({"train": 6, "val": 2}, 2)])
def test_without_a_usable_source_split_images_are_split_by_share(per_split: dict[str, int], unsplit: int) -> None:
    spec = rendered(found(per_split, unsplit))
    assert spec["dataset"]["split"] == {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0}  # no items: no search
    Spec.model_validate(spec)


def test_awkward_class_names_and_paths_survive_the_yaml() -> None:
    classes = ("traffic light: red", "café", "#1", "yes", "- x")
    spec = rendered(found({}, 10, classes), spec=Path("/elsewhere/specs/p.yaml"), architecture="efficientdet_d0")
    assert spec["dataset"]["classes"] == list(classes)
    assert spec["dataset"]["path"] == "../../data/exports/pets"
    assert spec["model"]["architecture"] == "efficientdet_d0"
    Spec.model_validate(spec)


def test_survey_counts_images_boxes_and_source_splits_once_per_image() -> None:
    box = Box("cat", 1, 1, 5, 5)
    examples = [Example(Path("train/a.jpg"), 8, 8, (box, box), "t", "train"),
                Example(Path("valid/b.jpg"), 8, 8, (box,), "v", "val"),
                Example(Path("extra/c.jpg"), 8, 8, (), "x", None)]
    read = ReadResult(examples, [Finding("x.json", "annotation 3 has no bbox", "object skipped")], ("cat",))
    result = survey(Path("/d"), "coco", "kind", read, Path("/d/train/_annotations.coco.json"))
    assert (result.images, result.boxes, result.per_split, result.unsplit) == (3, 3, {"train": 1, "val": 1}, 1)
    assert result.classes_from == "as listed in train/_annotations.coco.json"
    lines = summary_lines(result, Path("/d.yaml"))
    assert "source split: train 1, val 1, none for 1" in lines
    assert "finding: x.json: annotation 3 has no bbox (object skipped)" in lines


def test_a_small_dataset_gets_a_seed_under_which_val_is_not_empty() -> None:
    items = tuple(SplitItem(f"img{i}.jpg", frozenset({"cat"})) for i in range(4))
    seed = choose_seed(items)
    assert seed is not None
    placed = assign_splits(items, ratios=(0.8, 0.1, 0.1), seed=seed, use_source=False).values()
    assert "train" in placed and "val" in placed
    assert all("val" not in assign_splits(items, ratios=(0.8, 0.1, 0.1), seed=s, use_source=False).values()
               for s in range(seed))
    assert choose_seed(items[:1]) is None
    spec = rendered(Survey(Path("/d/x"), "voc", "LabelImg", ("cat",), "first use", 4, 4, {}, 4, (), items))
    assert spec["dataset"]["split"] == {"train": 0.8, "val": 0.1, "test": 0.1, "seed": seed}
