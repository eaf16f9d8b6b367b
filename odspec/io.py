"""Writing outputs atomically, telling what a write would change, and knowing a file unchanged by its identity."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Change = Literal["created", "updated", "unchanged", "removed"]


@dataclass(frozen=True)
class FileChange:
    path: Path
    change: Change


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")


def url_scheme(path: str | Path) -> str | None:
    """The scheme of a path written as a URL (``gs://bucket/x`` -> ``gs``; also after pathlib folded ``//`` to ``/``).

    odspec reads and writes through the local filesystem only (atomic renames, locks, fsync): a URL would be
    taken as a relative folder named ``gs:``, so every caller refuses it instead. Windows drives (``C:/``) are
    not URLs.
    """
    found = _URL.match(os.fspath(path))
    return found.group(1) if found and len(found.group(1)) > 1 else None


URL_HINT = ("odspec works on filesystem paths: mount the bucket and give its mount path (Cloud Storage FUSE: "
            "/gcs/BUCKET/..., as on Vertex AI; s3fs or a CSI driver elsewhere)")


def file_identity(path: str | Path) -> list[int] | None:
    """``[size, mtime_ns, inode]``, None when it cannot be read: equal means the very same file, unchanged."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return stat_identity(info)


def stat_identity(info: os.stat_result) -> list[int]:
    """:func:`file_identity` from a ``stat`` result the caller already has."""
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file (descriptor, name) in ``path``'s folder, to be renamed over ``path`` once complete;
    named as :func:`partial_write_pattern` says, so a write killed half-way can be found."""
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def partial_write_pattern(name: str) -> str:
    """The glob that matches the temporary files :func:`temporary_beside` makes for a file called ``name``."""
    return f".{name}.*.tmp"


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        follow_umask(fd)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def partial_writes(path: Path) -> list[Path]:
    """The temporary files that :func:`atomic_write` (and ``write_records``) leave beside ``path`` when killed
    mid-write."""
    return sorted(path.parent.glob(partial_write_pattern(path.name)))


def follow_umask(fd: int) -> None:
    """mkstemp makes files 0600; an output gets the mode any other file of the user's would (0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


def replace_dir(new: Path, target: Path, aside_prefix: str | None = None) -> None:
    """Put folder ``new`` at ``target`` by renames; an existing ``target`` is moved aside first, deleted after.

    The old folder waits in ``<parent>/<aside_prefix>XXXX/<target name>`` (default prefix
    ``.<name>.old-``), so a crash between the renames leaves it where a recovery can find it.
    """
    import shutil
    import tempfile

    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=aside_prefix or f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
