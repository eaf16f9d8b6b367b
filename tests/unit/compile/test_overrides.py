"""The dotted-path escape hatch: sets real fields, refuses wrong ones with a did-you-mean."""

from __future__ import annotations

import pytest

from odspec.compile.overrides import apply_override
from odspec.errors import OverrideError
from odspec.odapi import protos


def pipeline():  # type: ignore[no-untyped-def]
    config = protos.load("pipeline_pb2").TrainEvalPipelineConfig()
    config.train_config.data_augmentation_options.add().random_horizontal_flip.SetInParent()
    return config


def test_scalar_enum_message_and_list() -> None:
    config = pipeline()
    apply_override(config, "model.ssd.feature_extractor.depth_multiplier", 0.5)
    apply_override(config, "model.ssd.post_processing.score_converter", "SOFTMAX")
    apply_override(config, "train_config.optimizer.adam_optimizer", {"epsilon": 1e-7})
    apply_override(config, "eval_config.metrics_set", ["coco_detection_metrics", "pascal_voc_detection_metrics"])
    apply_override(config, "train_config.data_augmentation_options[0].random_horizontal_flip.probability", 0.3)
    assert config.model.ssd.feature_extractor.depth_multiplier == 0.5
    converter = config.model.ssd.post_processing.DESCRIPTOR.fields_by_name["score_converter"].enum_type
    assert converter.values_by_number[config.model.ssd.post_processing.score_converter].name == "SOFTMAX"
    assert config.train_config.optimizer.WhichOneof("optimizer") == "adam_optimizer"
    assert abs(config.train_config.optimizer.adam_optimizer.epsilon - 1e-7) < 1e-12
    assert list(config.eval_config.metrics_set) == ["coco_detection_metrics", "pascal_voc_detection_metrics"]
    assert config.train_config.data_augmentation_options[0].random_horizontal_flip.probability == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train_config.batch_sise", 4, "TrainConfig has no field 'batch_sise', did you mean 'batch_size'?"),
        ("train_config.batch_size", "4", "expected an integer, got '4'"),
        ("train_config.batch_size.x", 4, "'batch_size' is a scalar, it has no fields below it"),
        ("model.ssd.post_processing.score_converter", "SIGMOD", "did you mean 'SIGMOID'?"),
        ("train_config.data_augmentation_options.random_horizontal_flip", {}, "pick one with data_augmentation_options[0]"),
        ("train_config.data_augmentation_options[3].random_horizontal_flip", {}, "data_augmentation_options[3] does not exist: it has 1 entries"),
        ("eval_config.metrics_set", "coco_detection_metrics", "'metrics_set' is repeated: give a list"),
        ("train_config.optimizer", 3, "'optimizer' is a message: give a mapping of its fields"),
        ("train_config.optimizer", {"adam": {}}, 'no field named "adam"'),
    ],
)
def test_bad_override(path: str, value: object, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        apply_override(pipeline(), path, value)
    assert message in str(caught.value)
