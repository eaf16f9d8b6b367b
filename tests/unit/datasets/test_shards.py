"""Shard counts, assignment and names: pure decisions."""

from __future__ import annotations

import fnmatch
import hashlib

import pytest

from odspec.datasets.shards import (
    SHARD_GLOB,
    assign_shards,
    shard_count,
    shard_glob,
    shard_name,
)

MB = 1000 * 1000


def keys(count: int, salt: str = "") -> list[str]:
    return [hashlib.sha256(f"{salt}{i}".encode()).hexdigest() for i in range(count)]


@pytest.mark.parametrize(
    ("num_examples", "total_bytes", "requested", "expected"),
    [
        (0, 0, None, 1),  # an empty split still gets one (empty) shard
        (0, 0, 4, 1),
        (1, 10 * MB, None, 1),
        (1000, 99 * MB, None, 1),
        (1000, 100 * MB, None, 1),
        (1000, 100 * MB + 1, None, 2),
        (1000, 950 * MB, None, 10),
        (100_000, 40_000 * MB, None, 256),  # automatic count capped at 256
        (3, 950 * MB, None, 3),  # never more shards than examples
        (1000, 10 * MB, 8, 8),  # requested wins over the size rule
        (100_000, 10 * MB, 300, 300),  # and over the automatic cap
        (5, 10 * MB, 8, 5),  # more shards requested than examples
    ],
)
def test_shard_count(num_examples: int, total_bytes: int, requested: int | None, expected: int) -> None:
    assert shard_count(num_examples, total_bytes, requested) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 0, 0), "requested shards must be between 1 and 99999, got 0"),
        ((10, 0, 100_000), "requested shards must be between 1 and 99999, got 100000"),
        ((-1, 0, None), "cannot be negative"),
    ],
)
def test_shard_count_refuses_impossible_input(args: tuple[int, int, int | None], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shard_count(*args)


def test_assignment_is_a_sorted_contiguous_partition_of_near_equal_blocks() -> None:
    names = keys(103)
    shards = assign_shards(names, 4)
    assert sorted(i for shard in shards for i in shard) == list(range(103))
    assert [len(shard) for shard in shards] == [25, 26, 26, 26]
    flat = [names[i] for shard in shards for i in shard]
    assert flat == sorted(names)


def test_assignment_does_not_depend_on_input_order() -> None:
    names = keys(50)
    shuffled = list(reversed(names))
    as_keys = [[names[i] for i in shard] for shard in assign_shards(names, 3)]
    assert [[shuffled[i] for i in shard] for shard in assign_shards(shuffled, 3)] == as_keys


def test_adding_one_key_moves_at_most_one_member_at_each_shard_end() -> None:
    names = keys(400)
    before = [{names[i] for i in shard} for shard in assign_shards(names, 8)]
    grown = [*names, hashlib.sha256(b"new image").hexdigest()]
    after = [{grown[i] for i in shard} for shard in assign_shards(grown, 8)]
    for old, new in zip(before, after, strict=True):
        assert len(old - new) <= 2
        assert len(new - old) <= 2
    assert sum(len(old ^ new) for old, new in zip(before, after, strict=True)) < 0.1 * len(names)


def test_assignment_edge_cases() -> None:
    assert assign_shards([], 1) == [[]]
    assert assign_shards(["b", "a"], 1) == [[1, 0]]
    assert assign_shards(["c", "a", "b"], 5) == [[], [1], [], [2], [0]]
    assert assign_shards(["x", "x", "a"], 2) == [[2], [0, 1]]  # equal keys keep input order
    with pytest.raises(ValueError, match="shard count must be between 1 and 99999, got 0"):
        assign_shards(["a"], 0)


def test_names_match_the_config_glob() -> None:
    assert shard_name("train", 0, 4) == "train-00000-of-00004.tfrecord"
    assert shard_name("val", 11, 12) == "val-00011-of-00012.tfrecord"
    assert shard_glob("train") == SHARD_GLOB.format(split="train") == "train-?????-of-?????.tfrecord"
    assert fnmatch.fnmatchcase(shard_name("train", 3, 256), shard_glob("train"))
    assert not fnmatch.fnmatchcase(shard_name("val", 0, 1), shard_glob("train"))


@pytest.mark.parametrize(("index", "count"), [(4, 4), (-1, 4), (0, 0), (0, 100_000)])
def test_names_refuse_impossible_indices(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="must be between"):
        shard_name("train", index, count)
