"""From a spec's dataset block to a plan of TFRecord shards: read, inspect, check, split, shard.

Everything here but image inspection is pure. Inspection runs on every core and
is cached by file identity (size, mtime, inode), so a rebuild reads only the
images that changed. The plan gives each shard a digest of everything its bytes
depend on; a shard whose digest did not change is not written again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from odspec.datasets import read_dataset
from odspec.datasets.checks import (
    ERROR,
    CheckedExample,
    CheckResult,
    DatasetCheckError,
    check_examples,
)
from odspec.datasets.images import ImageInfo, inspect_image
from odspec.datasets.model import Finding
from odspec.datasets.split import SplitItem, assign_splits
from odspec.errors import DatasetError
from odspec.records.shards import assign_shards, shard_count, shard_name
from odspec.spec.models import Dataset

SPLITS = ("train", "val", "test")
Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


@dataclass(frozen=True)
class RecordJob:
    """What one worker needs to write one record: picklable and self-contained."""

    root: str
    image: ImageInfo
    rotate: bool
    width: int
    height: int
    boxes: tuple[tuple[float, float, float, float], ...]  # normalised xmin, ymin, xmax, ymax
    texts: tuple[str, ...]
    ids: tuple[int, ...]
    difficult: tuple[bool, ...]
    truncated: tuple[bool, ...]
    views: tuple[str, ...]


@dataclass(frozen=True)
class PlannedShard:
    split: str
    name: str
    digest: str
    jobs: tuple[RecordJob, ...]


@dataclass(frozen=True)
class DatasetPlan:
    shards: tuple[PlannedShard, ...]
    splits: dict[str, str]  # image path -> split, for the next build: this build's images and earlier ones
    checked: tuple[CheckedExample, ...]
    findings: tuple[Finding, ...]


def stat_key(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _inspect_one(args: tuple[str, str, bool]) -> ImageInfo:
    root, rel, verify = args
    return inspect_image(Path(root), rel, verify_pixels=verify)


def inspect_images(root: Path, rels: Sequence[str], cache: Mapping[str, Any], *, verify: bool,
                   workers: int, progress: Progress) -> tuple[dict[str, ImageInfo], dict[str, Any]]:
    """ImageInfo per image, from the cache when the file is the same one, else inspected on ``workers`` cores."""
    found: dict[str, ImageInfo] = {}
    fresh_cache: dict[str, Any] = {}
    todo = []
    for rel in sorted(set(rels)):
        try:
            key = stat_key(root / rel)
        except OSError:
            key = None
        entry = cache.get(rel)
        info = _cached(entry, key, verify)
        if info is not None:
            found[rel] = info
            fresh_cache[rel] = entry
        else:
            todo.append((rel, key))
    advance = progress("inspecting images", len(todo))
    for (rel, key), info in zip(todo, _map(_inspect_one, [(str(root), rel, verify) for rel, _ in todo], workers)):
        advance(1)
        found[rel] = info
        if key is not None and info.error is None:
            fresh_cache[rel] = {"stat": key, "verify": verify, "info": asdict(info)}
    return found, fresh_cache


def _cached(entry: Any, key: list[int] | None, verify: bool) -> ImageInfo | None:
    """The cached ImageInfo when the file is the very same one (and was checked at least as thoroughly)."""
    if key is None or not isinstance(entry, dict) or entry.get("stat") != key or entry.get("verify", False) < verify:
        return None
    try:
        return ImageInfo(**entry["info"])
    except (KeyError, TypeError):
        return None


def _map(function: Callable[[Any], Any], items: list[Any], workers: int) -> Iterator[Any]:
    """``map`` on ``workers`` processes, in order, as results arrive (so progress bars move)."""
    if workers <= 1 or len(items) < 64:
        yield from map(function, items)
        return
    with get_context("fork").Pool(workers) as pool:
        yield from pool.imap(function, items, chunksize=32)


def _job(root: Path, checked: CheckedExample, ids: Mapping[str, int]) -> RecordJob:
    boxes = checked.example.boxes
    w, h = checked.width, checked.height
    return RecordJob(
        root=str(root),
        image=checked.image,
        rotate=checked.rotate,
        width=w,
        height=h,
        boxes=tuple((b.xmin / w, b.ymin / h, b.xmax / w, b.ymax / h) for b in boxes),
        texts=tuple(b.label for b in boxes),
        ids=tuple(ids[b.label] for b in boxes),
        difficult=tuple(b.difficult for b in boxes),
        truncated=tuple(b.truncated for b in boxes),
        views=tuple(b.pose for b in boxes),
    )


def job_digest(job: RecordJob) -> str:
    """Everything the record's bytes depend on (the images root does not: records name images relatively)."""
    image = job.image
    payload = (image.path, image.sha256, image.format, image.mode, image.orientation, job.rotate, job.width,
               job.height, job.boxes, job.texts, job.ids, job.difficult, job.truncated, job.views)
    return hashlib.sha256(repr(payload).encode()).hexdigest()


def plan_shards(root: Path, checked: Sequence[CheckedExample], splits: Mapping[str, str], classes: Sequence[str],
                requested: int | None, salt: str) -> tuple[PlannedShard, ...]:
    """Shards per split, each with a digest of every input its bytes depend on (``salt``: writer version)."""
    ids = {name: i for i, name in enumerate(classes, start=1)}
    shards = []
    for split in SPLITS:
        members = sorted((c for c in checked if splits[c.image.path] == split), key=lambda c: c.image.path)
        if not members:
            continue
        count = shard_count(len(members), sum(c.image.size_bytes for c in members), requested)
        for index, positions in enumerate(assign_shards([c.image.path for c in members], count)):
            jobs = tuple(_job(root, members[i], ids) for i in positions)
            digest = hashlib.sha256((salt + "".join(job_digest(j) for j in jobs)).encode()).hexdigest()
            shards.append(PlannedShard(split, shard_name(split, index, count), digest, jobs))
    return tuple(shards)


def split_items(checked: Sequence[CheckedExample]) -> list[SplitItem]:
    """One item per image, keyed by its path: editing an image's pixels never moves it to another split.

    Byte-identical duplicates never reach this point (the checks keep one), so no
    image can sit in two splits.
    """
    return [SplitItem(c.image.path, frozenset(b.label for b in c.example.boxes), c.example.split) for c in checked]


def plan_dataset(spec_root: Path, dataset: Dataset, *, max_boxes: int, check_read: Callable[[int], None],
                 cache: Mapping[str, Any],
                 previous_splits: Mapping[str, str], workers: int, progress: Progress, salt: str
                 ) -> tuple[DatasetPlan, dict[str, Any]]:
    """Read, inspect, check, split and shard; raises DatasetError when the policy says stop."""
    root = spec_root / dataset.images
    annotations = [spec_root / a for a in dataset.annotation_list]
    read = read_dataset(dataset.format, root, annotations if len(annotations) > 1 else annotations[0], list(dataset.classes))
    if not read.examples:
        raise DatasetError(f"no annotated images found in {annotations[0] if len(annotations) == 1 else annotations}",
                           f"check dataset.format ({dataset.format}) and dataset.annotations")
    check_read(max((len(e.boxes) for e in read.examples), default=0))
    infos, fresh_cache = inspect_images(root, [e.image.as_posix() for e in read.examples], cache,
                                        verify=dataset.verify_pixels, workers=workers, progress=progress)
    reader_findings = judge_reader_findings(read.findings, dataset.on_bad_annotation)
    try:
        result: CheckResult = check_examples(
            read.examples, infos, dataset.classes, policy=dataset.on_bad_annotation, max_boxes=max_boxes,
            keep_empty=dataset.keep_empty_images, orientation_fallback=dataset.orientation_fallback,
        )
    except DatasetCheckError as failed:
        raise DatasetCheckError([*_errors(reader_findings), *failed.errors], [*reader_findings, *failed.findings]) from None
    if _errors(reader_findings):
        raise DatasetCheckError(_errors(reader_findings), [*reader_findings, *result.findings])
    result = CheckResult(result.examples, [*reader_findings, *result.findings])
    split = dataset.split
    previous = previous_by_content(result.examples, previous_splits, cache)
    splits = assign_splits(split_items(result.examples), ratios=(split.train, split.val, split.test), seed=split.seed,
                           use_source=split.from_source, previous=previous)
    shards = plan_shards(root, result.examples, splits, dataset.classes, dataset.shards, salt)
    remembered = {**previous, **splits}  # images left out this time keep their place for when they return
    plan = DatasetPlan(shards, dict(sorted(remembered.items())), tuple(result.examples), tuple(result.findings))
    return plan, fresh_cache


def previous_by_content(checked: Sequence[CheckedExample], previous: Mapping[str, str],
                        cache: Mapping[str, Any]) -> dict[str, str]:
    """Last build's split per image path, extended to new paths whose bytes it already placed.

    So renaming an image, or adding a copy that now wins the duplicate check,
    keeps those bytes in the split they were in: nothing leaks between splits.
    """
    by_content = {cache[path]["info"]["sha256"]: split for path, split in previous.items() if path in cache}
    merged = dict(previous)
    for c in checked:
        if c.image.path not in merged and c.image.sha256 in by_content:
            merged[c.image.path] = by_content[c.image.sha256]
    return merged


def judge_reader_findings(findings: Sequence[Finding], policy: str) -> list[Finding]:
    """What the readers could not use (a bad line, a malformed file) follows the policy like any finding;
    a path that leaves the images folder is an error whatever the policy."""
    judged = []
    for finding in findings:
        escapes = finding.what.endswith("leaves the images folder")
        action = ERROR if policy == "stop" or escapes else finding.action
        judged.append(replace(finding, action=action))
    return judged


def _errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.action == ERROR]


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
