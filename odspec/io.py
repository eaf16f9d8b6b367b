"""Writing outputs atomically, and telling what a write would change."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Change = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class FileChange:
    path: Path
    change: Change


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def planned_change(path: Path, data: bytes) -> Change:
    if not path.exists():
        return "created"
    return "unchanged" if path.read_bytes() == data else "updated"
