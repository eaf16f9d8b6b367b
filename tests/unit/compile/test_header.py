"""The pipeline.config header is read from the final config (after the overrides), so it cannot contradict the body."""

from __future__ import annotations

import re
from pathlib import Path, PurePath

import pytest
from support import REPO, minimal_spec

from odspec import api
from odspec.catalogue import CATALOGUE
from odspec.compile.context import Paths
from odspec.compile.header import header
from odspec.compile.render import pipeline_message
from odspec.spec.models import Spec

ARCH = "ssd_mobilenet_v2_fpnlite_320"
NMS = "model.ssd.post_processing.batch_non_max_suppression"
SPECS = sorted((REPO / "specs").glob("*.yaml"))


def test_the_header_states_the_final_batch_size_not_the_specs() -> None:
    """Whatever set the body's batch size (here: the final config edited after compiling), the header says it."""
    spec = Spec.model_validate(minimal_spec(ARCH, train={"batch_size": 4}))
    config, _ = pipeline_message(spec, Paths(PurePath("/build")))
    config.train_config.batch_size = 3
    lines = header(spec, CATALOGUE[ARCH], config)
    assert lines[2] == ("- batch size 3 instead of the zoo's 128 (a TPU-pod batch); when the spec sets no learning rate,"
                        " the zoo's rates are scaled by the ratio of batch size 4 (the spec's, before the overrides)"
                        " to the zoo's and its step counts by the ratio of training steps;")


def test_the_header_states_the_final_bfloat16() -> None:
    spec = Spec.model_validate(minimal_spec(ARCH))  # its zoo config trains in float32: no departure to state
    config, before = pipeline_message(spec, Paths(PurePath("/build")))
    assert not any("bfloat16" in line for line in before)
    config.train_config.use_bfloat16 = True
    assert header(spec, CATALOGUE[ARCH], config)[3] == "- use_bfloat16 is on (the zoo config trains in float32);"


@pytest.mark.parametrize(("runtime", "line"), [
    ({"accelerator": "gpu"}, "- use_bfloat16 is off (it only works on TPU; the zoo config trains in bfloat16 on its TPU);"),
    ({"accelerator": "tpu"}, None),  # as the zoo
    ({"accelerator": "tpu", "bfloat16": False},
     "- use_bfloat16 is off (the spec turns it off; the zoo config trains in bfloat16 on its TPU);"),
])
def test_the_header_states_bfloat16_against_a_zoo_config_in_bfloat16(runtime: dict[str, object],
                                                                     line: str | None) -> None:
    spec = Spec.model_validate(minimal_spec("efficientdet_d0", runtime=runtime))
    config, lines = pipeline_message(spec, Paths(PurePath("/build")))
    assert [x for x in lines if "bfloat16" in x] == ([line] if line else [])
    assert config.train_config.use_bfloat16 is (line is None)


def test_the_header_names_the_overrides_applied() -> None:
    spec = Spec.model_validate(minimal_spec(ARCH, overrides={f"{NMS}.score_threshold": 0.05, "eval_config.max_evals": 2}))
    _, lines = pipeline_message(spec, Paths(PurePath("/build")))
    assert lines[-1] == f"Set by overrides, after the defaults: {NMS}.score_threshold, eval_config.max_evals."


def test_no_overrides_no_overrides_line() -> None:
    _, lines = pipeline_message(Spec.model_validate(minimal_spec(ARCH)), Paths(PurePath("/build")))
    assert not any(line.startswith("Set by overrides") for line in lines)


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_header_and_body_agree_in_every_bundled_spec(spec: Path) -> None:
    text = api.validate(spec, Path("/odspec-header") / spec.stem, check_data=False).files["pipeline.config"].decode()
    said = re.search(r"^# - batch size (\d+) ", text, re.MULTILINE)
    body = re.search(r"^  batch_size: (\d+)$", text, re.MULTILINE)
    assert said and body and said.group(1) == body.group(1)
    on = "use_bfloat16: true" in text
    loaded = api.validate(spec, Path("/odspec-header") / spec.stem, check_data=False).loaded.spec
    departs = "use_bfloat16 is on" in text or "use_bfloat16 is off" in text
    assert (on != CATALOGUE[loaded.model.architecture].train.tpu_bfloat16) == departs
    assert ("use_bfloat16 is on" in text) <= on and ("use_bfloat16 is off" in text) <= (not on)
