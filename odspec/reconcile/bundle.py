"""Read one integer variable from a TF2 checkpoint without TensorFlow: the training step.

``ckpt-N`` is numbered by saves, not steps (the OD API saves ``ckpt-1`` at step 0, then
one every ``checkpoint_every_n`` steps, counting again from wherever a resumed run
starts), so the step has to come from the checkpoint itself: the ``step`` variable of
``tf.train.Checkpoint(step=global_step, model=..., optimizer=...)``.

A checkpoint is a tensor bundle: ``ckpt-N.index`` is a LevelDB-format table (written
uncompressed by TensorFlow) from tensor name to a ``BundleEntryProto`` that says which
``ckpt-N.data-SSSSS-of-NNNNN`` shard holds the tensor's bytes and where.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from odspec.errors import BundleFormatError

STEP_KEY = b"step/.ATTRIBUTES/VARIABLE_VALUE"
_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48  # two varint block handles padded to 40 bytes, then the magic number
_TRAILER = 5  # compression type byte + masked crc32c after every block
_NO_COMPRESSION = 0
_DT_INT32, _DT_INT64 = 3, 9


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise BundleFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _block(table: bytes, handle: bytes, pos: int = 0) -> bytes:
    """The block a handle (varint offset, varint size) at ``handle[pos:]`` points to, without its trailer."""
    offset, pos = _varint(handle, pos)
    size, _ = _varint(handle, pos)
    if offset + size + _TRAILER > len(table):
        raise BundleFormatError("block beyond the end of the file")
    if table[offset + size] != _NO_COMPRESSION:
        raise BundleFormatError("compressed block")
    return table[offset:offset + size]


def _entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Key/value pairs of one block; keys share a prefix with the previous key."""
    if len(block) < 4:
        raise BundleFormatError("block too short")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 * (restarts + 1)
    if end < 0:
        raise BundleFormatError("bad restart array")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + length > end:
            raise BundleFormatError("bad block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + length]
        pos += length


def table_items(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Every key/value pair of a LevelDB-format table, in key order."""
    if len(table) < _FOOTER:
        raise BundleFormatError("file too short for a table")
    footer = len(table) - _FOOTER
    (magic,) = struct.unpack_from("<Q", table, len(table) - 8)
    if magic != _MAGIC:
        raise BundleFormatError("not a table (bad magic number)")
    _, pos = _varint(table, footer)  # the metaindex handle: offset...
    _, pos = _varint(table, pos)  # ...and size; TensorFlow writes no meta blocks
    for _, handle in _entries(_block(table, table, pos)):
        yield from _entries(_block(table, handle))


def _fields(message: bytes) -> dict[int, int]:
    """The varint and fixed-width fields of a protobuf message (enough for a BundleEntryProto)."""
    fields: dict[int, int] = {}
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            fields[number], pos = _varint(message, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(message):
                raise BundleFormatError("truncated message")
            fields[number] = int.from_bytes(message[pos:pos + width], "little")
            pos += width
        elif wire == 2:
            length, pos = _varint(message, pos)
            pos += length
        else:
            raise BundleFormatError(f"unexpected wire type {wire}")
    if pos != len(message):
        raise BundleFormatError("truncated message")
    return fields


def read_int_variable(prefix: Path, key: bytes = STEP_KEY) -> int | None:
    """The scalar integer ``key`` of checkpoint ``prefix``; None when the checkpoint has no such tensor.

    Raises OSError when a file cannot be read and BundleFormatError when it is not a bundle.
    """
    index = prefix.with_name(prefix.name + ".index").read_bytes()
    items = dict(table_items(index))
    if key not in items:
        return None
    header, entry = _fields(items.get(b"", b"")), _fields(items[key])
    dtype, shard, offset, size = entry.get(1, 0), entry.get(3, 0), entry.get(4, 0), entry.get(5, 0)
    if header.get(2, 0) != 0:
        raise BundleFormatError("big-endian bundle")
    width = {_DT_INT64: 8, _DT_INT32: 4}.get(dtype)
    if width is None or size != width:
        raise BundleFormatError(f"{key.decode()} is not a scalar integer (dtype {dtype}, {size} bytes)")
    shards = header.get(1, 1)
    data = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{shards:05d}")
    with data.open("rb") as handle:
        handle.seek(offset)
        raw = handle.read(size)
    if len(raw) != size:
        raise BundleFormatError(f"{data.name} ends before {key.decode()}")
    return int.from_bytes(raw, "little", signed=True)
