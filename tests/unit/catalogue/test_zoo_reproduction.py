"""Every catalogue entry's defaults reproduce its published zoo config, except the documented departures."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest
from google.protobuf import text_format
from google.protobuf.message import Message
from support import minimal_spec

from odspec.catalogue import CATALOGUE
from odspec.compile.context import Paths
from odspec.compile.render import pipeline_message
from odspec.odapi import protos
from odspec.odapi.protos import is_repeated
from odspec.spec.models import Spec

# Fields the compiled config deliberately does not copy (see the compiled header comment).
TRAIN_DEPARTURES = (
    "batch_size",
    "use_bfloat16",
    "sync_replicas",
    "replicas_to_aggregate",
    "startup_delay_steps",
    "fine_tune_checkpoint",
    "fine_tune_checkpoint_type",
    "fine_tune_checkpoint_version",
)
READER_PATHS = ("label_map_path", "tf_record_input_reader")


def clear_defaults(message: Message) -> Message:
    """Drop scalar fields explicitly set to their default value, recursively, so presence does not matter."""
    for field, value in list(message.ListFields()):
        if field.message_type is not None:
            items = value if is_repeated(field) else [value]
            for item in items:
                clear_defaults(item)
        elif not is_repeated(field) and value == field.default_value:
            message.ClearField(field.name)
    return message


def zoo_config(zoo_dir: Path, name: str) -> Message:
    config = protos.load("pipeline_pb2").TrainEvalPipelineConfig()
    text_format.Parse((zoo_dir / name).read_text(), config)
    return config


def compiled_at_zoo_batch(name: str, num_classes: int) -> Message:
    arch = CATALOGUE[name]
    classes = [f"class{i}" for i in range(num_classes)]
    spec = Spec.model_validate(minimal_spec(name, classes, train={"batch_size": arch.train.zoo_batch_size}))
    config, _ = pipeline_message(spec, Paths(PurePath("/build")))
    return config


def strip(message: Message, names: tuple[str, ...]) -> Message:
    for name in names:
        if name in message.DESCRIPTOR.fields_by_name:
            message.ClearField(name)
    return clear_defaults(message)


def diff(a: Message, b: Message) -> str:
    return f"--- compiled\n{text_format.MessageToString(a)}\n--- zoo\n{text_format.MessageToString(b)}"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_zoo_config_file_exists(name: str, zoo_dir: Path) -> None:
    assert (zoo_dir / CATALOGUE[name].zoo_config).is_file()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_model_block_matches_zoo(name: str, zoo_dir: Path) -> None:
    zoo = zoo_config(zoo_dir, CATALOGUE[name].zoo_config)
    family = zoo.model.WhichOneof("model")
    num_classes = getattr(zoo.model, family).num_classes
    compiled = compiled_at_zoo_batch(name, num_classes)
    assert clear_defaults(compiled.model) == clear_defaults(zoo.model), diff(compiled.model, zoo.model)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_train_config_matches_zoo_at_zoo_batch(name: str, zoo_dir: Path) -> None:
    zoo = zoo_config(zoo_dir, CATALOGUE[name].zoo_config)
    family = zoo.model.WhichOneof("model")
    compiled = compiled_at_zoo_batch(name, getattr(zoo.model, family).num_classes)
    got, want = strip(compiled.train_config, TRAIN_DEPARTURES), strip(zoo.train_config, TRAIN_DEPARTURES)
    assert got == want, diff(got, want)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_eval_and_readers_match_zoo(name: str, zoo_dir: Path) -> None:
    zoo = zoo_config(zoo_dir, CATALOGUE[name].zoo_config)
    family = zoo.model.WhichOneof("model")
    compiled = compiled_at_zoo_batch(name, getattr(zoo.model, family).num_classes)
    for section in ("eval_config", "train_input_reader"):
        got, want = strip(getattr(compiled, section), READER_PATHS), strip(getattr(zoo, section), READER_PATHS)
        assert got == want, diff(got, want)
    got = strip(compiled.eval_input_reader[0], READER_PATHS)
    want = strip(zoo.eval_input_reader[0], READER_PATHS)
    assert got == want, diff(got, want)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_on_a_tpu_bfloat16_follows_the_zoo_config(name: str, zoo_dir: Path) -> None:
    """A spec on a TPU that leaves runtime.bfloat16 unset trains in bfloat16 exactly where the zoo config does."""
    zoo = zoo_config(zoo_dir, CATALOGUE[name].zoo_config)
    assert CATALOGUE[name].train.tpu_bfloat16 is zoo.train_config.use_bfloat16
    for accelerator, expected in (("tpu", zoo.train_config.use_bfloat16), ("gpu", False), ("cpu", False)):
        spec = Spec.model_validate(minimal_spec(name, runtime={"accelerator": accelerator}))
        config, _ = pipeline_message(spec, Paths(PurePath("/build")))
        assert (spec.runtime.bfloat16, config.train_config.use_bfloat16) == (expected, expected), accelerator
