"""Scalars from TensorBoard event files, read without TensorFlow.

An event file (``events.out.tfevents.*``) is a TFRecord file of serialized
``tensorflow.Event`` messages (tensorflow/core/util/event.proto). TF2's
``tf.summary.scalar`` stores a scalar as a rank-0 float32 ``tensor`` value whose
metadata names the ``scalars`` plugin; TF1 summaries store a ``simple_value``.
Training and evaluation write these files while we read them, so a truncated
last record is the normal state of a live file, not damage: reading stops there.

Only the fields needed for scalars are declared, in a private pool like
:mod:`odspec.records.example`. Images, histograms, audio, graphs and session
logs are declared as opaque ``bytes`` (same wire type as a message) or left out
(parsed as unknown fields), so we never decode what we do not use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from odspec.errors import RecordError
from odspec.records.tfrecord import read_records

EVENT_FILE_PATTERN = "events.out.tfevents.*"
SCALARS_PLUGIN = "scalars"
_DATA_CLASS_SCALAR = 1  # SummaryMetadata.DataClass.DATA_CLASS_SCALAR

_FILE_NAME = "odspec/runner/tensorflow_event.proto"
_PACKAGE = "tensorflow"
_FRAMING = 16  # per record: 8-byte length, 4-byte length CRC, 4-byte data CRC
_DAMAGED_HINT = "move the damaged event file out of the folder to read the others; its scalars are lost"

_T = descriptor_pb2.FieldDescriptorProto

# (name, number, type, message type or None, repeated, oneof index or None), as in TensorFlow's protos:
# event.proto, summary.proto, tensor.proto and tensor_shape.proto. Nested messages are flattened
# (SummaryValue is Summary.Value): names do not reach the wire, numbers and types do.
_MESSAGES: dict[str, tuple[tuple[str, int, int, str | None, bool, int | None], ...]] = {
    "Event": (
        ("wall_time", 1, _T.TYPE_DOUBLE, None, False, None),
        ("step", 2, _T.TYPE_INT64, None, False, None),
        ("file_version", 3, _T.TYPE_STRING, None, False, 0),
        ("graph_def", 4, _T.TYPE_BYTES, None, False, 0),
        ("summary", 5, _T.TYPE_MESSAGE, "Summary", False, 0),
        ("log_message", 6, _T.TYPE_BYTES, None, False, 0),
        ("session_log", 7, _T.TYPE_BYTES, None, False, 0),
        ("tagged_run_metadata", 8, _T.TYPE_BYTES, None, False, 0),
        ("meta_graph_def", 9, _T.TYPE_BYTES, None, False, 0),
    ),
    "Summary": (("value", 1, _T.TYPE_MESSAGE, "SummaryValue", True, None),),
    "SummaryValue": (
        ("node_name", 7, _T.TYPE_STRING, None, False, None),
        ("tag", 1, _T.TYPE_STRING, None, False, None),
        ("metadata", 9, _T.TYPE_MESSAGE, "SummaryMetadata", False, None),
        ("simple_value", 2, _T.TYPE_FLOAT, None, False, 0),
        ("obsolete_old_style_histogram", 3, _T.TYPE_BYTES, None, False, 0),
        ("image", 4, _T.TYPE_BYTES, None, False, 0),
        ("histo", 5, _T.TYPE_BYTES, None, False, 0),
        ("audio", 6, _T.TYPE_BYTES, None, False, 0),
        ("tensor", 8, _T.TYPE_MESSAGE, "TensorProto", False, 0),
    ),
    "SummaryMetadata": (
        ("plugin_data", 1, _T.TYPE_MESSAGE, "PluginData", False, None),
        ("display_name", 2, _T.TYPE_STRING, None, False, None),
        ("summary_description", 3, _T.TYPE_STRING, None, False, None),
        ("data_class", 4, _T.TYPE_INT32, None, False, None),  # an enum on the wire is a varint
    ),
    "PluginData": (
        ("plugin_name", 1, _T.TYPE_STRING, None, False, None),
        ("content", 2, _T.TYPE_BYTES, None, False, None),
    ),
    "TensorProto": (
        ("dtype", 1, _T.TYPE_INT32, None, False, None),  # enum DataType
        ("tensor_shape", 2, _T.TYPE_MESSAGE, "TensorShapeProto", False, None),
        ("version_number", 3, _T.TYPE_INT32, None, False, None),
        ("tensor_content", 4, _T.TYPE_BYTES, None, False, None),
        ("half_val", 13, _T.TYPE_INT32, None, True, None),
        ("float_val", 5, _T.TYPE_FLOAT, None, True, None),
        ("double_val", 6, _T.TYPE_DOUBLE, None, True, None),
        ("int_val", 7, _T.TYPE_INT32, None, True, None),
        ("int64_val", 10, _T.TYPE_INT64, None, True, None),
    ),
    "TensorShapeProto": (
        ("dim", 2, _T.TYPE_MESSAGE, "TensorShapeDim", True, None),
        ("unknown_rank", 3, _T.TYPE_BOOL, None, False, None),
    ),
    "TensorShapeDim": (
        ("size", 1, _T.TYPE_INT64, None, False, None),
        ("name", 2, _T.TYPE_STRING, None, False, None),
    ),
}
_ONEOFS = {"Event": "what", "SummaryValue": "value"}

# DataType -> (struct format of one element in tensor_content, the typed repeated field).
_DTYPES = {1: ("<f", "float_val"), 2: ("<d", "double_val"), 3: ("<i", "int_val"),
           9: ("<q", "int64_val"), 19: ("<e", "half_val")}


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The subset of TensorFlow's event, summary and tensor protos that scalars need, in one file."""
    proto = descriptor_pb2.FileDescriptorProto(name=_FILE_NAME, package=_PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        message_type = proto.message_type.add(name=name)
        if name in _ONEOFS:
            message_type.oneof_decl.add(name=_ONEOFS[name])
        for field_name, number, kind, type_name, repeated, oneof in fields:
            field = message_type.field.add(name=field_name, number=number, type=kind,
                                           label=_T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL)
            if type_name is not None:
                field.type_name = f".{_PACKAGE}.{type_name}"
            if oneof is not None:
                field.oneof_index = oneof
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(file_descriptor())
Event: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Event"))


def event_files(folder_or_file: str | Path) -> list[Path]:
    """The event files of a folder (not its subfolders) in name order, which is creation-time order.

    A file is returned as is; a path that does not exist yet (no summary written so
    far) gives no files rather than an error.
    """
    path = Path(folder_or_file)
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(child for child in path.glob(EVENT_FILE_PATTERN) if child.is_file())


def read_events(path: str | Path) -> Iterator[Any]:
    """Every complete ``Event`` in one file, stopping quietly at a truncated last record.

    Raises :class:`RecordError` on a CRC mismatch or a record that is not an Event:
    that is damage, and silently skipping it could hide an evaluation.
    """
    offset = 0
    for index, data in enumerate(_complete_records(path)):
        event = Event()
        try:
            event.ParseFromString(data)
        except message.DecodeError as err:
            raise RecordError(str(path), index, offset, f"not a TensorBoard event ({err})", _DAMAGED_HINT) from None
        yield event
        offset += _FRAMING + len(data)


def _complete_records(path: str | Path) -> Iterator[bytes]:
    try:
        yield from read_records(path)
    except RecordError as err:
        if not err.problem.startswith("truncated"):
            raise RecordError(err.path, err.index, err.offset, err.problem, _DAMAGED_HINT) from None


def read_scalars(folder_or_file: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value)] sorted by step, from every event file in a folder (or one file).

    Tags come in name order. When a step is written twice (a run resumed from an
    earlier checkpoint redoes steps), the later write wins: later in a file, or in
    a later file.
    """
    by_tag: dict[str, dict[int, float]] = {}
    for path in event_files(folder_or_file):
        for step, tag, value in _file_scalars(path):
            by_tag.setdefault(tag, {})[step] = value
    return {tag: sorted(steps.items()) for tag, steps in sorted(by_tag.items())}


def _file_scalars(path: Path) -> Iterator[tuple[int, str, float]]:
    # TF1's FileWriter writes a tag's metadata only with its first value, so remember it per file.
    scalar_tags: dict[str, bool] = {}
    for event in read_events(path):
        if event.WhichOneof("what") != "summary":
            continue
        for value in event.summary.value:
            if value.HasField("metadata"):
                plugin = value.metadata.plugin_data.plugin_name
                scalar_tags[value.tag] = plugin == SCALARS_PLUGIN or value.metadata.data_class == _DATA_CLASS_SCALAR
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                yield event.step, value.tag, float(value.simple_value)
            elif kind == "tensor" and scalar_tags.get(value.tag, False):
                number = tensor_scalar(value.tensor)
                if number is not None:
                    yield event.step, value.tag, number


def tensor_scalar(tensor: Any) -> float | None:
    """The one number in a ``TensorProto`` of one element and a numeric dtype, else None."""
    if tensor.tensor_shape.unknown_rank or _element_count(tensor) != 1 or tensor.dtype not in _DTYPES:
        return None
    element, field = _DTYPES[tensor.dtype]
    if tensor.tensor_content:
        if len(tensor.tensor_content) != struct.calcsize(element):
            return None
        return float(struct.unpack(element, tensor.tensor_content)[0])
    values = getattr(tensor, field)
    if len(values) != 1:
        return None
    if field == "half_val":  # float16 bit patterns, one per int32
        return float(struct.unpack("<e", struct.pack("<H", values[0] & 0xFFFF))[0])
    return float(values[0])


def _element_count(tensor: Any) -> int:
    count = 1
    for dim in tensor.tensor_shape.dim:
        count *= dim.size
    return count
