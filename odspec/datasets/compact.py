"""Examples held as columns of numbers instead of one Python object per image and box.

An :class:`~odspec.datasets.model.Example` with its boxes costs about 1.5 KB as
objects; here an image costs its path string plus a few machine words, and a
box about 45 bytes, so a reader can hold 50,000 images in a few MB. Items are
built back into ``Example`` objects one at a time when asked for, equal to the
ones added.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import overload

from odspec.datasets.model import Box, Example

_DIFFICULT, _TRUNCATED, _CROWD = 1, 2, 4


class CompactExamples(Sequence[Example]):
    """An append-only sequence of examples; boxes may be added to any image, in any order."""

    def __init__(self) -> None:
        self.paths: list[str] = []  # posix, as Example.image.as_posix()
        self._sizes: list[int | None] = []  # width, height per image
        self._origin = array("l")  # index into _origins: (source, split)
        self._origins: dict[tuple[str, str | None], int] = {}
        self._origin_list: list[tuple[str, str | None]] = []
        self._owner = array("l")  # image of each box, in the order added
        self._label = array("l")  # index into _names
        self._pose = array("l")
        self._flags = array("b")
        self._coords = array("d")  # xmin, ymin, xmax, ymax per box
        self._names: dict[str, int] = {}
        self._name_list: list[str] = []
        self._ints: dict[int, int] = {}  # one object per distinct size
        self._grouped: tuple[array[int], array[int]] | None = None

    @classmethod
    def from_examples(cls, examples: Iterable[Example]) -> CompactExamples:
        compact = cls()
        for example in examples:
            index = compact.add_image(example.image.as_posix(), example.width, example.height,
                                      example.source, example.split)
            for box in example.boxes:
                compact.add_box(index, box)
        return compact

    def add_image(self, posix: str, width: int | None, height: int | None, source: str, split: str | None) -> int:
        self.paths.append(posix)
        self._sizes.extend(None if v is None else self._ints.setdefault(v, v) for v in (width, height))
        origin = (source, split)
        if origin not in self._origins:
            self._origins[origin] = len(self._origin_list)
            self._origin_list.append(origin)
        self._origin.append(self._origins[origin])
        return len(self.paths) - 1

    def add_box(self, image: int, box: Box) -> None:
        self._grouped = None
        self._owner.append(image)
        self._label.append(self._name(box.label))
        self._pose.append(self._name(box.pose))
        self._flags.append(_DIFFICULT * box.difficult | _TRUNCATED * box.truncated | _CROWD * box.iscrowd)
        self._coords.extend((box.xmin, box.ymin, box.xmax, box.ymax))

    def labels(self) -> set[str]:
        """The class names the boxes carry (without building an Example)."""
        return {self._name_list[i] for i in set(self._label)}

    def box_counts(self) -> array[int]:
        counts = array("l", bytes(8 * len(self.paths)))
        for owner in self._owner:
            counts[owner] += 1
        return counts

    def append_all(self, other: CompactExamples, *, prefix: str | None = None, split: str | None = None,
                   keep_split: bool = True) -> None:
        """Every example of ``other`` added, column by column: its image paths under ``prefix``, its splits
        replaced by ``split`` unless ``keep_split``. Equal to adding them one by one, without an Example each."""
        base = len(self.paths)
        self.paths.extend(other.paths if prefix is None else [PurePosixPath(prefix, p).as_posix() for p in other.paths])
        self._sizes.extend(None if v is None else self._ints.setdefault(v, v) for v in other._sizes)
        origins = []
        for source, own_split in other._origin_list:
            origin = (source, own_split if keep_split else split)
            if origin not in self._origins:
                self._origins[origin] = len(self._origin_list)
                self._origin_list.append(origin)
            origins.append(self._origins[origin])
        self._origin.extend(origins[k] for k in other._origin)
        names = [self._name(name) for name in other._name_list]
        self._owner.extend(owner + base for owner in other._owner)
        self._label.extend(names[k] for k in other._label)
        self._pose.extend(names[k] for k in other._pose)
        self._flags.extend(other._flags)
        self._coords.extend(other._coords)
        self._grouped = None

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | Sequence[Example]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        starts, order = self._groups()
        boxes = tuple(self._box(j) for j in order[starts[index]:starts[index + 1]])
        source, split = self._origin_list[self._origin[index]]
        width, height = self._sizes[2 * index], self._sizes[2 * index + 1]
        return Example(Path(self.paths[index]), width, height, boxes, source, split)

    def __iter__(self) -> Iterator[Example]:
        return (self[i] for i in range(len(self)))

    def _name(self, name: str) -> int:
        if name not in self._names:
            self._names[name] = len(self._name_list)
            self._name_list.append(name)
        return self._names[name]

    def _box(self, j: int) -> Box:
        names = self._name_list
        flags = self._flags[j]
        xmin, ymin, xmax, ymax = self._coords[4 * j: 4 * j + 4]
        return Box(names[self._label[j]], xmin, ymin, xmax, ymax, bool(flags & _DIFFICULT),
                   bool(flags & _TRUNCATED), names[self._pose[j]], bool(flags & _CROWD))

    def _groups(self) -> tuple[array[int], array[int]]:
        """Boxes grouped by image (stable, so each image keeps its boxes in the order added): a counting sort."""
        if self._grouped is None:
            starts = array("l", [0])
            for count in self.box_counts():
                starts.append(starts[-1] + count)
            fill = array("l", starts[:-1])
            order = array("l", bytes(8 * len(self._owner)))
            for j, owner in enumerate(self._owner):
                order[fill[owner]] = j
                fill[owner] += 1
            self._grouped = (starts, order)
        return self._grouped


def as_compact(examples: Sequence[Example]) -> CompactExamples:
    return examples if isinstance(examples, CompactExamples) else CompactExamples.from_examples(examples)
