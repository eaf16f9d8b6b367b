"""A build folder that is replaced whole or not at all.

Outputs go to a sibling staging folder; files that did not change are hard-linked
from the current build (nothing is rewritten); the staging folder then replaces
the build by two renames. A crash between them leaves ``.<name>.old``, which the
next build puts back. So a reader sees the previous build or the new one, never
half of each, and a failed build leaves the previous one as it was.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from odspec.io import FileChange, atomic_write


@dataclass
class Staging:
    target: Path
    changes: list[FileChange] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.target.with_name(f".{self.target.name}.staging")

    @property
    def backup(self) -> Path:
        return self.target.with_name(f".{self.target.name}.old")

    def open(self) -> Staging:
        recover(self.target)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        return self

    def put(self, name: str, data: bytes) -> None:
        """Stage ``name``: linked from the current build when identical, written otherwise."""
        current = self.target / name
        if current.is_file() and current.stat().st_size == len(data) and current.read_bytes() == data:
            self.link(name)
            return
        atomic_write(self.folder / name, data)
        self.changes.append(FileChange(current, "updated" if current.exists() else "created"))

    def link(self, name: str) -> None:
        """Stage the current build's ``name`` unchanged."""
        os.link(self.target / name, self.folder / name)
        self.changes.append(FileChange(self.target / name, "unchanged"))

    def adopt(self, name: str) -> None:
        """Take ``name``, written straight into the staging folder; identical to the build's means unchanged."""
        staged, current = self.folder / name, self.target / name
        if current.is_file() and _same_bytes(staged, current):
            staged.unlink()
            self.link(name)
            return
        self.changes.append(FileChange(current, "updated" if current.exists() else "created"))

    def removed(self) -> list[Path]:
        if not self.target.is_dir():
            return []
        staged = {p.name for p in self.folder.iterdir()}
        return sorted(p for p in self.target.iterdir() if p.name not in staged)

    def commit(self) -> bool:
        """Replace the build with the staging folder; False (and nothing touched) when nothing changed."""
        if all(c.change == "unchanged" for c in self.changes) and not self.removed():
            self.abandon()
            return False
        if hasattr(os, "sync"):
            os.sync()  # every staged byte on disk before the swap makes it the build
        if self.target.exists():
            os.replace(self.target, self.backup)
        os.replace(self.folder, self.target)
        shutil.rmtree(self.backup, ignore_errors=True)
        return True

    def abandon(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


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
    """Undo a swap that a crash interrupted: the old build comes back."""
    backup = target.with_name(f".{target.name}.old")
    if backup.is_dir():
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.replace(backup, target)
