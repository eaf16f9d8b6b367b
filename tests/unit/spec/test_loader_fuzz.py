"""Issue 8: whatever YAML a user (or a fuzzer) writes, the loader returns a spec or raises an OdspecError.

Never another exception, and never slowly: each example has a deadline. Three sources of documents:
random text, random data dumped as YAML, and mutations of a valid spec (deleted keys, wrong types,
huge or non-finite numbers, unicode, tags, anchors and aliases).
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from odspec.errors import OdspecError  # noqa: E402
from odspec.spec.load import load_spec  # noqa: E402

FUZZ = settings(max_examples=60, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, Any] = {
    "project": "pets",
    "dataset": {"format": "voc", "images": "images", "annotations": "annotations", "classes": ["cat", "dog"]},
    "model": {"architecture": "ssd_mobilenet_v2_fpnlite_320"},
    "train": {"batch_size": 8, "steps": 100},
}

numbers = st.one_of(
    st.integers(), st.integers(min_value=2**31 - 2, max_value=2**70), st.integers(max_value=-(2**31)),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1e999, -1e999, float("nan"), 1e-320]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
yaml_bits = st.sampled_from([
    "&a ", "*a", "!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "!env ", "!!python/name:os.system ",
    "!!binary ", "!!timestamp ", "<<: *a\n", "<<: [*a]\n", "2024-01-01", "~", "[", "]", "{", "}", ": ", "- ",
    "---\n", "\t", "\x00", "\ufeff", "é", "🙂", "0x1", "1e999", ".nan", ".inf", "=", "? ", "'", '"', "\n  ",
])


def outcome(text: str) -> Any:
    """The loaded spec, or None for an OdspecError; any other exception fails the test."""
    try:
        return load_spec(Path("spec.yaml"), text)
    except OdspecError:
        return None


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_specs(draw: Any, values: Any = data) -> dict[str, Any]:
    """A valid spec with a few keys deleted, replaced or added."""
    spec = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(spec)[1:]))
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(values)
    return spec


@st.composite
def spliced_texts(draw: Any) -> str:
    """A valid spec's text with YAML syntax (tags, anchors, aliases, brackets) spliced in."""
    lines = yaml.safe_dump(VALID, sort_keys=False).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(lines) - 1))
        column = draw(st.integers(0, len(lines[where])))
        lines[where] = lines[where][:column] + draw(yaml_bits) + lines[where][column:]
    return "".join(lines)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    outcome(text)


@FUZZ
@given(data)
def test_random_data(value: Any) -> None:
    outcome(yaml.safe_dump(value, allow_unicode=True))


@FUZZ
@given(mutated_specs())
def test_mutated_specs(spec: dict[str, Any]) -> None:
    outcome(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))


@FUZZ
@given(spliced_texts())
def test_spliced_yaml_syntax(text: str) -> None:
    outcome(text)


# validate runs the checks and the in-memory compile; its numbers stay inside what the proto fields hold
# (out-of-range numbers in overrides belong to the overrides/number-range work of issue 8).
in_range = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**31) + 1, 2**31 - 1),
    st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False), st.text(max_size=12),
)


def _validate(spec: dict[str, Any]) -> None:
    from odspec import api

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "images").mkdir()
        (root / "annotations").mkdir()
        path = root / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
        with contextlib.suppress(OdspecError):
            api.validate(path, check_data=False)


# Positive numeric spec fields, set to any value pydantic accepts, so validate sees many valid specs.
POSITIVE_INTS = [("train", "batch_size"), ("train", "steps"), ("train", "max_boxes"), ("train", "checkpoint_every"),
                 ("train", "keep_checkpoints"), ("dataset", "shards"), ("model", "input_size"),
                 ("model", "max_detections"), ("runtime", "replicas"), ("eval", "every")]
positive = st.one_of(st.integers(1, 64), st.integers(1, 2**31 - 1))


@st.composite
def tuned_specs(draw: Any) -> dict[str, Any]:
    spec = copy.deepcopy(VALID)
    for section, key in draw(st.lists(st.sampled_from(POSITIVE_INTS), min_size=1, max_size=4, unique=True)):
        spec.setdefault(section, {})[key] = draw(positive)
    return spec


@settings(max_examples=30, deadline=5000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_specs(in_range), tuned_specs()))
def test_validate_raises_only_odspec_errors(spec: dict[str, Any]) -> None:
    _validate(spec)


def test_the_valid_spec_validates() -> None:
    assert outcome(yaml.safe_dump(VALID)) is not None
