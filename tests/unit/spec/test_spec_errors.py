"""Each bad-spec case gives the exact located message: file:line:col: key: what, got, fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.errors import SpecError
from odspec.spec.load import load_spec
from tests.support import GOOD_SPEC, load_errors

GOOD = GOOD_SPEC
errors = load_errors


def test_good_spec_loads() -> None:
    loaded = load_spec(Path("spec.yaml"), GOOD)
    assert loaded.spec.dataset.classes == ["cat", "dog"]
    assert loaded.spec.train.batch_size is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "train:\n  batch_size: -4\n",
         "spec.yaml:10:15: train.batch_size: expected a positive integer, got -4 (e.g. batch_size: 8)"),
        (GOOD + "train:\n  steps: '100'\n",
         "spec.yaml:10:10: train.steps: expected a positive integer, got '100' (e.g. steps: 20000)"),
        (GOOD.replace("format: voc", "fromat: voc"),
         "spec.yaml:3:3: dataset.fromat: unknown key, did you mean 'format'?"),
        (GOOD.replace("fpnlite_320", "fpnlite_32"),
         "spec.yaml:8:17: model.architecture: unknown architecture 'ssd_mobilenet_v2_fpnlite_32', "
         "did you mean 'ssd_mobilenet_v2_fpnlite_320'? (see `odspec models`)"),
        (GOOD + "eval:\n  metrics: coco\n",
         "spec.yaml:10:12: eval.metrics: expected one of 'coco_detection_metrics', 'pascal_voc_detection_metrics', "
         "'oid_V2_detection_metrics', got 'coco', did you mean 'coco_detection_metrics'?"),
        (GOOD + "train:\n  optimizer: {type: sgd}\n",
         "spec.yaml:10:14: train.optimizer.type: expected one of 'momentum', 'adam', 'rmsprop', got 'sgd' (e.g. type: momentum)"),
        (GOOD + "train:\n  optimizer: {momentum: 0.9}\n",
         "spec.yaml:10:14: train.optimizer: missing `type`: expected one of 'momentum', 'adam', 'rmsprop' (e.g. type: momentum)"),
        (GOOD + "train:\n  keep_checkpoints: 1.5\n",
         "spec.yaml:10:21: train.keep_checkpoints: expected a positive integer, got 1.5 (e.g. keep_checkpoints: 10)"),
        (GOOD + "model2: {}\n",
         "spec.yaml:9:1: model2: unknown key, did you mean 'model'?"),
        (GOOD + "colour: red\n",
         "spec.yaml:9:1: colour: unknown key (allowed here: version, project, dataset, model, train, eval, "
         "early_stopping, export, runtime, overrides, tune)"),
        (GOOD.replace("classes: [cat, dog]", "classes: [cat, dog, cat]"),
         "spec.yaml:6:12: dataset.classes: class names must be unique, repeated: 'cat'"),
        (GOOD.replace("classes: [cat, dog]", "classes: []"),
         "spec.yaml:6:12: dataset.classes: expected at least 1 item, got none (e.g. classes: [cat, dog])"),
        (GOOD.replace("model:", "  split: {train: 0.8, val: 0.3, test: 0.1}\nmodel:"),
         "spec.yaml:7:10: dataset.split: train + val + test must add up to 1, got 1.2"),
        (GOOD.replace("project: pets", "project: my pets"),
         "spec.yaml:1:10: project: expected 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..', got 'my pets'"),
        (GOOD + "  input_size: [320, 320, 3]\n",
         "spec.yaml:9:15: model.input_size: expected one size or a list of two, got 3 values"),
        (GOOD + "train:\n  learning_rate: {type: cosine, base: 0.1, warmup_steps: -1}\n",
         "spec.yaml:10:58: train.learning_rate.warmup_steps: expected an integer of 0 or more, got -1 (e.g. warmup_steps: 50)"),
        (GOOD + "runtime:\n  bfloat16: 'yes'\n",
         "spec.yaml:10:13: runtime.bfloat16: expected true or false, got 'yes' (e.g. bfloat16: false)"),
        (GOOD.replace("project: pets\n", ""),
         "spec.yaml:1:1: project: required key is missing (e.g. project: pets)"),
    ],
)
def test_bad_spec_message(text: str, expected: str) -> None:
    assert expected in errors(text)


def test_every_problem_is_reported_in_file_order() -> None:
    text = GOOD.replace("format: voc", "format: pascal") + "train:\n  batch_size: 0\n  steps: 0\n"
    found = errors(text)
    assert [f.split(": ")[1] for f in found] == ["dataset.format", "train.batch_size", "train.steps"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: [unclosed\n", "spec.yaml:2:1: not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("project: a\nproject: b\n", "spec.yaml:2:1: project: duplicate key (first given on line 1)"),
        ("- just\n- a list\n", "spec.yaml:1:1: a spec is a mapping of sections, got a list (e.g. project: pets)"),
    ],
)
def test_not_a_spec(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}:1:1: file not found"
