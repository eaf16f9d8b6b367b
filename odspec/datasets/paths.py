"""Helpers shared by the readers: finding annotation files, keeping image paths
inside the images folder, and naming splits from file names."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from odspec.errors import DatasetError

AnnotationPaths = Path | Sequence[Path]

SPLIT_WORDS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}

# The file suffixes (any case) of the image formats odspec reads: what a folder listing counts as an image.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def as_path_list(annotations: AnnotationPaths) -> list[Path]:
    """Accept one path or several, as the spec allows either."""
    if isinstance(annotations, (str, os.PathLike)):
        return [Path(annotations)]
    return [Path(p) for p in annotations]


def expand_annotation_paths(
    annotations: AnnotationPaths, pattern: str, *, recursive: bool = False
) -> list[tuple[Path, Path]]:
    """Annotation files as ``(file, folder it was found under)``, sorted per folder.

    A folder contributes the files matching ``pattern``; a file is taken as is
    (its folder is its parent). A missing path is a :class:`DatasetError`.
    """
    found: list[tuple[Path, Path]] = []
    refused: list[str] = []
    for path in as_path_list(annotations):
        if path.is_dir():
            matches = sorted(path.rglob(pattern) if recursive else path.glob(pattern), key=str)
            problems = {str(f): annotation_file_problem(f, path) for f in matches}
            refused.extend(f"{name} {problem}" for name, problem in problems.items() if problem)
            found.extend((f, path) for f in matches if not problems[str(f)] and f.is_file())
        elif path.is_file():
            found.append((path, path.parent))
        elif special_kind(path) is not None:
            refused.append(f"{path} is not a regular file but {special_kind(path)}")
        else:
            raise DatasetError(
                f"annotations path {path} does not exist",
                hint="check dataset.annotations in the spec; relative paths start at the spec's folder",
            )
    if refused:
        raise DatasetError(
            "annotation files that odspec cannot read safely: " + "; ".join(refused),
            hint="odspec reads only regular files inside dataset.annotations: remove these or replace them "
                 "with the files themselves",
        )
    return found


def annotation_file_problem(path: Path, folder: Path) -> str | None:
    """Why a file found in an annotations folder is not read (before it is opened), or None."""
    if path.is_symlink():
        base = os.path.realpath(folder)
        target = os.path.realpath(path)
        if os.path.commonpath([base, target]) != base:
            return f"is a symbolic link to {target}, outside {folder}"
    kind = special_kind(path)
    return None if kind is None or kind == "a folder" else f"is not a regular file but {kind}"


def special_kind(path: Path | str) -> str | None:
    """What ``path`` is when it is there but not a regular file (opening a FIFO would block forever), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing or unreadable: reading it says which
    return kind_of_mode(mode)


def kind_of_mode(mode: int) -> str | None:
    """:func:`special_kind` from a stat result's mode."""
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "a special file")


WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")  # a drive letter (UNC paths, //server/share, are absolute already)


def image_path_in_root(root: Path, name: str) -> Path | None:
    """``name`` as a normalised path relative to ``root``, or ``None`` if it leaves it.

    Purely lexical: nothing is looked up on disk. Backslashes count as
    separators (annotations written on Windows); an absolute path is accepted
    only when it lies under ``root``.
    """
    cleaned = name.strip().replace("\\", "/")
    if WINDOWS_DRIVE.match(cleaned):  # C:/Users/..., C:photo.jpg: a Windows machine's path, never under root
        return None
    if os.path.isabs(cleaned):
        return relative_inside(root, Path(cleaned))
    normal = posixpath.normpath(cleaned)
    if normal in (".", "..") or normal.startswith("../"):
        return None
    return Path(normal)


def relative_inside(root: Path, path: Path) -> Path | None:
    """``path`` relative to ``root`` if it lies under it (lexically), else ``None``."""
    base = os.path.abspath(root)
    target = os.path.abspath(path)
    try:
        inside = os.path.commonpath([base, target]) == base and target != base
    except ValueError:  # different drives on Windows
        inside = False
    if not inside:
        return None
    return Path(os.path.relpath(target, base))


def outside_root_what(name: str) -> str:
    """The one wording every reader uses for a path that is not followed."""
    return f"image path '{name}' leaves the images folder"


def split_from_filename(path: Path) -> str | None:
    """The split a file's name announces, or ``None``.

    The stem is cut into words at anything that is not a letter or digit,
    trailing digits are dropped from each word, and the words are looked up in
    :data:`SPLIT_WORDS` (``instances_train2017.json`` -> ``train``,
    ``test_labels.csv`` -> ``test``, ``valid.json`` -> ``val``). No match, or
    words naming two different splits, give ``None``.
    """
    return split_from_names([path.stem])


def split_from_names(names: Iterable[str]) -> str | None:
    """The one split the words of ``names`` agree on (rules of :func:`split_from_filename`)."""
    words = (
        re.sub(r"\d+$", "", word)
        for name in names
        for word in re.split(r"[^a-z0-9]+", name.lower())
    )
    splits = {SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS}
    return splits.pop() if len(splits) == 1 else None


def child(folder: Path, name: str) -> Path | None:
    """The entry of ``folder`` called ``name`` in any capitalisation (the exact spelling first), or None."""
    exact = folder / name
    if exact.exists():
        return exact
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError:
        return None
    return next((p for p in entries if p.name.lower() == name.lower()), None)


def split_list_name(path: Path) -> str | None:
    """The split a VOC/CVAT split list names by its whole stem (``Train.txt``, ``validation.txt``), else None.

    Class lists such as ``cat_train.txt`` and CVAT's ``default.txt`` name none.
    """
    return SPLIT_WORDS.get(path.stem.lower()) if path.suffix.lower() == ".txt" else None


def ordered_unique(names: Iterable[str]) -> tuple[str, ...]:
    """Names in order of first appearance, each once."""
    return tuple(dict.fromkeys(names))
