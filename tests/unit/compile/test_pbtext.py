"""User text enters protobuf text escaped: it stays one literal, whatever it contains."""

from __future__ import annotations

from google.protobuf import text_format

from odspec.compile.render import label_map_message
from odspec.odapi import protos
from odspec.odapi.pbtext import Enum, fields, literal

INJECTION = 'a" } item { id: 99 name: "b'


def test_literals() -> None:
    assert literal(True) == "true"
    assert literal(3) == "3"
    assert literal(0.5) == "0.5"
    assert literal(Enum("SIGMOID")) == "SIGMOID"
    assert literal('say "hi"\n') == r'"say \"hi\"\n"'


def test_fields_nest_and_repeat() -> None:
    text = fields({"metrics_set": ["a", "b"], "optimizer": {"use_moving_average": False}})
    assert text == 'metrics_set: "a"\nmetrics_set: "b"\noptimizer {\n  use_moving_average: false\n}'


def test_injected_class_name_stays_one_class() -> None:
    label_map = label_map_message(["cat", INJECTION, "ünïcode ✓"])
    assert [(item.id, item.name) for item in label_map.item] == [(1, "cat"), (2, INJECTION), (3, "ünïcode ✓")]
    reparsed = text_format.Parse(text_format.MessageToString(label_map, as_utf8=True), protos.load("string_int_label_map_pb2").StringIntLabelMap())
    assert len(reparsed.item) == 3 and reparsed.item[1].name == INJECTION
