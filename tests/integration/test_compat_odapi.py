"""Every compatibility shim, on the stack it runs on: its symptom is gone after ``compat.apply()``, it appears
without the shim where the shim is needed, and ``apply()`` lists a shim exactly where it is needed.

Three children per stack (``shim_checks.py``, beside this file): one after
``apply()``; one without the five shims whose symptoms show at call time
(each check there is independent of the others); one without the two that act
at import time (legacy Keras and the protobuf hook). ``odspec doctor --json``
is checked against the same ``apply()`` result and this venv's metadata.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import shim_checks
from support import REPO

from odspec.odapi import TENSORFLOW_DISTRIBUTIONS
from odspec.odapi.compat import SHIMS, symptoms

pytestmark = [pytest.mark.odapi, pytest.mark.compat]

TIMEOUT = 600
CHECKER = Path(__file__).with_name("shim_checks.py")
NAMES = [shim.name for shim in SHIMS]
IMPORT_TIME = ["legacy_keras", "protos_import_hook"]
CALL_TIME = [name for name in NAMES if name not in IMPORT_TIME]


def _tensorflow_minor() -> tuple[int, int]:
    for dist in TENSORFLOW_DISTRIBUTIONS:
        try:
            major, minor = metadata.version(dist).split(".")[:2]
            return int(major), int(minor)
        except metadata.PackageNotFoundError:
            continue
    return (0, 0)


TF_2_15 = _tensorflow_minor() < (2, 16)
ONLY_TF_2_20 = pytest.mark.skipif(TF_2_15, reason="TF 2.15 stack: tf.keras is Keras 2 and tf.estimator exists there, "
                                  "so this shim is not applied (the TF 2.20 stack needs it)")


def checks(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(CHECKER), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def applied() -> dict[str, Any]:
    return checks()


@pytest.fixture(scope="module")
def without() -> dict[str, dict[str, Any]]:
    """Each shim's check in a child that has every other shim but not it (nor the others of its group)."""
    found: dict[str, dict[str, Any]] = {}
    for group in (CALL_TIME, IMPORT_TIME):
        args = [arg for name in group for arg in ("--without", name, "--check", name)]
        found.update(checks(*args)["checks"])
    return found


def test_every_shim_has_a_check_and_a_symptom() -> None:
    assert set(shim_checks.CHECKS) == set(NAMES)
    order = list(shim_checks.CHECKS)  # inputs imports model_builder: tensorflow-io's warnings must be seen first
    assert order.index("tensorflow_io_absent") < order.index("estimator_mode_keys")
    assert all(symptom and "`" in symptom for symptom in symptoms().values()), symptoms()


@pytest.mark.parametrize("name", NAMES)
def test_the_symptom_is_gone_after_apply(applied: dict[str, Any], name: str) -> None:
    check = applied["checks"][name]
    assert check["ok"], check["error"]


@pytest.mark.parametrize("name", NAMES)
def test_apply_lists_a_shim_exactly_where_its_symptom_shows_without_it(
        applied: dict[str, Any], without: dict[str, dict[str, Any]], name: str) -> None:
    needed = not without[name]["ok"]
    assert (name in applied["applied"]) == needed, without[name]


@pytest.mark.parametrize("name", NAMES)
def test_without_the_shim_the_symptom_is_the_one_it_names(without: dict[str, dict[str, Any]], name: str) -> None:
    """What ``odspec doctor`` shows for a shim is the error a user would see without it."""
    error = without[name]["error"]
    if error is None:
        pytest.skip(f"{name} is not needed on this stack (TF {'2.15' if TF_2_15 else '2.20'}): no symptom to match")
    messages = [quoted for quoted in re.findall(r"`([^`]+)`", symptoms()[name]) if " " in quoted]
    assert any(message in error for message in messages), (messages, error)


def test_tf_keras_is_keras_2(applied: dict[str, Any]) -> None:
    found = applied["checks"]["legacy_keras"]
    assert found["version"].startswith("2."), found
    assert found["dense_module"].startswith(f"{found['package']}.src."), found


@ONLY_TF_2_20
def test_on_tf_2_20_tf_keras_is_tf_keras_not_keras_3(applied: dict[str, Any]) -> None:
    found = applied["checks"]["legacy_keras"]
    assert found["package"] == "tf_keras"
    assert found["version"] == metadata.version("tf-keras")
    assert "legacy_keras" in applied["applied"] and "estimator_mode_keys" in applied["applied"]


def test_inputs_and_model_lib_see_the_estimators_mode_keys(applied: dict[str, Any]) -> None:
    assert applied["checks"]["estimator_mode_keys"]["modes"] == ["train", "eval"]


def test_od_api_protos_round_trip_on_the_fast_backend(applied: dict[str, Any]) -> None:
    assert applied["checks"]["protos_import_hook"]["num_classes"] == 3


def test_the_od_api_decoder_decodes_what_odspec_wrote(applied: dict[str, Any]) -> None:
    found = applied["checks"]["tf_slim_control_flow"]
    assert found["image_shape"] == [32, 48, 3]
    assert found["boxes"] == [[0.125, 0.25, 0.5, 0.75]]  # (xmin, ymin, xmax, ymax) written, (ymin, xmin, ...) read
    assert found["classes"] == [1]


def test_getsize_equals_the_size_derived_from_getbbox(applied: dict[str, Any]) -> None:
    """On Pillow < 10 getsize is Pillow's own, so this also shows the shim's formula reproduces it."""
    found = applied["checks"]["pillow_getsize"]
    assert set(found["sizes"]) == {"default", "DejaVuSans-24"}
    for font, texts in found["sizes"].items():
        for text, (getsize, from_bbox) in texts.items():
            assert getsize == from_bbox, (font, text)
            assert getsize[0] > 0 and getsize[1] > 0
    assert found["drawn_pixels"] > 0  # visualization_utils laid out and drew the box and its label


def test_od_metrics_compute_with_np_float(applied: dict[str, Any]) -> None:
    found = applied["checks"]["numpy_aliases_in_od_metrics"]
    assert found["precision"] == pytest.approx([1.0, 0.5, 2 / 3])
    assert found["recall"] == pytest.approx([0.5, 0.5, 1.0])
    assert found["average_precision"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)  # VOC's interpolated area
    assert found["no_truth_is_nan"] is True
    assert found["numpy_float"] is False  # numpy itself is unchanged


@pytest.mark.skipif(TF_2_15, reason="TF 2.15 stack: its tensorflow-io 0.36 is built for TF 2.15, so the real "
                    "module is used and there is no placeholder to test (TF 2.20 needs it)")
def test_model_builder_imports_without_tensorflow_io_and_using_it_fails_clearly(applied: dict[str, Any]) -> None:
    found = applied["checks"]["tensorflow_io_absent"]
    assert found["load_warnings"] == [] and found["module"] == "_Missing"
    assert found["use"].startswith("odspec.errors.EnvironmentProblem: tensorflow_io.experimental is needed, "
                                   "but no usable tensorflow_io is installed")


def test_doctor_reports_this_venvs_versions_and_apply_s_shims(applied: dict[str, Any]) -> None:
    code = ("import sys, runpy\nsys.argv = ['odspec', 'doctor', '--json']\ntry:\n"
            "    runpy.run_module('odspec.cli', run_name='__main__')\nexcept SystemExit as done:\n"
            "    print('EXIT', done.code, 'TF', 'tensorflow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    *report_lines, last = done.stdout.splitlines()
    report = json.loads("\n".join(report_lines))
    assert last == "EXIT 0 TF False", done.stderr[-4000:]  # a complete stack, and the parent never imports TF
    for name, version in report["packages"].items():
        dists = TENSORFLOW_DISTRIBUTIONS if name == "tensorflow" else (name,)
        expected = next((metadata.version(d) for d in dists if _installed(d)), None)
        assert version == expected, name
    assert report["packages"]["tensorflow"] is not None and report["packages"]["numpy"] is not None
    assert [shim["name"] for shim in report["shims"]] == applied["applied"]
    assert {s["name"]: s["symptom"] for s in report["shims"]} == {n: symptoms()[n] for n in applied["applied"]}
    from google.protobuf.internal import api_implementation

    assert report["protobuf_backend"] == api_implementation.Type()
    assert report["stack"]["name"] == ("tf2.15" if TF_2_15 else "tf2.20")
    assert report["problems"] == [] and report["exit_code"] == 0


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False
