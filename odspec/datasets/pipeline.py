"""From a spec's dataset block to a plan of TFRecord shards: read, inspect, check, split, shard.

Everything here but image inspection is pure. Inspection runs on every core and
is cached by file identity (size, mtime, inode), so a rebuild reads only the
images that changed. The plan gives each shard a digest of everything its bytes
depend on; a shard whose digest did not change is not written again.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.datasets.checks import ERROR, IMAGE_SKIPPED, CheckedExample, ExampleChecker
from odspec.datasets.compact import CompactExamples
from odspec.datasets.coverage import judge_splits, tally_skipped
from odspec.datasets.images import ImageInfo, inspect_image
from odspec.datasets.layouts import box_labels, class_findings, layout_for, read_layout, refuse_missing_source_splits
from odspec.datasets.model import SLOTS, Box, Example, Finding
from odspec.datasets.prefetch import Prefetch, start_prefetch
from odspec.datasets.report import DatasetReport, ReportTally
from odspec.datasets.shards import shard_bounds, shard_count, shard_name
from odspec.datasets.spill import RowSpill, read_rows
from odspec.datasets.split import (
    SplitItem,
    assign_splits,
    base_split,
    describe_settings,
    moved_count,
    remembered_splits,
    split_settings,
    splits_document,
)
from odspec.errors import DatasetCheckError, DatasetError, EmptySplitError
from odspec.io import stat_identity

if TYPE_CHECKING:
    from odspec.spec.models import Dataset

SPLITS = ("train", "val", "test")
Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> advance(n)


@dataclass(frozen=True, **SLOTS)
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
    """One shard: its records are ``count`` job rows from byte ``start`` of the spill file ``jobs_file``."""

    split: str
    name: str
    digest: str
    count: int
    root: str
    jobs_file: str
    start: int

    def jobs(self) -> Iterator[RecordJob]:
        return (job_from_row(self.root, row) for row in read_rows(self.jobs_file, self.start, self.count))


@dataclass(frozen=True)
class DatasetPlan:
    shards: tuple[PlannedShard, ...]
    splits: dict[str, Any]  # splits.json: the split settings and image path -> split (this build's and earlier)
    report: DatasetReport
    findings: tuple[Finding, ...]
    image_rels: list[str]  # images this build used or can reuse next time (checked or cached), sorted
    cache_file: Path  # one `"rel":{entry}` JSON member per line, in path order (see build.py)


def stat_key(path: Path | str) -> list[int]:
    """:func:`odspec.io.file_identity`, raising OSError when the file cannot be read."""
    return stat_identity(os.stat(path))


def inspect_one(args: tuple[str, str, bool]) -> ImageInfo:
    root, rel, verify = args
    return inspect_image(Path(root), rel, verify_pixels=verify)


def iter_inspected(root: Path, rels: Sequence[str], cache: Mapping[str, Any], *, verify: bool, workers: int,
                   progress: Progress, pool: Any = None,
                   prefetch: Prefetch | None = None) -> Iterator[tuple[str, ImageInfo, dict[str, Any] | None]]:
    """(rel, ImageInfo, cache entry or None) for sorted distinct ``rels``, in order, as inspections arrive.

    The cache answers when the file is the same one; the rest come from
    ``prefetch`` when it started them, else are inspected on ``pool`` (or
    ``workers`` new processes). Per image, only its file identity is held
    meanwhile (three machine words).
    """
    keys = array("q")
    todo = array("l")
    base = str(root)
    for index, rel in enumerate(rels):
        try:
            key = stat_key(os.path.join(base, rel))
        except OSError:
            key = [-1, -1, -1]
        keys.extend(key)
        if _cached(cache.get(rel), key, verify) is None:
            todo.append(index)
    advance = progress("inspecting images", len(todo))
    listed: frozenset[str] = frozenset()
    if prefetch is not None and prefetch.verify == verify:
        prefetch.need(rels[i] for i in todo)
        listed = frozenset(prefetch.rels)
    elsewhere = [i for i in todo if rels[i] not in listed]
    tasks = ((str(root), rels[i], verify) for i in elsewhere)
    results = _map(inspect_one, tasks, len(elsewhere), workers, pool)
    pending = iter(todo)
    upcoming = next(pending, -1)
    for index, rel in enumerate(rels):
        key = list(keys[3 * index: 3 * index + 3])
        if index != upcoming:
            entry = cache[rel]
            yield rel, _cached(entry, key, verify), entry  # type: ignore[misc]
            continue
        upcoming = next(pending, -1)
        info = prefetch.take(rel) if prefetch is not None and rel in listed else next(results)
        advance(1)
        usable = key[0] != -1 and info.error is None
        yield rel, info, {"stat": key, "verify": verify, "info": info_fields(info)} if usable else None


INFO_FIELDS = tuple(f.name for f in fields(ImageInfo))


def info_fields(info: ImageInfo) -> dict[str, Any]:
    """``dataclasses.asdict`` for the flat ImageInfo, without its per-value deep copies (it runs once per image)."""
    return {name: getattr(info, name) for name in INFO_FIELDS}


def _needs_inspection(root: Path, rel: str, cache: Mapping[str, Any], verify: bool) -> bool:
    try:
        key = stat_key(os.path.join(root, rel))
    except OSError:
        return False  # missing or unreadable: inspected (and reported) only if an annotation names it
    return _cached(cache.get(rel), key, verify) is None


def _cached(entry: Any, key: list[int] | None, verify: bool) -> ImageInfo | None:
    """The cached ImageInfo when the file is the very same one (and was checked at least as thoroughly)."""
    if key is None or key[0] == -1 or not isinstance(entry, dict) or entry.get("stat") != key \
            or entry.get("verify", False) < verify \
            or not isinstance(entry.get("info"), dict) or "payload_bytes" not in entry["info"]:  # older cache
        return None
    try:
        return ImageInfo(**entry["info"])
    except (KeyError, TypeError):
        return None


def _map(function: Callable[[Any], Any], items: Iterable[Any], count: int, workers: int,
         pool: Any = None) -> Iterator[Any]:
    """``map`` on ``workers`` processes (``pool``'s if given), in order, as results arrive (so progress bars move)."""
    if workers <= 1 or count < 64:
        yield from map(function, items)
        return
    if pool is not None:
        yield from pool.imap(function, items, chunksize=32)
        return
    with get_context("fork").Pool(workers) as own:
        yield from own.imap(function, items, chunksize=32)


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


def _info_row(info: ImageInfo) -> tuple[Any, ...]:
    return (info.path, info.sha256, info.size_bytes, info.format, info.mode, info.width, info.height,
            info.orientation, info.error, info.crc32c, info.payload_bytes)


def job_row(job: RecordJob) -> tuple[Any, ...]:
    """A job as plain values for a spill file (the root is the shard's)."""
    return (_info_row(job.image), job.rotate, job.width, job.height, job.boxes, job.texts, job.ids,
            job.difficult, job.truncated, job.views)


def job_from_row(root: str, row: tuple[Any, ...]) -> RecordJob:
    return RecordJob(root, ImageInfo(*row[0]), *row[1:])


def checked_row(checked: CheckedExample) -> tuple[Any, ...]:
    """A checked example as plain values for a spill file; :func:`checked_from_row` gives it back, equal."""
    example = checked.example
    boxes = tuple((b.label, b.xmin, b.ymin, b.xmax, b.ymax, b.difficult, b.truncated, b.pose, b.iscrowd)
                  for b in example.boxes)
    return (example.image.as_posix(), example.width, example.height, boxes, example.source, example.split,
            _info_row(checked.image), checked.rotate, checked.width, checked.height)


def checked_from_row(row: tuple[Any, ...]) -> CheckedExample:
    image, width, height, boxes, source, split, info, rotate, final_width, final_height = row
    example = Example(Path(image), width, height, tuple(Box(*b) for b in boxes), source, split)
    return CheckedExample(example, ImageInfo(*info), rotate, final_width, final_height)


def plan_shards(root: Path, checked: Sequence[CheckedExample], splits: Mapping[str, str], classes: Sequence[str],
                requested: int | None, salt: str, workdir: Path) -> tuple[PlannedShard, ...]:
    """Shards per split, each with a digest of every input its bytes depend on (``salt``: writer version).

    ``checked`` must be in image-path order; the jobs are spilled to files in ``workdir``.
    """
    sizes = array("q", (c.image.size_bytes for c in checked))
    planner = ShardPlanner(root, [c.image.path for c in checked], sizes, splits, classes, requested, salt, workdir)
    for c in checked:
        planner.add(c)
    return planner.finish()


class ShardPlanner:
    """Cuts each split's examples (fed in image-path order) into shards, spilling their jobs as it goes.

    Shard boundaries are known before the first example (from the count and
    bytes per split), so a shard's digest is hashed as its jobs pass and
    nothing per example stays in memory.
    """

    def __init__(self, root: Path, paths: Sequence[str], sizes: Sequence[int], splits: Mapping[str, str],
                 classes: Sequence[str], requested: int | None, salt: str, workdir: Path,
                 on_shard: Callable[[PlannedShard], None] | None = None) -> None:
        self.root, self.splits, self.salt, self.on_shard = root, splits, salt, on_shard
        self.ids = {name: i for i, name in enumerate(classes, start=1)}
        members = dict.fromkeys(SPLITS, 0)
        total = dict.fromkeys(SPLITS, 0)
        for path, size in zip(paths, sizes, strict=True):
            members[splits[path]] += 1
            total[splits[path]] += size
        self.bounds = {s: shard_bounds(n, shard_count(n, total[s], requested)) for s, n in members.items() if n}
        self.spills = {s: RowSpill(workdir / f"{s}.jobs") for s in self.bounds}
        self.seen = dict.fromkeys(self.bounds, 0)
        self.hashers: dict[str, Any] = {s: hashlib.sha256(salt.encode()) for s in self.bounds}
        self.starts: dict[str, list[int]] = {s: [] for s in self.bounds}
        self.planned: dict[str, list[PlannedShard]] = {s: [] for s in self.bounds}

    def add(self, checked: CheckedExample) -> None:
        split = self.splits[checked.image.path]
        job = _job(self.root, checked, self.ids)
        position = self.seen[split]
        while len(self.starts[split]) < len(self.bounds[split]) and \
                self.bounds[split][len(self.starts[split])][0] <= position:
            self._close_shard(split)
            self.starts[split].append(self.spills[split].size)
        self.hashers[split].update(job_digest(job).encode())
        self.spills[split].append(job_row(job))
        self.seen[split] = position + 1

    def _close_shard(self, split: str) -> None:
        """The split's open shard has all its jobs: plan it, and hand it to ``on_shard`` (its jobs are readable)."""
        if not self.starts[split]:
            return
        planned, bounds = self.planned[split], self.bounds[split]
        first, end = bounds[len(planned)]
        shard = PlannedShard(split, shard_name(split, len(planned), len(bounds)), self.hashers[split].hexdigest(),
                             end - first, str(self.root), str(self.spills[split].path), self.starts[split][-1])
        planned.append(shard)
        self.hashers[split] = hashlib.sha256(self.salt.encode())
        if self.on_shard is not None:
            self.spills[split].flush()
            self.on_shard(shard)

    def finish(self) -> tuple[PlannedShard, ...]:
        """Every split's shards, in split then shard order (the last ones handed to ``on_shard`` now)."""
        for split, bounds in self.bounds.items():
            self.spills[split].close()
            while len(self.starts[split]) < len(bounds):  # shards past the last example are empty
                self._close_shard(split)
                self.starts[split].append(self.spills[split].size)
            self._close_shard(split)
        return tuple(shard for planned in self.planned.values() for shard in planned)


def plan_dataset(spec_root: Path, dataset: Dataset, *, max_boxes: int, check_read: Callable[[int], None],
                 cache: Mapping[str, Any],
                 previous_splits: Mapping[str, str], workers: int, progress: Progress, salt: str,
                 workdir: Path, pool: Any = None, needed: Sequence[str] = ("train",),
                 on_shard: Callable[[PlannedShard], None] | None = None) -> DatasetPlan:
    """Read, inspect, check, split and shard; raises DatasetError when the policy says stop,
    or when a split in ``needed`` (train, and the one evaluation reads) would hold no image.
    ``on_shard`` is handed each shard as soon as it is planned (a build starts writing it meanwhile).

    Examples stream through inspection and checks in image-path order into a
    spill file in ``workdir`` (which must outlive the plan: the shards' jobs are
    there too); what stays in memory per image is its path, size, classes and split.
    """
    layout = layout_for(spec_root, dataset)
    root = layout.root
    prefetch = start_prefetch(inspect_one, root, verify=dataset.verify_pixels, pool=pool,
                              fresh=lambda rel: _needs_inspection(root, rel, cache, dataset.verify_pixels))
    read = read_layout(layout, list(dataset.classes), compact=True)
    if not read.examples:
        where = [str(a) for part in layout.parts for a in part.annotations]
        raise DatasetError(f"no annotated images found in {where[0] if len(where) == 1 else where}",
                           f"check dataset.format ({layout.format}) and "
                           f"{'dataset.path' if dataset.path is not None else 'dataset.annotations'}")
    if dataset.split.from_source:
        refuse_missing_source_splits(layout, read.examples)
    examples = read.examples
    if isinstance(examples, CompactExamples):
        names, most_boxes = examples.paths, max(examples.box_counts(), default=0)
    else:
        names, most_boxes = [e.image.as_posix() for e in examples], max((len(e.boxes) for e in examples), default=0)
    check_read(most_boxes)
    split = dataset.split
    settings = split_settings((split.train, split.val, split.test), split.seed, split.from_source)
    earlier, earlier_settings = remembered_splits(previous_splits)
    resplit = bool(earlier) and earlier_settings != settings
    checked = _check_stream(root, dataset, examples, names, read.findings, cache, {} if resplit else earlier,
                            max_boxes=max_boxes, workers=workers, progress=progress, workdir=workdir, pool=pool,
                            prefetch=prefetch)
    declared, labelled = read.classes_seen, box_labels(examples)
    del read, examples
    kept = set().union(*{item.classes for item in checked.items})
    checked.findings.extend(class_findings(declared, labelled, kept, dataset.classes, str(layout.root)))
    splits = assign_splits(checked.items, ratios=(split.train, split.val, split.test), seed=split.seed,
                           use_source=split.from_source, previous=checked.previous)
    if resplit:
        checked.findings.insert(0, resplit_finding(earlier, earlier_settings, splits, settings))
    try:
        checked.findings.extend(judge_splits(
            Counter(splits.values()), tally_skipped(checked.skipped, checked.findings, IMAGE_SKIPPED), needed,
            policy=dataset.on_bad_annotation, from_source=split.from_source, source_splits=checked.source_splits,
            ratios=(split.train, split.val, split.test)))
    except EmptySplitError as empty:
        raise EmptySplitError(empty.message, empty.hint, checked.findings) from None
    planner = ShardPlanner(root, [item.key for item in checked.items], checked.sizes, splits, dataset.classes,
                           dataset.shards, salt, workdir, on_shard)
    tally = ReportTally()
    for row in checked.spill:
        example = checked_from_row(row)
        planner.add(example)
        tally.add(example.image.path, splits[example.image.path], example.width, example.height,
                  example.example.boxes)
    remembered = {**checked.previous, **splits}  # images left out this time keep their place for when they return
    return DatasetPlan(planner.finish(), splits_document(remembered, settings),
                       tally.report(checked.findings, list(dataset.classes)), tuple(checked.findings),
                       checked.image_rels, checked.cache_file)


def resplit_finding(earlier: Mapping[str, str], earlier_settings: Mapping[str, Any] | None,
                    splits: Mapping[str, str], settings: Mapping[str, Any]) -> Finding:
    """The notice that the split settings changed, so every image was placed again as a clean build would."""
    moved, placed = moved_count(earlier, splits)
    what = (f"changed ({describe_settings(earlier_settings)} -> {describe_settings(settings)}): re-split, "
            f"{moved} of {placed} images moved split")
    return Finding("dataset.split", what, "warning: a clean build of this spec splits the same way")


@dataclass
class _Checked:
    """What the checks leave: the examples kept (spilled) and, per image, what splitting needs."""

    spill: RowSpill
    items: list[SplitItem]
    sizes: array[int]
    previous: dict[str, str]
    findings: list[Finding]
    image_rels: list[str]
    cache_file: Path
    skipped: dict[str, str] = field(default_factory=dict)  # image left out -> the split it would have gone to
    source_splits: set[str] = field(default_factory=set)  # the splits the source named


def _check_stream(
    root: Path,
    dataset: Dataset,
    examples: Sequence[Example],
    names: Sequence[str],
    read_findings: Sequence[Finding],
    cache: Mapping[str, Any],
    previous_splits: Mapping[str, str],
    *,
    max_boxes: int,
    workers: int,
    progress: Progress,
    workdir: Path,
    pool: Any,
    prefetch: Prefetch | None = None,
) -> _Checked:
    """Inspect and check every example in image-path order, spilling the ones kept."""
    order = sorted(range(len(names)), key=names.__getitem__)
    rels = [
        names[i]
        for i, previous in zip(order, [-1, *order], strict=False)
        if previous == -1 or names[previous] != names[i]
    ]
    inspected = iter_inspected(
        root,
        rels,
        cache,
        verify=dataset.verify_pixels,
        workers=workers,
        progress=progress,
        pool=pool,
        prefetch=prefetch,
    )
    checker = ExampleChecker(
        dataset.classes,
        policy=dataset.on_bad_annotation,
        max_boxes=max_boxes,
        keep_empty=dataset.keep_empty_images,
        orientation_fallback=dataset.orientation_fallback,
    )
    by_content = {cache[path]["info"]["sha256"]: split for path, split in previous_splits.items() if path in cache}
    out = _Checked(RowSpill(workdir / "checked"), [], array("q"), dict(previous_splits), [], [], workdir / "cache")
    classes: dict[frozenset[str], frozenset[str]] = {}
    rel: str | None = None
    info: ImageInfo | None = None
    entry: dict[str, Any] | None = None
    kept = False
    with out.cache_file.open("w") as cache_out:
        for index in order:
            name = names[index]
            if name != rel or info is None:
                if rel is not None and (kept or entry is not None):
                    out.image_rels.append(rel)
                rel, info, entry = next(inspected)
                kept = False
                if entry is not None:
                    cache_out.write(f"{json.dumps(rel)}:{json.dumps(entry, sort_keys=True, separators=(',', ':'))}\n")
            example = examples[index]
            if example.split is not None:
                out.source_splits.add(example.split)
            checked = checker.check(example, info, name)
            if checked is None:
                if not kept:
                    out.skipped[name] = _intended_split(name, example.split, out.previous, dataset)
                continue
            kept = True
            out.skipped.pop(name, None)
            out.spill.append(checked_row(checked))
            labels = frozenset(b.label for b in checked.example.boxes)
            out.items.append(SplitItem(rel, classes.setdefault(labels, labels), checked.example.split))
            out.sizes.append(info.size_bytes)
            if rel not in out.previous and info.sha256 in by_content:
                out.previous[rel] = by_content[info.sha256]
        if rel is not None and (kept or entry is not None):
            out.image_rels.append(rel)
    out.spill.close()
    reader_findings = judge_reader_findings(read_findings, dataset.on_bad_annotation)
    try:
        found = checker.finish()
    except DatasetCheckError as failed:
        raise DatasetCheckError(
            [*_errors(reader_findings), *failed.errors], [*reader_findings, *failed.findings]
        ) from None
    if _errors(reader_findings):
        raise DatasetCheckError(_errors(reader_findings), [*reader_findings, *found])
    out.findings = [*reader_findings, *found]
    return out


def _intended_split(rel: str, source: str | None, previous: Mapping[str, str], dataset: Dataset) -> str:
    """Where a skipped image would have gone (before stratification), to say which split lost it."""
    split = dataset.split
    if split.from_source and source is not None:
        return source
    return previous.get(rel) or base_split(rel, seed=split.seed, ratios=(split.train, split.val, split.test))


def judge_reader_findings(findings: Sequence[Finding], policy: str) -> list[Finding]:
    """What the readers could not use (a bad line, a malformed file) follows the policy like any finding;
    a path that leaves the images folder is an error whatever the policy; notes and warnings stay as they are."""
    judged = []
    for finding in findings:
        if finding.action.startswith(("note", "warning")):  # said for information: nothing was lost
            judged.append(finding)
            continue
        escapes = finding.what.endswith("leaves the images folder")
        action = ERROR if policy == "stop" or escapes else finding.action
        judged.append(replace(finding, action=action))
    return judged


def _errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.action == ERROR]


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
