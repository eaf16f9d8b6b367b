"""Writing outputs: atomically, only when the bytes change, reporting what happened."""

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


def write_files(folder: Path, files: dict[str, bytes], *, dry_run: bool = False) -> list[FileChange]:
    """Write each file that differs; with ``dry_run`` only report what would change."""
    changes = []
    for name, data in files.items():
        path = folder / name
        change = planned_change(path, data)
        if change != "unchanged" and not dry_run:
            atomic_write(path, data)
        changes.append(FileChange(path, change))
    return changes
