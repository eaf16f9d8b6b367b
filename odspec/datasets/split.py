"""Assigning images to train/val/test: seeded, stable as images are added, pure.

Each image's split follows from a hash of ``(seed, key)`` alone, so adding or
removing other images never moves it; the key is the image's path relative to
the dataset root, so editing an image's pixels never moves it either. Byte-identical
duplicates cannot leak between train and evaluation: the checks keep one of them
before anything is split. A small stratification step then makes sure
every class with a few images is seen by val and test; it only ever moves
images that are new to this build.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from odspec.datasets.model import SLOTS

SPLITS = ("train", "val", "test")
MIN_IMAGES_TO_STRATIFY = 3
Ratios = tuple[float, float, float]


@dataclass(frozen=True, **SLOTS)
class SplitItem:
    """One image to place: its key (path relative to the dataset root), the classes it shows,
    the split its source named."""

    key: str
    classes: frozenset[str]
    source_split: str | None = None


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from ``seed`` and ``key`` only, the same on every machine and Python."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def base_split(key: str, *, seed: int, ratios: Ratios) -> str:
    """The split ``key`` gets before stratification: where its hash falls among the ratios.

    Splits with a zero share are never chosen, even when float rounding leaves
    the ratios' sum a hair under 1.
    """
    u = unit_hash(seed, key)
    edge = 0.0
    chosen = "train"
    for name, share in zip(SPLITS, ratios, strict=True):
        if share <= 0:
            continue
        edge += share
        chosen = name
        if u < edge:
            break
    return chosen


def assign_splits(
    items: Sequence[SplitItem],
    *,
    ratios: Ratios,
    seed: int,
    use_source: bool,
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{key: split}`` for every distinct key in ``items``.

    Precedence: the source's split (with ``use_source``), then the split
    ``previous`` recorded (entries naming a split whose share is now 0 are
    ignored), then :func:`base_split`. Only keys placed by the hash may then be
    moved by stratification, so an image seen by an earlier build stays put.
    """
    _check_ratios(ratios)
    classes, sources = _merge_duplicates(items)
    kept = {name for name, share in zip(SPLITS, ratios, strict=True) if share > 0}
    assignment: dict[str, str] = {}
    movable: set[str] = set()
    for key in classes:
        source = sources.get(key) if use_source else None
        earlier = (previous or {}).get(key)
        if source is not None:
            assignment[key] = source
        elif earlier in kept:
            assignment[key] = earlier
        else:
            assignment[key] = base_split(key, seed=seed, ratios=ratios)
            movable.add(key)
    _stratify(assignment, classes, movable, seed=seed, ratios=ratios)
    return assignment


def split_counts(assignment: Mapping[str, str]) -> dict[str, int]:
    """Images per split, every split listed (0 when empty), in train/val/test order."""
    counts = Counter(assignment.values())
    return {name: counts[name] for name in SPLITS}


def class_split_counts(assignment: Mapping[str, str], items: Iterable[SplitItem]) -> dict[str, dict[str, int]]:
    """``{class: {split: images}}`` over distinct keys, classes sorted: what stratification looks at."""
    classes, _ = _merge_duplicates(items)
    tally = _tally(assignment, classes)
    names = sorted({c for cs in classes.values() for c in cs})
    return {c: {s: tally[(s, c)] for s in SPLITS} for c in names}


def _check_ratios(ratios: Ratios) -> None:
    """The spec validates ratios for users; this guards programmatic callers."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must be three non-negative shares adding up to 1, got {ratios!r}")


def _merge_duplicates(items: Iterable[SplitItem]) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """Classes per key (united over duplicates) and the first source split named per key.

    The result is ordered by key, so nothing downstream depends on input order.
    """
    classes: dict[str, frozenset[str]] = {}
    sources: dict[str, str] = {}
    for item in items:
        if item.source_split is not None and item.source_split not in SPLITS:
            raise ValueError(f"unknown source split {item.source_split!r} for {item.key} (use one of {SPLITS})")
        classes[item.key] = classes.get(item.key, frozenset()) | item.classes
        if item.source_split is not None:
            sources.setdefault(item.key, item.source_split)
    return dict(sorted(classes.items())), sources


def _tally(assignment: Mapping[str, str], classes: Mapping[str, frozenset[str]]) -> Counter[tuple[str, str]]:
    """Images per ``(split, class)``."""
    return Counter((assignment[key], c) for key, cs in classes.items() for c in cs)


def _stratify(
    assignment: dict[str, str],
    classes: Mapping[str, frozenset[str]],
    movable: set[str],
    *,
    seed: int,
    ratios: Ratios,
) -> None:
    """Give val and test an image of every class with enough images, moving only ``movable`` keys.

    Classes go in sorted order, val before test, each move seen by the next
    decision; the image moved is the train one with the largest hash, so the
    outcome depends on the images alone.
    """
    tally = _tally(assignment, classes)
    holders: dict[str, list[str]] = {}
    for key, cs in classes.items():
        for c in cs:
            holders.setdefault(c, []).append(key)
    for cls in sorted(holders):
        if len(holders[cls]) < MIN_IMAGES_TO_STRATIFY:
            continue
        for split, share in zip(SPLITS[1:], ratios[1:], strict=True):
            if share <= 0 or tally[(split, cls)] > 0:
                continue
            pick = _pick_move(holders[cls], assignment, classes, movable, tally, seed=seed)
            if pick is None:
                continue
            for c in classes[pick]:
                tally[("train", c)] -= 1
                tally[(split, c)] += 1
            assignment[pick] = split


def _pick_move(
    keys: Sequence[str],
    assignment: Mapping[str, str],
    classes: Mapping[str, frozenset[str]],
    movable: set[str],
    tally: Counter[tuple[str, str]],
    *,
    seed: int,
) -> str | None:
    """The movable train image with the largest hash whose move leaves train an image of each of its classes."""
    candidates = [
        key
        for key in keys
        if key in movable and assignment[key] == "train" and all(tally[("train", c)] > 1 for c in classes[key])
    ]
    return max(candidates, key=lambda k: (unit_hash(seed, k), k), default=None)


SPLITS_FORMAT = "odspec-splits/1"


def split_settings(ratios: Ratios, seed: int, use_source: bool) -> dict[str, Any]:
    """What an assignment depends on besides the images: recorded with it, so a change is noticed."""
    return {"train": ratios[0], "val": ratios[1], "test": ratios[2], "seed": seed, "from_source": use_source}


def splits_document(assignment: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """splits.json: the settings and ``{image: split}``, readable and sorted."""
    return {"format": SPLITS_FORMAT, "settings": dict(settings), "images": dict(sorted(assignment.items()))}


def remembered_splits(document: Any) -> tuple[dict[str, str], dict[str, Any] | None]:
    """``{image: split}`` of an earlier splits.json and its settings (``None`` when it predates recording them).

    The first format was the bare ``{image: split}`` object; anything unreadable remembers nothing.
    """
    if isinstance(document, dict) and document.get("format") == SPLITS_FORMAT:
        images, settings = document.get("images"), document.get("settings")
        return _image_splits(images), settings if isinstance(settings, dict) else None
    return _image_splits(document), None


def _image_splits(images: Any) -> dict[str, str]:
    if not isinstance(images, dict):
        return {}
    return {k: v for k, v in images.items() if isinstance(k, str) and v in SPLITS}


def describe_settings(settings: Mapping[str, Any] | None) -> str:
    """``train/val/test 0.7/0.2/0.1 seed 0`` (plus ``from_source``), or what an old splits.json lacks."""
    if settings is None:
        return "settings not recorded (splits.json of an earlier odspec)"
    try:
        shares = "/".join(f"{float(settings[name]):g}" for name in SPLITS)
        source = " from_source" if settings.get("from_source") else ""
        return f"train/val/test {shares} seed {settings['seed']}{source}"
    except (KeyError, TypeError, ValueError):
        return "settings unreadable"


def moved_count(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[int, int]:
    """(images of ``after`` whose split differs from ``before``, images of ``after`` that ``before`` placed)."""
    placed = [key for key in after if key in before]
    return sum(before[key] != after[key] for key in placed), len(placed)
