"""runtime.bfloat16 left unset follows the zoo on a TPU (EfficientDet, RetinaNet, the TPU-trained Faster R-CNNs)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from support import minimal_spec

from odspec.spec.models import Spec


@pytest.mark.parametrize(("architecture", "runtime", "expected"), [
    ("efficientdet_d0", {"accelerator": "tpu"}, True),
    ("ssd_resnet50_v1_fpn_640", {"accelerator": "tpu"}, True),
    ("faster_rcnn_resnet50_v1_640", {"accelerator": "tpu"}, True),
    ("faster_rcnn_resnet50_v1_800x1333", {"accelerator": "tpu"}, False),  # a GPU-trained zoo config
    ("ssd_mobilenet_v2_fpnlite_320", {"accelerator": "tpu"}, False),
    ("efficientdet_d0", {"accelerator": "tpu", "bfloat16": False}, False),  # said: kept
    ("ssd_mobilenet_v2_fpnlite_320", {"accelerator": "tpu", "bfloat16": True}, True),
    ("efficientdet_d0", {"accelerator": "gpu"}, False),
    ("efficientdet_d0", {}, False),  # accelerator's default is gpu
])
def test_the_resolved_spec_holds_the_value_that_trains(architecture: str, runtime: dict[str, Any],
                                                       expected: bool) -> None:
    spec = Spec.model_validate(minimal_spec(architecture, runtime=runtime))
    assert spec.runtime.bfloat16 is expected
    assert spec.model_dump(mode="json")["runtime"]["bfloat16"] is expected  # fingerprints and the lock see it


@pytest.mark.parametrize("broken", [
    {"model": {"architecture": ["efficientdet_d0"]}, "runtime": {"accelerator": "tpu"}},
    {"model": {"architecture": "efficientdet_d9"}, "runtime": {"accelerator": "tpu"}},
    {"model": {"architecture": "efficientdet_d0"}, "runtime": "tpu"},
    {"model": "efficientdet_d0", "runtime": {"accelerator": "tpu"}},
])
def test_malformed_input_is_left_for_validation_to_report(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Spec.model_validate({**minimal_spec("efficientdet_d0"), **broken})
