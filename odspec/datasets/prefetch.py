"""Inspecting the images under a dataset's root while its annotations are still being read.

A build cannot know which images it needs before it has read the annotations
(a COCO file of 10,000 images takes about a second), and the worker pool would
sit idle meanwhile. So the build first lists the image files under the root
that the cache cannot answer for and sends them to the pool at once; when the
annotations are read, every needed image that was listed takes its inspection
from here (results arrive in path order) and the others are inspected as
before. An image that is listed but not annotated costs one wasted inspection,
never a wrong answer: the inspection of a path is the same whoever asks for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from odspec.datasets.images import ImageInfo
from odspec.datasets.paths import IMAGE_SUFFIXES

Inspect = Callable[[tuple[str, str, bool]], ImageInfo]


def image_files(root: Path, most: int = 200_000) -> list[str] | None:
    """Image files below ``root`` (posix paths relative to it, by suffix, any case), sorted; folders not followed
    through symbolic links, hidden folders skipped (an annotated image there is simply inspected later).
    ``None`` when the tree holds more than ``most`` entries (a root far larger than any dataset: not worth it)."""
    found: list[str] = []
    seen = 0
    for folder, subfolders, names in os.walk(root):
        seen += len(subfolders) + len(names)
        if seen > most:
            return None
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else Path(rel).as_posix() + "/"
        found.extend(prefix + n for n in names if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES)
    found.sort()
    return found


class Prefetch:
    """Inspections of ``rels`` (sorted, distinct) started now on ``pool``; taken in path order with :meth:`take`.

    The pool's task thread draws the tasks lazily (a pipe's worth ahead), so once
    :meth:`need` names the images the annotations use, the listed images that
    are not among them are never sent.
    """

    def __init__(self, inspect: Inspect, root: Path, rels: Sequence[str], verify: bool, pool: Any) -> None:
        self.rels = rels
        self.verify = verify
        self._lock = threading.Lock()
        self._needed: frozenset[str] | None = None
        self._drawn = 0  # tasks the pool has drawn: every rel before this index was sent
        self._cut = len(rels)  # from this index on, only needed rels are sent
        self._next = 0
        self._results: Iterator[ImageInfo] = pool.imap(inspect, self._tasks(str(root)), chunksize=32)

    def _tasks(self, root: str) -> Iterator[tuple[str, str, bool]]:
        for index, rel in enumerate(self.rels):
            with self._lock:
                self._drawn = index + 1
                if self._needed is not None and rel not in self._needed:
                    continue
            yield root, rel, self.verify

    def need(self, rels: Iterable[str]) -> None:
        """Only these of the listed images are still worth inspecting."""
        with self._lock:
            self._needed = frozenset(rels)
            self._cut = self._drawn

    def _sent(self, index: int) -> bool:
        return index < self._cut or (self._needed is not None and self.rels[index] in self._needed)

    def take(self, rel: str) -> ImageInfo:
        """The inspection of ``rel``, one of the listed images, skipping those before it.

        Call :meth:`need` first, with ``rel`` among the needed, and take in path order.
        """
        while self._next < len(self.rels) and self.rels[self._next] < rel:
            if self._sent(self._next):
                next(self._results)
            self._next += 1
        if self._next == len(self.rels) or self.rels[self._next] != rel:
            raise ValueError(f"{rel!r} was not listed, or was taken out of path order")
        self._next += 1
        return next(self._results)

def start_prefetch(inspect: Inspect, root: Path, *, verify: bool, pool: Any, fresh: Callable[[str], bool],
                   least: int = 64) -> Prefetch | None:
    """A :class:`Prefetch` of the image files under ``root`` for which ``fresh(rel)`` (the cache cannot answer);
    ``None`` without a pool or when fewer than ``least`` need inspecting (not worth a round trip)."""
    if pool is None:
        return None
    listed = image_files(root)
    if listed is None:
        return None
    rels = [rel for rel in listed if fresh(rel)]
    if len(rels) < least:
        return None
    return Prefetch(inspect, root, rels, verify, pool)
