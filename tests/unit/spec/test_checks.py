"""Cross-field checks the OD API never makes, each with its exact located message."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.errors import SpecError


def problems(folder: Path, spec: dict) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(SpecError) as caught:
        api.validate(write_spec(folder, spec))
    return [f"{p.key}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in caught.value.problems]


FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"runtime": {"bfloat16": True}},
         "runtime.bfloat16: bfloat16 only works on TPU (the OD API honours it only with --use_tpu) (remove it, or set runtime.accelerator: tpu)"),
        ({"runtime": {"replicas": 4}, "train": {"batch_size": 6}},
         "train.batch_size: batch size 6 does not split evenly over 4 replicas (e.g. batch_size: 4)"),
        ({"runtime": {"replicas": 2, "workers": 3}, "train": {"batch_size": 8}},
         "train.batch_size: batch size 8 does not split evenly over 6 replicas (3 workers x 2) (e.g. batch_size: 6)"),
        ({"runtime": {"workers": 2}, "train": {"batch_size": 4}},
         "runtime.workers: 2 workers each read their own TFRecord shards, but the dataset's shard count is by size "
         "(one per ~100 MB) (set dataset.shards: 2 (or a multiple of it, so each worker reads as much))"),
        ({"runtime": {"workers": 3}, "train": {"batch_size": 6}, "dataset": {"shards": 2}},
         "dataset.shards: 3 workers each read their own TFRecord shards, but the dataset's shard count is 2 "
         "(set dataset.shards: 3 (or a multiple of it, so each worker reads as much))"),
        ({"model": {"architecture": FPNLITE, "input_size": 300}},
         "model.input_size: ssd_mobilenet_v2_fpnlite_320 needs sizes that are multiples of 32, got 300 (e.g. input_size: 288)"),
        ({"train": {"steps": 100, "learning_rate": {"type": "cosine", "base": 0.1, "warmup_steps": 200}}},
         "train.learning_rate.warmup_steps: warm-up of 200 steps does not end before training does (100 steps) (e.g. warmup_steps: 10)"),
        ({"train": {"steps": 100, "checkpoint_every": 500}},
         "train.checkpoint_every: no checkpoint would be written before training ends at step 100 (e.g. checkpoint_every: 100)"),
        ({"train": {"checkpoint_every": 100}, "eval": {"every": 150}},
         "eval.every: evaluations happen on checkpoints, every 100 steps; 150 is not a multiple (e.g. every: 100)"),
        ({"early_stopping": {"metric": "DetectionBoxes_Precision/map"}},
         "early_stopping.metric: COCO evaluation reports no metric 'DetectionBoxes_Precision/map', "
         "did you mean 'DetectionBoxes_Precision/mAP'? (e.g. metric: DetectionBoxes_Precision/mAP)"),
        ({"early_stopping": {"metric": "Loss/total_loss"}},
         "early_stopping.mode: a loss is better when lower (e.g. mode: min)"),
        ({"train": {"augmentation": [{"random_horizontal_flop": {}}]}},
         "train.augmentation.0.random_horizontal_flop: unknown augmentation, did you mean 'random_horizontal_flip'? "
         "(see PreprocessingStep in the OD API's preprocessor.proto)"),
        ({"train": {"augmentation": [{"random_crop_image": {"min_area": 0.5, "max_aera": 1.0}}]}},
         "train.augmentation.0.random_crop_image.max_aera: random_crop_image has no parameter 'max_aera', did you mean 'max_area'?"),
        ({"train": {"augmentation": [{"random_horizontal_flip": {}, "random_vertical_flip": {}}]}},
         "train.augmentation.0: each step names exactly one operation, got 2 (e.g. - random_horizontal_flip: {})"),
        ({"overrides": {"train_config.batch_sise": 4}},
         "overrides.train_config.batch_sise: TrainConfig has no field 'batch_sise', did you mean 'batch_size'?"),
        ({"model": {"architecture": FPNLITE, "pretrained": {"checkpoint": "zoo/ckpt-0"}}},
         "model.pretrained.checkpoint: no checkpoint at {root}/zoo/ckpt-0 (ckpt-0.index not found) "
         "(give the path prefix of a TF2 checkpoint, e.g. checkpoint: zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint/ckpt-0)"),
    ],
)
def test_cross_field_problem(tmp_path: Path, sections: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert expected.replace("{root}", str(tmp_path)) in problems(tmp_path, minimal_spec(FPNLITE, **sections))


def test_tflite_only_for_ssd_and_centernet(tmp_path: Path) -> None:
    found = problems(tmp_path, minimal_spec("faster_rcnn_resnet50_v1_640", export={"tflite": True}))
    assert found == [
        "export.tflite: TFLite export supports SSD and CenterNet only, not Faster R-CNN ResNet50 V1 640x640 "
        "(set tflite: false, or pick an SSD or CenterNet architecture)"
    ]


def zoo_checkpoint(folder: Path, num_classes: int = 90) -> str:
    """A zoo-style download: <model>/checkpoint/ckpt-0.{index,data} with pipeline.config beside."""
    model = folder / "zoo" / "ssd_mobilenet_v2_fpnlite_320x320"
    (model / "checkpoint").mkdir(parents=True)
    (model / "checkpoint" / "ckpt-0.index").write_bytes(b"\x00model/_box_predictor/...")
    (model / "checkpoint" / "ckpt-0.data-00000-of-00001").write_bytes(b"\x00")
    (model / "pipeline.config").write_text(f"model {{ ssd {{ num_classes: {num_classes} }} }}")
    return "zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint/ckpt-0"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("classification", "model.pretrained.kind: this is a detection checkpoint; kind 'classification' is for "
                           "ImageNet backbones and fails to restore it (e.g. kind: detection)"),
        ("full", "model.pretrained.kind: kind 'full' restores the class head too, which has 90 classes here, not 2 (e.g. kind: detection)"),
        ("fine_tune", "model.pretrained.kind: the TF2 OD API does not restore kind 'fine_tune' for ssd "
                      "(CenterNet says it is no longer supported) (e.g. kind: detection)"),
    ],
)
def test_checkpoint_kind_must_suit_the_checkpoint(tmp_path: Path, kind: str, expected: str) -> None:
    pretrained = {"checkpoint": zoo_checkpoint(tmp_path), "kind": kind}
    found = problems(tmp_path, minimal_spec(FPNLITE, model={"architecture": FPNLITE, "pretrained": pretrained}))
    assert found == [expected]


def test_checkpoint_directory_gets_prefix_hint(tmp_path: Path) -> None:
    zoo_checkpoint(tmp_path)
    folder = "zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint"
    found = problems(tmp_path, minimal_spec(FPNLITE, model={"architecture": FPNLITE, "pretrained": {"checkpoint": folder}}))
    assert found[0].endswith(f"(give the prefix, e.g. checkpoint: {tmp_path / folder / 'ckpt-0'})")


def test_detection_checkpoint_compiles_into_fine_tune_fields(tmp_path: Path) -> None:
    pretrained = {"checkpoint": zoo_checkpoint(tmp_path), "kind": "detection"}
    validated = api.validate(write_spec(tmp_path, minimal_spec(FPNLITE, model={"architecture": FPNLITE, "pretrained": pretrained})))
    config = validated.files["pipeline.config"].decode()
    prefix = tmp_path / "zoo/ssd_mobilenet_v2_fpnlite_320x320/checkpoint/ckpt-0"
    assert f'fine_tune_checkpoint: "{prefix}"' in config
    assert 'fine_tune_checkpoint_type: "detection"' in config
    assert "fine_tune_checkpoint_version: V2" in config


def test_problem_lines_point_into_the_file(tmp_path: Path) -> None:
    path = write_spec(tmp_path, minimal_spec(FPNLITE, runtime={"bfloat16": True}))
    with pytest.raises(SpecError) as caught:
        api.validate(path)
    line = path.read_text().splitlines().index("  bfloat16: true") + 1
    assert str(caught.value).startswith(f"{path}:{line}:13: runtime.bfloat16: ")


def test_missing_dataset_folders(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "project: p\ndataset:\n  format: voc\n  images: imgs\n  annotations: anns\n  classes: [a]\n"
        "model:\n  architecture: ssd_mobilenet_v2_fpnlite_320\n")
    with pytest.raises(SpecError) as caught:
        api.validate(tmp_path / "spec.yaml")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path}/spec.yaml:4:11: dataset.images: no folder {tmp_path}/imgs (paths are relative to the spec file)",
        f"{tmp_path}/spec.yaml:5:16: dataset.annotations: {tmp_path}/anns does not exist (paths are relative to the spec file)",
    ]


def test_box_limits_must_hold_the_busiest_image(tmp_path: Path) -> None:
    from odspec.datasets.synthetic import make_shapes

    make_shapes(tmp_path / "data", 4, size=(128, 128), max_boxes=3, seed=1)
    spec = minimal_spec(FPNLITE, ["circle", "square"], train={"max_boxes": 1}, model={"architecture": FPNLITE, "max_detections": 1})
    spec["dataset"].update(images="data/images", annotations="data/annotations")
    found = problems(tmp_path, spec)
    assert found == [
        "model.max_detections: model.ssd.post_processing.batch_non_max_suppression.max_total_detections is 1, "
        "but an image in the dataset has 3 boxes (e.g. max_detections: 3)",
        "train.max_boxes: train_config.max_number_of_boxes is 1, but an image in the dataset has 3 boxes (e.g. max_boxes: 3)",
    ]


def test_num_classes_override_must_match_the_label_map(tmp_path: Path) -> None:
    found = problems(tmp_path, minimal_spec(FPNLITE, overrides={"model.ssd.num_classes": 5}))
    assert found == ["overrides.model.ssd.num_classes: num_classes follows dataset.classes; "
                     "change dataset.classes instead of overriding it"]
