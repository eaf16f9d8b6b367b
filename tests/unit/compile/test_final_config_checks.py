"""Overrides cannot bypass the spec: owned fields are refused at the override's own line, and every
cross-field rule runs again on the final TrainEvalPipelineConfig."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePath
from typing import Any

import pytest
from support import REPO, minimal_spec, tree_digest, write_spec

from odspec import api
from odspec.compile.context import Paths
from odspec.compile.final import final_problems
from odspec.compile.overrides import apply_override
from odspec.compile.render import pipeline_message
from odspec.errors import OverrideError, SpecError
from odspec.odapi import protos
from odspec.spec.models import Spec

ARCH = "ssd_mobilenet_v2_fpnlite_320"
NMS = "model.ssd.post_processing.batch_non_max_suppression"


def problems(folder: Path, overrides: dict[str, Any], **sections: Any) -> list[str]:
    """Each problem without its file name; asserts that its line is the override's own key line."""
    path = write_spec(folder, minimal_spec(ARCH, overrides=overrides, **sections))
    before = tree_digest(folder)
    with pytest.raises(SpecError) as caught:
        api.validate(path, check_data=False)
    assert tree_digest(folder) == before
    lines = path.read_text().splitlines()
    for problem in caught.value.problems:
        if problem.key.startswith("overrides."):
            assert lines[problem.line - 1].strip().startswith(problem.key.removeprefix("overrides.") + ":")
    return [str(p).removeprefix(f"{path}:").split(": ", 1)[1] for p in caught.value.problems]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("train_config.num_steps", 500, "set by train.steps; write train.steps: 500 instead of overriding it"),
        ("train_config.batch_size", 6, "set by train.batch_size; write train.batch_size: 6 instead of overriding it"),
        ("train_config.max_number_of_boxes", 50, "set by train.max_boxes; write train.max_boxes: 50 instead of overriding it"),
        ("train_config.use_bfloat16", True, "set by runtime.bfloat16; write runtime.bfloat16: true instead of overriding it"),
        ("train_config.fine_tune_checkpoint", "x/ckpt-0", "set by model.pretrained; set model.pretrained in the spec instead of overriding it"),
        ("train_config.fine_tune_checkpoint_type", "detection", "set by model.pretrained; set model.pretrained in the spec instead of overriding it"),
        ("train_config.data_augmentation_options", [{"random_horizontal_flip": {}}],
         "set by train.augmentation; set train.augmentation in the spec instead of overriding it"),
        ("train_config.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate.learning_rate_base", 0.1,
         "set by train.learning_rate; set train.learning_rate in the spec instead of overriding it"),
        ("train_config.optimizer", {"adam_optimizer": {"epsilon": 1e-7}}, "set by train.optimizer; set train.optimizer in the spec instead of overriding it"),
        ("eval_config.metrics_set", ["pascal_voc_detection_metrics"], "set by eval.metrics; set eval.metrics in the spec instead of overriding it"),
        ("model.faster_rcnn", {"num_classes": 2},
         "set by model.architecture (its family is ssd); pick another architecture instead of overriding it"),
        ("model.ssd.num_classes", 5, "num_classes follows dataset.classes; change dataset.classes instead of overriding it"),
        ("model", {"ssd": {"numClasses": 5}}, "num_classes follows dataset.classes; change dataset.classes instead of overriding it"),
        ("model.ssd.image_resizer.fixed_shape_resizer.height", 300, "set by model.input_size; set model.input_size in the spec instead of overriding it"),
        (f"{NMS}.max_total_detections", 7, "set by model.max_detections; write model.max_detections: 7 instead of overriding it"),
        ("train_input_reader.label_map_path", "/elsewhere/label_map.pbtxt", "odspec writes this path itself (into the build folder); remove the override"),
        ("eval_input_reader[0].tf_record_input_reader.input_path", ["/x/*.tfrecord"], "odspec writes this path itself (into the build folder); remove the override"),
        ("eval_input_reader", [{"label_map_path": "/x"}], "odspec writes this path itself (into the build folder); remove the override"),
    ],
)
def test_override_of_a_field_the_spec_owns_is_refused_at_its_own_line(tmp_path: Path, path: str, value: Any, expected: str) -> None:
    found = problems(tmp_path, {path: value}, train={"max_boxes": 100})
    assert found == [f"overrides.{path}: {expected}"]


def test_other_overrides_stay_allowed(tmp_path: Path) -> None:
    overrides = {"model.ssd.feature_extractor.depth_multiplier": 0.5, "train_config.optimizer.use_moving_average": False,
                 f"{NMS}.iou_threshold": 0.5}
    validated = api.validate(write_spec(tmp_path, minimal_spec(ARCH, overrides=overrides)), check_data=False)
    assert validated.config.model.ssd.feature_extractor.depth_multiplier == 0.5


def test_validate_cli_refuses_an_owned_override_at_its_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec(ARCH, overrides={"train_config.num_steps": 500}))
    line = spec.read_text().splitlines().index("  train_config.num_steps: 500") + 1
    before = tree_digest(tmp_path)
    done = subprocess.run([sys.executable, "-m", "odspec", "validate", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert (f"{spec}:{line}:3: overrides.train_config.num_steps: set by train.steps; "
            "write train.steps: 500 instead of overriding it") in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_digest(tmp_path) == before


def test_validate_cli_refuses_an_override_past_int32(tmp_path: Path) -> None:
    path = f"{NMS}.max_classes_per_detection"
    spec = write_spec(tmp_path, minimal_spec(ARCH, overrides={path: 99999999999}))
    line = spec.read_text().splitlines().index(f"  {path}: 99999999999") + 1
    done = subprocess.run([sys.executable, "-m", "odspec", "validate", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert (f"{spec}:{line}:3: overrides.{path}: expected an integer from -2147483648 to 2147483647 (int32), "
            "got 99999999999") in done.stderr
    assert "Traceback" not in done.stderr


def pipeline() -> Any:
    return protos.load("pipeline_pb2").TrainEvalPipelineConfig()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train_config.batch_size", 99999999999, "expected an integer from 0 to 4294967295 (uint32), got 99999999999"),
        ("train_config.num_steps", -1, "expected an integer from 0 to 4294967295 (uint32), got -1"),
        (f"{NMS}.max_total_detections", 2**31, "expected an integer from -2147483648 to 2147483647 (int32), got 2147483648"),
        ("train_config.gradient_clipping_by_norm", float("nan"), "expected a finite number, got nan"),
        ("train_config.gradient_clipping_by_norm", 1e39, "expected a number from -3.4e+38 to 3.4e+38 (float), got 1e+39"),
        ("train_config.gradient_clipping_by_norm", 10**400, "expected a finite number, got 1000"),
        ("eval_config.metrics_set", ["coco_detection_metrics", 3, {"a": 1}], "expected a string, got 3"),
        ("train_config.optimizer", {"adam_optimizer": {"no_such": {"deeper": 1}}}, "no field named \"no_such\""),
        ("train_config.batch_size", "x" * 100_000, "expected an integer, got 'xxxxxxxx"),
        ("train_config.data_augmentation_options[99999999999].x", 1, "is not a field name"),
        ("train_config.optimizer", {"adam_optimizer": {"epsilon": "many"}}, "'optimizer' does not take this value"),
    ],
)
def test_any_override_value_is_an_override_error(path: str, value: Any, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        apply_override(pipeline(), path, value)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 400


def compiled(**sections: Any) -> tuple[Spec, Any, Paths]:
    spec = Spec.model_validate(minimal_spec(ARCH, **sections))
    paths = Paths(PurePath("/build"))
    config, _ = pipeline_message(spec, paths)
    return spec, config, paths


def test_a_clean_config_passes_the_final_checks() -> None:
    assert final_problems(*compiled()) == []


def test_final_checks_see_what_overrides_reach_sideways() -> None:
    spec, config, paths = compiled(runtime={"replicas": 2}, train={"batch_size": 8})
    config.train_config.batch_size = 7
    config.train_config.num_steps = 12
    config.model.ssd.image_resizer.fixed_shape_resizer.height = 300
    config.model.ssd.num_classes = 9
    del config.eval_input_reader[0].tf_record_input_reader.input_path[:]
    config.train_input_reader.label_map_path = "/elsewhere/label_map.pbtxt"
    found = final_problems(spec, config, paths)
    assert found == [
        (("dataset", "classes"), "num_classes is 9 but the label map has 2 classes (num_classes follows dataset.classes; remove the override)"),
        (("model", "input_size"), "ssd_mobilenet_v2_fpnlite_320 needs sizes that are multiples of 32, got [300, 320]"),
        (("train", "batch_size"), "batch size 7 does not split evenly over 2 replicas"),
        (("train", "steps"), "num_steps is 12, but train.steps gives 50000"),
        (("dataset", "classes"), "train_input_reader.label_map_path is '/elsewhere/label_map.pbtxt', "
                                 "but odspec writes the label map to '/build/label_map.pbtxt'"),
        (("dataset", "images"), "eval_input_reader reads [], but odspec writes the val records to '/build/val-?????-of-?????.tfrecord'"),
    ]


def test_final_check_blames_the_override_that_reached_the_field(tmp_path: Path) -> None:
    found = problems(tmp_path, {"eval_input_reader": [{}]})
    assert found == [
        "overrides.eval_input_reader: eval_input_reader.label_map_path is '', but odspec writes the label map to "
        f"'{tmp_path / 'build' / 'test' / 'label_map.pbtxt'}'",
        f"overrides.eval_input_reader: eval_input_reader reads [], but odspec writes the val records to "
        f"'{tmp_path / 'build' / 'test' / 'val-?????-of-?????.tfrecord'}'",
    ]


def test_final_check_refuses_a_family_switch() -> None:
    spec, config, paths = compiled()
    config.model.faster_rcnn.num_classes = 2
    assert final_problems(spec, config, paths) == [
        (("model", "architecture"), "the model is faster_rcnn, but ssd_mobilenet_v2_fpnlite_320 is a ssd model")]


def test_final_check_refuses_a_warm_up_past_the_run() -> None:
    spec, config, paths = compiled(train={"steps": 100, "learning_rate": {"type": "cosine", "base": 0.1, "warmup_steps": 10}})
    config.train_config.optimizer.momentum_optimizer.learning_rate.cosine_decay_learning_rate.warmup_steps = 500
    assert final_problems(spec, config, paths) == [
        (("train", "learning_rate"), "warm-up of 500 steps does not end before training does (100 steps)")]


def test_a_deeply_nested_override_value_is_an_error_not_a_crash() -> None:
    from odspec.compile.overrides import owner

    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"x": deep}
    assert owner("train_config.batch_queue_capacity", deep, "ssd") == "the value is nested too deeply"
    with pytest.raises(OverrideError):
        apply_override(pipeline(), "train_config.optimizer", deep)
