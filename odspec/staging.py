"""A build folder that is replaced whole or not at all.

Outputs go to a sibling staging folder; files that did not change are hard-linked
from the current build (nothing is rewritten); the staging folder then replaces
the build by two renames. A crash between them leaves ``.<name>.old``, which the
next build puts back. So a reader sees the previous build or the new one, never
half of each, and a failed build leaves the previous one as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from odspec.errors import BuildError
from odspec.folders import is_build_folder
from odspec.io import FileChange, atomic_write


@dataclass
class Staging:
    """The next build of ``target``, file by file; with ``write`` False, a pretend one (``odspec build --dry-run``).

    Both modes decide every file the same way (by comparing bytes with the current
    build) and record the same changes; only a real one writes. A pretend staging
    folder is a private temporary folder (for what must be rendered to be compared,
    e.g. report.png), removed when done: nothing is written in or beside ``target``.
    """

    target: Path
    write: bool = True
    changes: list[FileChange] = field(default_factory=list)
    staged: set[str] = field(default_factory=set)
    _scratch: Path | None = None
    _hashes: dict[str, str] = field(default_factory=dict)  # sha256 of what a pretend staging did not keep

    @property
    def folder(self) -> Path:
        if not self.write:
            assert self._scratch is not None, "open() the staging first"
            return self._scratch
        return self.target.with_name(f".{self.target.name}.staging")

    @property
    def backup(self) -> Path:
        return self.target.with_name(f".{self.target.name}.old")

    @property
    def current(self) -> Path:
        """The build this one is compared with (a pretend one reads an interrupted swap's backup, unrecovered)."""
        return self.target if self.write else current_build(self.target)

    def open(self) -> Staging:
        if not self.write:
            self._scratch = Path(tempfile.mkdtemp(prefix="odspec-dry-run-"))
            return self
        recover(self.target)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        return self

    def put(self, name: str, data: bytes) -> None:
        """Stage ``name``: linked from the current build when identical, written otherwise."""
        current = self.current / name
        if current.is_file() and current.stat().st_size == len(data) and current.read_bytes() == data:
            self.link(name)
            return
        if self.write:
            atomic_write(self.folder / name, data)
        else:
            self._hashes[name] = hashlib.sha256(data).hexdigest()
        self._changed(name)

    def link(self, name: str) -> None:
        """Stage the current build's ``name`` unchanged."""
        if self.write:
            os.link(self.target / name, self.folder / name)
        self.staged.add(name)
        self.changes.append(FileChange(self.target / name, "unchanged"))

    def adopt(self, name: str) -> None:
        """Take ``name``, written straight into the staging folder; identical to the build's means unchanged."""
        staged, current = self.folder / name, self.current / name
        if current.is_file() and _same_bytes(staged, current):
            staged.unlink()
            self.link(name)
            return
        if not self.write:
            self._hashes[name] = file_sha256(staged)
            staged.unlink()
        self._changed(name)

    def rewrite(self, name: str) -> None:
        """A pretend staging's record of a file the real build would write anew (it is not made, to stay fast)."""
        assert not self.write, "a real build writes the file, then adopts it"
        self._changed(name)

    def _changed(self, name: str) -> None:
        self.staged.add(name)
        self.changes.append(FileChange(self.target / name, "updated" if (self.current / name).exists() else "created"))

    def sha256(self, name: str) -> str:
        """The hash of the staged ``name``, whether it was written, linked or (pretending) only compared."""
        if name in self._hashes:
            return self._hashes[name]
        return file_sha256((self.folder if self.write else self.current) / name)

    def removed(self) -> list[Path]:
        if not self.current.is_dir():
            return []
        return sorted(self.target / p.name for p in self.current.iterdir() if p.name not in self.staged)

    def commit(self) -> bool:
        """Replace the build with the staging folder; False (and nothing touched) when nothing changed.

        The files the new build no longer has are recorded as removed. A pretend
        staging touches nothing either way: it answers whether the real one would replace the build.
        """
        gone = self.removed()
        self.changes.extend(FileChange(path, "removed") for path in gone)
        if all(c.change == "unchanged" for c in self.changes) or not self.write:
            self.abandon()
            return not all(c.change == "unchanged" for c in self.changes)
        flush_folder(self.folder)  # every staged byte on disk before the swap makes it the build
        if self.target.exists():
            os.replace(self.target, self.backup)
        os.replace(self.folder, self.target)
        shutil.rmtree(self.backup, ignore_errors=True)
        return True

    def abandon(self) -> None:
        if self.write or self._scratch is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def current_build(target: Path) -> Path:
    """The folder a build of ``target`` starts from, without recovering: an interrupted swap's backup,
    else ``target``."""
    backup = target.with_name(f".{target.name}.old")
    if not target.exists() and backup.is_dir() and is_build_folder(backup):
        return backup
    return target


def flush_folder(folder: Path) -> None:
    """fsync every file in ``folder`` and the folder itself: this build's bytes only.

    (``os.sync`` would also wait for every other program's unwritten data on the machine.)
    Files hard-linked from the previous build have nothing unwritten, so they cost nothing.
    """
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            descriptor = os.open(entry.path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, read in blocks (the one file hash: the build and the lock file use it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block = fa.read(1 << 20)
            if block != fb.read(1 << 20):
                return False
            if not block:
                return True


def recover(target: Path) -> None:
    """Undo a swap that a crash interrupted: the old build comes back (only ever a folder odspec built)."""
    backup = target.with_name(f".{target.name}.old")
    if backup.is_dir() and is_build_folder(backup):
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.replace(backup, target)


def work_folder(target: Path) -> Path:
    """Scratch space of a build of ``target``, beside it (not in /tmp), so the next build finds what a kill left."""
    return target.with_name(f".{target.name}.work")


def remove_leftovers(target: Path) -> None:
    """Delete the staging and work folders a killed build of ``target`` left; only call with the lock held."""
    for leftover in (target.with_name(f".{target.name}.staging"), work_folder(target)):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def build_paths(target: Path) -> tuple[Path, ...]:
    """Every path a build of ``target`` writes: the folder, and its staging, backup, work folder and lock beside it."""
    staged = Staging(target)
    return target, staged.folder, staged.backup, work_folder(target), _lock_path(target)


def _open_lock(target: Path) -> int:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return os.open(_lock_path(target), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as failed:
        raise BuildError(
            f"cannot write the build folder {target}: {failed.strerror} ({target.parent})",
            "build into a folder you can write to, with --out",
        ) from None


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip() or "?"


def _still_the_lock(fd: int, target: Path) -> bool:
    """The holder before us deletes the lock file when done: a lock on a deleted file guards nothing."""
    try:
        return os.stat(_lock_path(target)).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _acquire(target: Path, *, wait: bool, told: list[bool]) -> int | None:
    """An fd holding the lock file's flock, or None when it is busy and ``wait`` is False."""
    while True:
        fd = _open_lock(target)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                os.close(fd)
                return None
            if not told:
                print(f"waiting for another odspec build of {target} (pid {_holder(fd)})…", file=sys.stderr, flush=True)
                told.append(True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _still_the_lock(fd, target):
            return fd
        os.close(fd)


@contextlib.contextmanager
def build_lock(target: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold ``.<name>.lock`` beside ``target`` for a whole build: two builds of one folder take turns.

    The file is deleted by its holder when done, so no lock file stays behind.
    """
    fd = _acquire(target, wait=True, told=[]) if wait else _acquire(target, wait=False, told=[])
    if fd is None:
        fd = _open_lock(target)
        pid = _holder(fd)
        os.close(fd)
        raise BuildError(
            f"another odspec build of {target} is running (pid {pid})",
            "wait for it to finish, or leave out --no-wait to wait for it",
        )
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        _release(fd, target)


def _release(fd: int, target: Path) -> None:
    try:
        _lock_path(target).unlink(missing_ok=True)
    finally:
        os.close(fd)


@contextlib.contextmanager
def watch_build_lock(target: Path, *, wait: bool = True) -> Iterator[None]:
    """A dry run's lock: waits for a build of ``target`` that is running, creates nothing.

    A build's lock file exists only while it runs, so without one there is nothing
    to wait for; with one, a shared flock on it (opened read-only) waits for its holder.
    """
    try:
        fd = os.open(_lock_path(target), os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise BuildError(
                    f"another odspec build of {target} is running (pid {_holder(fd)})",
                    "wait for it to finish, or leave out --no-wait to wait for it",
                ) from None
            print(f"waiting for another odspec build of {target} (pid {_holder(fd)})…", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_build_lock(target: Path) -> Iterator[bool]:
    """``build_lock`` without waiting: False when another build holds it (the caller takes the slow path)."""
    try:
        fd = _acquire(target, wait=False, told=[])
    except BuildError:
        fd = None
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        _release(fd, target)


def out_of_space(failed: OSError) -> bool:
    return failed.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
