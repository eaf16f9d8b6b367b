"""TFRecord files written and read without TensorFlow.

A TFRecord file is a sequence of records, each framed as: the data length as a
little-endian uint64, the masked CRC-32C of those 8 bytes, the data, and the
masked CRC-32C of the data (tensorflow/core/lib/io/record_writer.cc). The mask
keeps a CRC of data that itself holds CRCs from looking like one. Files are
written atomically, so a reader (or an interrupted build) never sees half a shard.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import crc32c

from odspec.errors import RecordError

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER = _LENGTH.size + _CRC.size
_MASK_DELTA = 0xA282EAD8
Record = bytes | Sequence[bytes]  # a record's bytes, or the parts that make it up in order
_REBUILD_HINT = "the file was damaged after it was written; delete it and run `odspec build` again"


def masked_crc(data: bytes | memoryview) -> int:
    """CRC-32C of ``data``, rotated right by 15 bits plus a constant, as TFRecord stores it."""
    return _mask(crc32c.crc32c(data))


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _header(length: int) -> bytes:
    size = _LENGTH.pack(length)
    return size + _CRC.pack(masked_crc(size))


def frame(record: bytes) -> bytes:
    """``record`` with its TFRecord length header and CRC footer, ready to append to a file."""
    return _header(len(record)) + record + _CRC.pack(masked_crc(record))


@dataclass(frozen=True)
class WriteInfo:
    """What :func:`write_records` wrote: the number of records, the file size and a checksum of the file.

    The checksum is CRC-32C (hardware-fast) over the whole file, as ``crc32c:<hex>``: a
    shard is ~100 MB and a cryptographic hash of every shard would cost more than
    writing it; each record inside carries its own CRCs too.
    """

    count: int
    bytes: int
    checksum: str


def write_records(path: str | Path, records: Iterable[Record], *, durable: bool = True) -> WriteInfo:
    """Write ``records`` as one TFRecord file, replacing ``path`` atomically.

    A record is its bytes, or a sequence of byte strings that make it up (written as they are, not joined).
    Records are consumed one at a time, so a generator keeps memory flat. The
    data goes to a temporary file in the same folder, is fsynced and renamed over
    ``path``: readers see the old file or the complete new one, never a part, and
    an exception (or Ctrl-C) leaves no temporary file behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    from odspec.io import follow_umask, temporary_beside

    fd, tmp = temporary_beside(target)
    try:
        follow_umask(fd)
        with os.fdopen(fd, "wb", buffering=0) as handle:
            info = _write_framed(handle, records)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            else:
                start_writeback(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(target.parent)
    return info


def start_writeback(fd: int) -> None:
    """Have the kernel start writing the file's pages to disk now, without waiting for it (on Linux,
    POSIX_FADV_DONTNEED starts write-back of the dirty pages and drops the clean ones), so that the fsync that
    makes the file durable later finds less to write. Where there is no such call, nothing happens."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _write_framed(handle: BinaryIO, records: Iterable[Record]) -> WriteInfo:
    checksum = 0
    count = size = 0
    for record in records:
        parts = (record,) if isinstance(record, bytes) else tuple(record)
        crc = length = 0
        for part in parts:
            crc = crc32c.crc32c(part, crc)
            length += len(part)
        pieces = (_header(length), *parts, _CRC.pack(_mask(crc)))
        for piece in pieces:
            checksum = crc32c.crc32c(piece, checksum)
        _write_all(handle, pieces)
        count += 1
        size += _HEADER + length + _CRC.size
    return WriteInfo(count=count, bytes=size, checksum=f"crc32c:{checksum:08x}")


def _write_all(handle: BinaryIO, pieces: Sequence[bytes]) -> None:
    """The pieces one after the other, in one system call where there is ``writev`` (no copy of a record)."""
    if not hasattr(os, "writev"):
        for piece in pieces:
            handle.write(piece)
        return
    views = [memoryview(piece) for piece in pieces]
    while views:
        written = os.writev(handle.fileno(), views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; Windows cannot open folders)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: str | Path) -> Iterator[bytes]:
    """Every record's data in ``path``, checking both CRCs of each.

    Raises :class:`RecordError` naming the file, the record index and its byte
    offset at the first corrupt or truncated record; records before it have
    already been yielded.
    """
    shown = str(path)
    with open(path, "rb") as handle:
        index = offset = 0
        while True:
            header = handle.read(_HEADER)
            if not header:
                return
            length = _read_length(shown, index, offset, header)
            data = handle.read(length)
            footer = handle.read(_CRC.size)
            if len(footer) < _CRC.size:
                left = len(data) + len(footer)
                raise RecordError(shown, index, offset, f"truncated: the header promises {length} bytes of data "
                                  f"plus a 4-byte CRC, the file has {left} left", _REBUILD_HINT)
            if _CRC.unpack(footer)[0] != masked_crc(data):
                raise RecordError(shown, index, offset, "data CRC mismatch (corrupt data)", _REBUILD_HINT)
            yield data
            index += 1
            offset += _HEADER + length + _CRC.size


def _read_length(shown: str, index: int, offset: int, header: bytes) -> int:
    if len(header) < _HEADER:
        raise RecordError(shown, index, offset, f"truncated: {len(header)} bytes where a {_HEADER}-byte "
                          "record header should be", _REBUILD_HINT)
    (length,) = _LENGTH.unpack_from(header)
    if _CRC.unpack_from(header, _LENGTH.size)[0] != masked_crc(header[: _LENGTH.size]):
        raise RecordError(shown, index, offset, "length CRC mismatch (corrupt header)", _REBUILD_HINT)
    return int(length)


def count_records(path: str | Path) -> int:
    """Number of records in ``path``, verifying every CRC (a full read)."""
    return sum(1 for _ in read_records(path))
