"""TFRecord framing, atomic writing and CRC-checked reading, and agreement with TensorFlow's own."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import crc32c
import pytest

from odspec.errors import OdspecError, RecordError
from odspec.records.tfrecord import (
    WriteInfo,
    count_records,
    frame,
    masked_crc,
    read_records,
    write_records,
)

RECORDS = [b"first record", b"", b"\x00" * 1000, bytes(range(256)) * 40]


def offsets(records: list[bytes]) -> list[int]:
    """Byte offset of each framed record in a file of ``records``."""
    found, at = [], 0
    for record in records:
        found.append(at)
        at += 16 + len(record)
    return found


def test_crc_is_castagnoli_masked_as_tfrecord_does() -> None:
    crc = 0xE3069283  # CRC-32C check value of b"123456789"
    assert masked_crc(b"123456789") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc(b"") == 0xA282EAD8


def test_frame_layout() -> None:
    framed = frame(b"abc")
    assert len(framed) == 8 + 4 + 3 + 4
    assert struct.unpack("<Q", framed[:8]) == (3,)
    assert struct.unpack("<I", framed[8:12]) == (masked_crc(framed[:8]),)
    assert framed[12:15] == b"abc"
    assert struct.unpack("<I", framed[15:]) == (masked_crc(b"abc"),)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "train-00000-of-00001.tfrecord"
    info = write_records(path, iter(RECORDS))
    data = path.read_bytes()
    assert data == b"".join(frame(record) for record in RECORDS)
    assert info == WriteInfo(count=4, bytes=len(data), checksum=f"crc32c:{crc32c.crc32c(data):08x}")
    assert list(read_records(path)) == RECORDS
    assert count_records(str(path)) == 4
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_no_records_make_an_empty_file(tmp_path: Path) -> None:
    info = write_records(tmp_path / "empty.tfrecord", [])
    assert info == WriteInfo(count=0, bytes=0, checksum="crc32c:00000000")
    assert list(read_records(tmp_path / "empty.tfrecord")) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "val-00000-of-00001.tfrecord"
    write_records(path, [b"old"])

    def broken() -> Iterator[bytes]:
        yield b"new"
        raise RuntimeError("encoding failed")

    with pytest.raises(RuntimeError, match="encoding failed"):
        write_records(path, broken())
    assert list(read_records(path)) == [b"old"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_rewrite_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.tfrecord"
    write_records(path, [b"old", b"older"])
    write_records(path, [b"new"])
    assert list(read_records(path)) == [b"new"]


def corrupt(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        (0, "length CRC mismatch (corrupt header)"),  # length bytes
        (9, "length CRC mismatch (corrupt header)"),  # length CRC
        (12, "data CRC mismatch (corrupt data)"),  # first data byte
        (-1, "data CRC mismatch (corrupt data)"),  # data CRC (last byte of the record)
    ],
)
def test_flipped_byte_names_file_record_and_offset(tmp_path: Path, where: int, problem: str) -> None:
    path = tmp_path / "train-00000-of-00001.tfrecord"
    write_records(path, RECORDS)
    start = offsets(RECORDS)[3]
    end = start + 16 + len(RECORDS[3])
    corrupt(path, start + where if where >= 0 else end + where)
    seen = []
    with pytest.raises(RecordError) as caught:
        for record in read_records(path):
            seen.append(record)  # noqa: PERF402 - the records read before the error are the point
    assert seen == RECORDS[:3]
    error = caught.value
    assert (error.path, error.index, error.offset) == (str(path), 3, start)
    assert str(error).startswith(f"{path}: record 3 (byte {start}): {problem} (")
    assert "odspec build" in str(error)
    assert isinstance(error, OdspecError)


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        (5, "truncated: 5 bytes where a 12-byte record header should be"),
        (12 + 10, "truncated: the header promises 10240 bytes of data plus a 4-byte CRC, the file has 10 left"),
        (16 + 10240 - 1,
         "truncated: the header promises 10240 bytes of data plus a 4-byte CRC, the file has 10243 left"),
    ],
)
def test_truncated_file_is_detected(tmp_path: Path, cut: int, problem: str) -> None:
    path = tmp_path / "t.tfrecord"
    write_records(path, RECORDS)
    start = offsets(RECORDS)[3]
    path.write_bytes(path.read_bytes()[: start + cut])
    with pytest.raises(RecordError) as caught:
        list(read_records(path))
    assert str(caught.value).startswith(f"{path}: record 3 (byte {start}): {problem}")


@pytest.mark.odapi
def test_tensorflow_writes_the_same_bytes_and_we_read_them(tmp_path: Path) -> None:
    import tensorflow as tf

    theirs = tmp_path / "theirs.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for record in RECORDS:
            writer.write(record)
    ours = tmp_path / "ours.tfrecord"
    write_records(ours, RECORDS)
    assert ours.read_bytes() == theirs.read_bytes()
    assert list(read_records(theirs)) == RECORDS


@pytest.mark.odapi
def test_tensorflow_reads_our_files_and_sees_our_corruption(tmp_path: Path) -> None:
    import tensorflow as tf

    ours = tmp_path / "ours.tfrecord"
    write_records(ours, RECORDS)
    read = [item.numpy() for item in tf.data.TFRecordDataset([str(ours)])]
    assert read == RECORDS
    corrupt(ours, offsets(RECORDS)[3] + 20)
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset([str(ours)]))


def test_a_record_given_in_parts_is_written_as_the_joined_bytes(tmp_path: Path) -> None:
    joined, parted = tmp_path / "joined.tfrecord", tmp_path / "parted.tfrecord"
    records = [b"head" + bytes(range(256)) * 500 + b"tail", b"", b"x"]
    one = write_records(joined, records)
    other = write_records(parted, [(r[: len(r) // 2], b"", r[len(r) // 2:]) for r in records])
    assert joined.read_bytes() == parted.read_bytes()
    assert one == other
    assert list(read_records(parted)) == records
