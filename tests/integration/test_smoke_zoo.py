"""The smoke check builds published zoo models and gets finite losses, run the way odspec runs it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from odspec.errors import RunError
from odspec.odapi.smoke import parse_output
from odspec.runner.process import run_module

pytestmark = pytest.mark.odapi

TIMEOUT = 600.0


@pytest.mark.parametrize(
    ("config", "model_class", "size"),
    [
        ("ssd_mobilenet_v2_fpnlite_320x320", "SSDMetaArch", [320, 320]),
        ("faster_rcnn_resnet50_v1_640x640", "FasterRCNNMetaArch", [640, 640]),
        ("centernet_resnet50_v2_512x512_fixed", "CenterNetMetaArch", [512, 512]),
    ],
)
def test_zoo_config_builds_and_gives_finite_losses(zoo_dir: Path, config: str, model_class: str,
                                                  size: list[int]) -> None:
    done = run_module("odspec.odapi.smoke", [str(zoo_dir / f"{config}.config"), "--forward"], timeout=TIMEOUT)
    result = parse_output(done.lines)
    assert result["built"] is True
    assert result["forward"] is True
    assert result["model_class"] == model_class
    assert result["num_classes"] == 90
    assert result["image_size"] == size
    assert "Loss/total_loss" in result["losses"]
    assert all(math.isfinite(value) for value in result["losses"].values()), result["losses"]
    assert result["peak_rss_mb"] > 0


def test_unbuildable_config_fails_with_stage_and_message(zoo_dir: Path, tmp_path: Path) -> None:
    text = (zoo_dir / "ssd_mobilenet_v2_fpnlite_320x320.config").read_text()
    broken = tmp_path / "broken.config"
    text, replaced = re.subn(r"""type: ['"]ssd_mobilenet_v2_fpn_keras['"]""", 'type: "no_such_extractor"', text)
    assert replaced == 1
    broken.write_text(text)
    with pytest.raises(RunError) as caught:
        run_module("odspec.odapi.smoke", [str(broken)], timeout=TIMEOUT)
    assert caught.value.returncode == 1
    result = parse_output(caught.value.tail)
    assert result["built"] is False
    assert result["stage"] == "build"
    assert "no_such_extractor" in result["error"]
