"""Rows of plain values spilled to a file while a build runs, read back in order.

A build keeps one row per image here rather than one object per image in
memory, so its memory does not grow with the dataset. Rows are pickled tuples
(fast, exact for floats); a reader needs only the file and an offset, so a
worker process that did not create the file can stream a range of it.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROTOCOL = pickle.HIGHEST_PROTOCOL


class RowSpill:
    """An append-only file of rows; :meth:`append` returns each row's offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.size = 0
        self._out = path.open("wb")

    def append(self, row: Any) -> int:
        data = pickle.dumps(row, protocol=PROTOCOL)
        offset = self.size
        self._out.write(data)
        self.size += len(data)
        self.count += 1
        return offset

    def flush(self) -> None:
        """Make every row appended so far readable from the file (by another process too)."""
        if not self._out.closed:
            self._out.flush()

    def close(self) -> None:
        """Flush; rows can be read once closed (appending after that is an error)."""
        self._out.close()

    def __iter__(self) -> Iterator[Any]:
        self.close()
        return read_rows(self.path, 0, self.count)


def read_rows(path: Path | str, start: int, count: int) -> Iterator[Any]:
    """``count`` rows from byte ``start`` of a spill file."""
    with open(path, "rb") as handle:
        handle.seek(start)
        for _ in range(count):
            yield pickle.load(handle)
