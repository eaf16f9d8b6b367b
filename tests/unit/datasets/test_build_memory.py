"""The pieces that keep a build's memory flat: compact examples, spill files, streamed report and shards."""

from __future__ import annotations

import hashlib
import random
from array import array
from dataclasses import replace
from pathlib import Path
from typing import Any

from odspec.datasets.checks import CheckedExample
from odspec.datasets.compact import CompactExamples
from odspec.datasets.images import ImageInfo
from odspec.datasets.model import Box, Example
from odspec.datasets.pipeline import (
    ShardPlanner,
    checked_from_row,
    checked_row,
    job_digest,
    job_from_row,
    job_row,
    plan_shards,
)
from odspec.datasets.report import (
    ReportExample,
    ReportTally,
    report_from_examples,
    split_stats,
)
from odspec.datasets.shards import assign_shards, shard_bounds, shard_count, shard_name
from odspec.datasets.spill import RowSpill, read_rows


def random_examples(count: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        boxes = tuple(
            Box(rng.choice(["cat", "dog", "éléphant"]), rng.uniform(0, 50), rng.uniform(0, 50), rng.uniform(50, 99),
                rng.uniform(50, 99), rng.random() < 0.2, rng.random() < 0.2, rng.choice(["Unspecified", "Left"]),
                rng.random() < 0.1)
            for _ in range(rng.randint(0, 4))
        )
        split = rng.choice([None, "train", "val"])
        size = rng.choice([(None, None), (100, 100), (640, 480)])
        examples.append(Example(Path(f"d{i % 3}/img{i}.jpg"), *size, boxes, f"ann{i % 2}.json", split))
    return examples


def test_compact_examples_give_back_equal_examples() -> None:
    examples = random_examples(200)
    compact = CompactExamples.from_examples(examples)
    assert list(compact) == examples
    assert compact[17] == examples[17] and compact[-1] == examples[-1]
    assert compact.paths == [e.image.as_posix() for e in examples]
    assert list(compact.box_counts()) == [len(e.boxes) for e in examples]


def test_appending_compact_examples_equals_adding_them_one_by_one() -> None:
    parts = [CompactExamples.from_examples(random_examples(60, seed)) for seed in (1, 2, 3)]
    merged = CompactExamples()
    merged.append_all(parts[0])
    merged.append_all(parts[1], prefix="valid", split="val", keep_split=False)
    merged.append_all(parts[2], prefix="a/b", split=None, keep_split=True)
    expected = [*parts[0],
                *(replace(e, image=Path("valid", e.image), split="val") for e in parts[1]),
                *(replace(e, image=Path("a/b", e.image)) for e in parts[2])]
    assert list(merged) == expected
    assert merged.paths == [e.image.as_posix() for e in expected]
    assert list(merged.box_counts()) == [len(e.boxes) for e in expected]


def test_compact_examples_group_boxes_added_in_any_order() -> None:
    compact = CompactExamples()
    first = compact.add_image("a.jpg", 10, 10, "s.json", None)
    second = compact.add_image("b.jpg", None, None, "s.json", "val")
    compact.add_box(second, Box("dog", 1, 2, 3, 4))
    compact.add_box(first, Box("cat", 0, 0, 5, 5, iscrowd=True))
    compact.add_box(second, Box("cat", 2, 2, 3, 3))
    assert list(compact) == [
        Example(Path("a.jpg"), 10, 10, (Box("cat", 0.0, 0.0, 5.0, 5.0, iscrowd=True),), "s.json"),
        Example(Path("b.jpg"), None, None, (Box("dog", 1, 2, 3, 4), Box("cat", 2, 2, 3, 3)), "s.json", "val"),
    ]


def test_spill_rows_round_trip_from_any_offset(tmp_path: Path) -> None:
    spill = RowSpill(tmp_path / "rows")
    rows = [(i, f"path/{i}", (0.1 * i, None), {"k": [i]}) for i in range(50)]
    offsets = [spill.append(row) for row in rows]
    spill.close()
    assert list(spill) == rows
    assert list(read_rows(spill.path, offsets[20], 5)) == rows[20:25]
    assert spill.count == 50 and spill.size == (tmp_path / "rows").stat().st_size


def checked(example: Example, index: int) -> CheckedExample:
    info = ImageInfo(example.image.as_posix(), hashlib.sha256(str(index).encode()).hexdigest(), 1000 + index,
                     "JPEG", "RGB", 100, 100, 1, None, index)
    final = Example(example.image, 100, 100, example.boxes, example.source, example.split)
    return CheckedExample(final, info, False, 100, 100)


def test_checked_examples_and_jobs_round_trip_through_rows(tmp_path: Path) -> None:
    items = sorted((checked(e, i) for i, e in enumerate(random_examples(30))), key=lambda c: c.image.path)
    assert [checked_from_row(checked_row(c)) for c in items] == items
    shards = plan_shards(tmp_path, items, {c.image.path: "train" for c in items}, ["cat", "dog", "éléphant"], 1, "s",
                         tmp_path)
    jobs = list(shards[0].jobs())
    assert [job.image for job in jobs] == [c.image for c in items]
    assert [job_from_row(str(tmp_path), job_row(job)) for job in jobs] == jobs


def test_streamed_shards_match_the_sorted_assignment(tmp_path: Path) -> None:
    """Same members, order and digests as cutting each split's sorted paths with assign_shards."""
    items = sorted((checked(e, i) for i, e in enumerate(random_examples(101, seed=3))), key=lambda c: c.image.path)
    splits = {c.image.path: ["train", "val", "test"][i % 3] for i, c in enumerate(items)}
    classes = ["cat", "dog", "éléphant"]
    shards = plan_shards(tmp_path, items, splits, classes, 4, "salt", tmp_path)
    expected = []
    for split in ("train", "val", "test"):
        members = [c for c in items if splits[c.image.path] == split]
        count = shard_count(len(members), sum(c.image.size_bytes for c in members), 4)
        for index, positions in enumerate(assign_shards([c.image.path for c in members], count)):
            paths = [members[i].image.path for i in positions]
            expected.append((split, shard_name(split, index, count), paths))
    assert [(s.split, s.name, [j.image.path for j in s.jobs()]) for s in shards] == expected
    for shard in shards:
        digests = "".join(job_digest(job) for job in shard.jobs())
        assert shard.digest == hashlib.sha256(("salt" + digests).encode()).hexdigest()
        assert shard.count == len(list(shard.jobs()))


def test_shard_bounds_are_what_assign_shards_cuts() -> None:
    for total, count in ((10, 3), (7, 7), (2, 5), (0, 1)):
        keys = [f"{i:03d}" for i in range(total)]
        assert [list(range(a, b)) for a, b in shard_bounds(total, count)] == assign_shards(keys, count)


def test_report_tally_equals_the_batch_report() -> None:
    rng = random.Random(5)
    examples = [
        ReportExample(e.image.as_posix(), rng.choice(["train", "val", "test"]), rng.choice([100, 640]), 100, e.boxes)
        for e in random_examples(300, seed=5)
    ]
    tally = ReportTally()
    for e in examples:
        tally.add(e.key, e.split, e.width, e.height, e.boxes)
    streamed, batch = tally.report((), ["dog", "zebra"]), report_from_examples(examples, (), ["dog", "zebra"])
    assert streamed == batch and streamed.to_json() == batch.to_json()
    train = [e for e in examples if e.split == "train"]
    assert list(streamed.splits["train"].box_sizes) == list(split_stats(train, batch.classes).box_sizes)


def test_each_shard_is_handed_on_once_its_jobs_are_all_readable(tmp_path: Path) -> None:
    """A build writes a shard while the rest are still planned: ``on_shard`` gets each shard as soon as its split
    moves past it (before the last example for all but each split's last), with its jobs already in the file."""
    items = sorted((checked(e, i) for i, e in enumerate(random_examples(101, seed=5))), key=lambda c: c.image.path)
    splits = {c.image.path: ["train", "val", "test"][i % 3] for i, c in enumerate(items)}
    classes = ["cat", "dog", "éléphant"]
    handed: list[tuple[int, str, list[str]]] = []
    added = 0

    def on_shard(shard: Any) -> None:
        handed.append((added, shard.name, [job.image.path for job in shard.jobs()]))  # read now, by path

    (tmp_path / "early").mkdir()
    planner = ShardPlanner(tmp_path, [c.image.path for c in items], array("q", (c.image.size_bytes for c in items)),
                           splits, classes, 4, "salt", tmp_path / "early", on_shard)
    for item in items:
        planner.add(item)
        added += 1
    shards = planner.finish()
    expected = plan_shards(tmp_path, items, splits, classes, 4, "salt", tmp_path)
    assert [(s.split, s.name, s.digest, s.count) for s in shards] == \
        [(s.split, s.name, s.digest, s.count) for s in expected]
    assert sorted(name for _, name, _ in handed) == sorted(s.name for s in shards)
    by_name = {s.name: [job.image.path for job in s.jobs()] for s in expected}
    assert all(paths == by_name[name] for _, name, paths in handed)
    early = [name for when, name, _ in handed if when < len(items)]
    assert len(early) == len(shards) - 3  # every shard but the three splits' last was handed on early
