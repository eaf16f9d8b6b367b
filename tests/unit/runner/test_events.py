"""Scalars from TensorBoard event files: hand-built bytes (fast, no TensorFlow) and files TensorFlow wrote (odapi)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

from odspec.errors import RecordError
from odspec.odapi.protos import is_repeated
from odspec.records.tfrecord import frame, write_records
from odspec.runner import events
from odspec.runner.events import event_files, read_scalars

# Protobuf wire encoding, written out by hand so these tests check our descriptors
# against the field numbers in TensorFlow's .proto files, not against themselves.


def varint(number: int) -> bytes:
    number &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def field(number: int, data: bytes | float, kind: str = "bytes") -> bytes:
    """One field: ``kind`` is bytes (length-delimited), varint, float (fixed32) or double (fixed64)."""
    if kind == "varint":
        return varint(number << 3) + varint(int(data))
    if kind == "float":
        return varint(number << 3 | 5) + struct.pack("<f", data)
    if kind == "double":
        return varint(number << 3 | 1) + struct.pack("<d", data)
    assert isinstance(data, bytes)
    return varint(number << 3 | 2) + varint(len(data)) + data


def event(step: int, *values: bytes, wall_time: float = 1.5) -> bytes:
    """An Event (wall_time=1, step=2) holding a Summary (5) of Summary.Values (1)."""
    summary = b"".join(field(1, value) for value in values)
    return field(1, wall_time, "double") + field(2, step, "varint") + field(5, summary)


def simple(tag: str, number: float) -> bytes:
    """A Summary.Value with tag (1) and simple_value (2), as TF1 summaries write."""
    return field(1, tag.encode()) + field(2, number, "float")


def metadata(plugin: str = "scalars", data_class: int | None = None) -> bytes:
    """SummaryMetadata: plugin_data (1) {plugin_name (1)}, data_class (4)."""
    body = field(1, field(1, plugin.encode())) if plugin else b""
    return body + (field(4, data_class, "varint") if data_class is not None else b"")


def tensor(dtype: int = 1, content: bytes | None = None, dims: tuple[int, ...] = (), **typed: bytes) -> bytes:
    """TensorProto: dtype (1), tensor_shape (2) {dim (2) {size (1)}}, tensor_content (4), typed values by number."""
    shape = b"".join(field(2, field(1, size, "varint")) for size in dims)
    body = field(1, dtype, "varint") + field(2, shape)
    if content is not None:
        body += field(4, content)
    numbers = {"half_val": 13, "float_val": 5, "double_val": 6, "int_val": 7, "int64_val": 10}
    return body + b"".join(field(numbers[name], packed) for name, packed in typed.items())


def tensor_value(tag: str, tensor_bytes: bytes, meta: bytes | None = None) -> bytes:
    """A Summary.Value with tag (1), metadata (9) and tensor (8), as TF2's tf.summary.scalar writes."""
    return field(1, tag.encode()) + (field(9, meta) if meta is not None else b"") + field(8, tensor_bytes)


FILE_VERSION = field(1, 1700000000.0, "double") + field(3, b"brain.Event:2")


def write_events(path: Path, *records: bytes) -> Path:
    write_records(path, [FILE_VERSION, *records], durable=False)
    return path


def f32(number: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", number))[0])


def test_simple_values_by_tag_and_step(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1700000000.host", event(0, simple("mAP", 0.25)),
                        event(100, simple("mAP", 0.5), simple("loss", 2.0)), event(200, simple("mAP", 0.75)))
    assert read_scalars(path) == {"loss": [(100, 2.0)], "mAP": [(0, 0.25), (100, 0.5), (200, 0.75)]}


def test_tf2_scalar_tensors_in_every_encoding(tmp_path: Path) -> None:
    meta = metadata()
    write_events(
        tmp_path / "events.out.tfevents.1700000000.host.1.0.v2",
        event(1, tensor_value("content_f32", tensor(1, struct.pack("<f", 0.1)), meta)),
        event(1, tensor_value("float_val", tensor(1, float_val=struct.pack("<f", 0.2)), meta)),
        event(1, tensor_value("content_f64", tensor(2, struct.pack("<d", 0.3)), meta)),
        event(1, tensor_value("double_val", tensor(2, double_val=struct.pack("<d", 0.4)), meta)),
        event(1, tensor_value("content_f16", tensor(19, struct.pack("<e", 0.5)), meta)),
        event(1, tensor_value("half_val", tensor(19, half_val=varint(0x3C00)), meta)),  # 1.0 in float16
        event(1, tensor_value("int_val", tensor(3, int_val=varint(-7)), meta)),
        event(1, tensor_value("int64_val", tensor(9, int64_val=varint(2**40)), meta)),
        event(1, tensor_value("shape_1x1", tensor(1, struct.pack("<f", 6.0), dims=(1, 1)), meta)),
    )
    assert read_scalars(tmp_path) == {
        "content_f16": [(1, 0.5)], "content_f32": [(1, f32(0.1))], "content_f64": [(1, 0.3)], "double_val": [(1, 0.4)],
        "float_val": [(1, f32(0.2))], "half_val": [(1, 1.0)], "int64_val": [(1, float(2**40))], "int_val": [(1, -7.0)],
        "shape_1x1": [(1, 6.0)],
    }


def test_metadata_written_only_with_a_tags_first_value_still_marks_it_scalar(tmp_path: Path) -> None:
    # TF1's FileWriter strips SummaryMetadata from every value of a tag after the first.
    write_events(
        tmp_path / "events.out.tfevents.1700000000.host",
        event(1, tensor_value("mAP", tensor(1, struct.pack("<f", 0.5)), metadata())),
        event(2, tensor_value("mAP", tensor(1, struct.pack("<f", 0.75)))),
        event(3, tensor_value("classes", tensor(1, struct.pack("<f", 1.0)), metadata(data_class=1, plugin=""))),
        event(4, tensor_value("classes", tensor(1, struct.pack("<f", 2.0)))),
    )
    assert read_scalars(tmp_path) == {"classes": [(3, 1.0), (4, 2.0)], "mAP": [(1, 0.5), (2, 0.75)]}


def test_values_that_are_not_scalars_are_skipped(tmp_path: Path) -> None:
    four = struct.pack("<f", 4.0)
    write_events(
        tmp_path / "events.out.tfevents.1700000000.host",
        event(1, tensor_value("image", tensor(7, b""), metadata("images"))),  # DT_STRING
        event(1, tensor_value("histogram", tensor(1, four * 2, dims=(2,)), metadata("histograms"))),
        event(1, tensor_value("vector", tensor(1, four * 2, dims=(2,)), metadata())),
        event(1, tensor_value("no_metadata_ever", tensor(1, four))),
        event(1, tensor_value("wrong_plugin", tensor(1, four), metadata("text"))),
        event(1, tensor_value("bool", tensor(10, b"\x01"), metadata())),
        event(1, tensor_value("short_content", tensor(1, b"\x00\x00"), metadata())),
        event(1, field(1, b"old_image") + field(4, field(1, b"\x01"))),  # Summary.Value.image (4)
        event(1, field(1, b"old_histo") + field(5, field(1, 0.0, "double"))),  # Summary.Value.histo (5)
        event(1, simple("kept", 1.0)),
    )
    assert read_scalars(tmp_path) == {"kept": [(1, 1.0)]}


def test_later_writes_win_within_a_file_and_across_files_in_name_order(tmp_path: Path) -> None:
    # A run resumed from the checkpoint at step 100 redoes step 200 into a new file.
    write_events(tmp_path / "events.out.tfevents.1700000000.host.10.0.v2",
                 event(100, simple("loss", 3.0)), event(200, simple("loss", 2.0)), event(200, simple("loss", 2.5)))
    write_events(tmp_path / "events.out.tfevents.1700000500.host.11.0.v2",
                 event(200, simple("loss", 1.5)), event(300, simple("loss", 1.0)))
    (tmp_path / "notes.txt").write_text("not an event file")
    write_events(tmp_path / "sub" / "events.out.tfevents.1700000900.host.12.0.v2", event(400, simple("loss", 0.0)))
    assert read_scalars(tmp_path) == {"loss": [(100, 3.0), (200, 1.5), (300, 1.0)]}
    assert [path.name for path in event_files(tmp_path)] == ["events.out.tfevents.1700000000.host.10.0.v2",
                                                             "events.out.tfevents.1700000500.host.11.0.v2"]


def test_steps_come_out_sorted_even_if_written_out_of_order(tmp_path: Path) -> None:
    write_events(tmp_path / "events.out.tfevents.1", event(300, simple("a", 3.0)), event(100, simple("a", 1.0)))
    assert read_scalars(tmp_path) == {"a": [(100, 1.0), (300, 3.0)]}


def test_a_file_still_being_written_is_read_up_to_its_last_complete_record(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1", event(100, simple("a", 1.0)))
    whole = path.read_bytes()
    last = frame(event(200, simple("a", 2.0)))
    for cut in range(len(last)):  # every point a writer can be interrupted, header and CRCs included
        path.write_bytes(whole + last[:cut])
        assert read_scalars(path) == {"a": [(100, 1.0)]}, cut
    path.write_bytes(whole + last)
    assert read_scalars(path) == {"a": [(100, 1.0), (200, 2.0)]}


def test_a_damaged_record_raises_naming_the_file_and_record(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1", event(100, simple("a", 1.0)), event(200, simple("a", 2.0)))
    data = bytearray(path.read_bytes())
    second = 16 + len(FILE_VERSION) + 16 + len(event(100, simple("a", 1.0)))
    data[second + 14] ^= 0xFF  # inside the third record's data
    path.write_bytes(bytes(data))
    with pytest.raises(RecordError) as caught:
        read_scalars(tmp_path)
    assert str(caught.value) == (f"{path}: record 2 (byte {second}): data CRC mismatch (corrupt data) "
                                 "(move the damaged event file out of the folder to read the others; "
                                 "its scalars are lost)")


def test_a_record_that_is_not_an_event_raises(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1", event(100, simple("a", 1.0)), b"\xff\xff\xff")
    offset = 16 + len(FILE_VERSION) + 16 + len(event(100, simple("a", 1.0)))
    with pytest.raises(RecordError, match=rf"record 2 \(byte {offset}\): not a TensorBoard event"):
        read_scalars(path)


def test_no_folder_or_no_event_files_means_no_scalars(tmp_path: Path) -> None:
    assert read_scalars(tmp_path / "eval") == {}
    assert read_scalars(tmp_path) == {}
    write_events(tmp_path / "events.out.tfevents.1")
    assert read_scalars(tmp_path) == {}


def test_descriptors_match_tensorboards_copy_of_the_tensorflow_protos() -> None:
    """Field numbers, wire types and repetition agree with tensorboard's vendored protos (no TensorFlow needed)."""
    proto = pytest.importorskip("tensorboard.compat.proto.event_pb2")
    summary_pb2 = pytest.importorskip("tensorboard.compat.proto.summary_pb2")
    tensor_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_pb2")
    shape_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_shape_pb2")
    theirs = {"Event": proto.Event, "Summary": summary_pb2.Summary, "SummaryValue": summary_pb2.Summary.Value,
              "SummaryMetadata": summary_pb2.SummaryMetadata, "PluginData": summary_pb2.SummaryMetadata.PluginData,
              "TensorProto": tensor_pb2.TensorProto, "TensorShapeProto": shape_pb2.TensorShapeProto,
              "TensorShapeDim": shape_pb2.TensorShapeProto.Dim}
    pool = events.Event.DESCRIPTOR.file.pool
    for name, their_class in theirs.items():
        ours = pool.FindMessageTypeByName(f"tensorflow.{name}")
        for mine in ours.fields:
            other = their_class.DESCRIPTOR.fields_by_name[mine.name]
            assert (mine.number, wire_type(mine), is_repeated(mine)) == (other.number, wire_type(other), is_repeated(other)), mine
            assert (mine.containing_oneof is None) == (other.containing_oneof is None), mine
    assert pool is not descriptor_pool.Default()


def wire_type(descriptor: object) -> str:
    kind = descriptor.type  # type: ignore[attr-defined]
    varints = {3, 4, 5, 8, 13, 14, 17, 18}  # int64 uint64 int32 bool uint32 enum sint32 sint64
    if kind in varints:
        return "varint"
    return {1: "fixed64", 2: "fixed32", 9: "len", 11: "len", 12: "len"}[kind]


def test_importing_the_runner_helpers_does_not_import_tensorflow() -> None:
    code = ("import sys, odspec.runner.events, odspec.runner.metrics, odspec.runner.early_stopping; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


# --- files written by TensorFlow itself -------------------------------------------------------------


@pytest.mark.odapi
def test_tf2_summary_scalars_as_the_od_api_writes_them(tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path / "eval"))
    with writer.as_default():
        for step, value in ((0, 0.004), (100, 0.24), (200, 0.58)):
            tf.summary.scalar("DetectionBoxes_Precision/mAP", value, step=step)
            tf.summary.scalar("DetectionBoxes_Recall/AR@100 (small)", -1.0, step=step)
            tf.summary.scalar("Loss/total_loss", tf.constant(1.5 - value, tf.float64), step=tf.constant(step, tf.int64))
            tf.summary.scalar("count", 3, step=step)
            tf.summary.histogram("weights", np.arange(5.0), step=step)
            tf.summary.image("images", np.zeros((1, 4, 4, 3), np.float32), step=step)
            tf.summary.text("note", "hello", step=step)
    writer.close()
    assert read_scalars(tmp_path / "eval") == {
        "DetectionBoxes_Precision/mAP": [(0, f32(0.004)), (100, f32(0.24)), (200, f32(0.58))],
        "DetectionBoxes_Recall/AR@100 (small)": [(0, -1.0), (100, -1.0), (200, -1.0)],
        "Loss/total_loss": [(0, f32(1.496)), (100, f32(1.26)), (200, f32(1.5 - 0.58))],
        "count": [(0, 3.0), (100, 3.0), (200, 3.0)],
    }
    assert read_scalars(tmp_path / "eval") == tensorflows_own_reading(tmp_path / "eval")


@pytest.mark.odapi
def test_tf1_file_writer_simple_values_and_tensor_scalars(tmp_path: Path) -> None:
    import tensorflow as tf
    from tensorboard.summary.v1 import scalar_pb

    graph = tf.Graph()
    with graph.as_default():
        fed = tf.compat.v1.placeholder(tf.float32)
        summary_op = tf.compat.v1.summary.scalar("loss", fed)
        with tf.compat.v1.Session() as session:
            writer = tf.compat.v1.summary.FileWriter(str(tmp_path))
            for step in (10, 20, 30):
                writer.add_summary(session.run(summary_op, {fed: step / 4}), step)
                writer.add_summary(scalar_pb("mAP", step / 100), step)  # a tensor value, tagged mAP/scalar_summary
            writer.close()
    (path,) = event_files(tmp_path)
    with_metadata = [value.HasField("metadata") for record in tf.compat.v1.train.summary_iterator(str(path))
                     for value in record.summary.value if value.tag == "mAP/scalar_summary"]
    assert with_metadata == [True, False, False]  # what makes remembering a tag's plugin necessary
    assert read_scalars(tmp_path) == {"loss": [(10, 2.5), (20, 5.0), (30, 7.5)],
                                      "mAP/scalar_summary": [(10, f32(0.1)), (20, f32(0.2)), (30, f32(0.3))]}
    assert read_scalars(tmp_path) == tensorflows_own_reading(tmp_path)


@pytest.mark.odapi
def test_a_file_tensorflow_is_still_writing(tmp_path: Path) -> None:
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        tf.summary.scalar("loss", 2.0, step=100)
        writer.flush()
        assert read_scalars(tmp_path) == {"loss": [(100, 2.0)]}
        tf.summary.scalar("loss", 1.0, step=200)
        writer.flush()
        (path,) = event_files(tmp_path)
        assert read_scalars(tmp_path) == {"loss": [(100, 2.0), (200, 1.0)]}
        whole = path.read_bytes()
        path.write_bytes(whole[:-3])  # as if the last flush had been cut short
        assert read_scalars(tmp_path) == {"loss": [(100, 2.0)]}
    writer.close()


def tensorflows_own_reading(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The same scalars read with TensorFlow's summary_iterator and make_ndarray."""
    import tensorflow as tf

    found: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        plugins: dict[str, str] = {}
        for record in tf.compat.v1.train.summary_iterator(str(path)):
            for value in record.summary.value:
                if value.HasField("metadata"):
                    plugins[value.tag] = value.metadata.plugin_data.plugin_name
                if value.HasField("simple_value"):
                    found.setdefault(value.tag, {})[record.step] = float(value.simple_value)
                elif value.HasField("tensor") and plugins.get(value.tag) == "scalars":
                    found.setdefault(value.tag, {})[record.step] = float(tf.make_ndarray(value.tensor))
    return {tag: sorted(steps.items()) for tag, steps in sorted(found.items())}
