"""The one did-you-mean helper: one wording, and the choices it picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets import read_dataset
from odspec.errors import DatasetError, suggest


@pytest.mark.parametrize(("word", "choices", "said"), [
    ("SIGMOD", ["SIGMOID", "SOFTMAX", "IDENTITY"], ", did you mean 'SIGMOID'?"),
    ("yolov8", ["voc", "coco", "yolo", "csv"], ", did you mean 'yolo'?"),
    ("fpnlite", ["ssd_mobilenet_v2_fpnlite_320", "centernet_resnet50"], ", did you mean 'ssd_mobilenet_v2_fpnlite_320'?"),
    ("net", ["ssd_mobilenet_v2_fpnlite_320", "centernet_resnet50_v1_fpn_512"], ""),  # in two choices: no guess
    ("zebra", ["cat", "dog"], ""),
    ("", ["cat"], ""),
    ("cat", [], ""),
])
def test_suggest_names_one_close_choice_or_nothing(word: str, choices: list[str], said: str) -> None:
    assert suggest(word, choices) == said


def test_suggest_takes_any_iterable_once() -> None:
    assert suggest("dgo", iter(["cat", "dog"])) == ", did you mean 'dog'?"


def test_every_message_uses_the_same_wording(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        read_dataset("cooc", tmp_path, tmp_path / "a.json", ["cat"])  # type: ignore[arg-type]
    assert str(err.value) == "unknown dataset format 'cooc', did you mean 'coco'? (use one of: voc, coco, yolo, csv)"
