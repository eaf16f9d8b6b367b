from __future__ import annotations

import hashlib

import pytest

from odspec.datasets.split import (
    SplitItem,
    assign_splits,
    base_split,
    class_split_counts,
    split_counts,
    unit_hash,
)

RATIOS = (0.8, 0.1, 0.1)
CLASSES = ("cat", "dog", "fox", "owl", "eel")


def key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def items(n: int, start: int = 0, classes: tuple[str, ...] = CLASSES) -> list[SplitItem]:
    """Synthetic images; image i shows classes i % 5 and (i // 5) % 5 (one or two classes)."""
    return [
        SplitItem(key(f"img{i}"), frozenset({classes[i % len(classes)], classes[(i // 5) % len(classes)]}), None)
        for i in range(start, start + n)
    ]


def test_base_assignment_follows_the_documented_hash() -> None:
    k = key("a.jpg")
    u = int(hashlib.sha256(f"7:{k}".encode()).hexdigest()[:16], 16) / 2**64
    assert unit_hash(7, k) == u
    expected = "train" if u < 0.8 else "val" if u < 0.9 else "test"
    assert base_split(k, seed=7, ratios=RATIOS) == expected


def test_assignment_is_deterministic_and_independent_of_input_order() -> None:
    data = items(300)
    first = assign_splits(data, ratios=RATIOS, seed=1, use_source=False)
    assert first == assign_splits(list(reversed(data)), ratios=RATIOS, seed=1, use_source=False)
    assert set(first) == {i.key for i in data}


def test_ratios_are_honoured_within_two_percent_on_10000_keys() -> None:
    data = items(10_000)
    counts = split_counts(assign_splits(data, ratios=(0.7, 0.2, 0.1), seed=3, use_source=False))
    assert sum(counts.values()) == 10_000
    for name, share in zip(("train", "val", "test"), (0.7, 0.2, 0.1), strict=True):
        assert abs(counts[name] / 10_000 - share) < 0.02, counts


def test_a_zero_share_split_gets_nothing() -> None:
    counts = split_counts(assign_splits(items(2000), ratios=(0.9, 0.1, 0.0), seed=0, use_source=False))
    assert counts["test"] == 0 and counts["train"] > 0 and counts["val"] > 0


def test_adding_images_never_moves_old_ones_given_the_previous_assignment() -> None:
    old, new = items(2000), items(500, start=2000)
    first = assign_splits(old, ratios=RATIOS, seed=5, use_source=False)
    second = assign_splits(old + new, ratios=RATIOS, seed=5, use_source=False, previous=first)
    assert {k: second[k] for k in first} == first


def rare_items(batch: str, n_classes: int = 10) -> list[SplitItem]:
    """Three images for each of ``n_classes`` rare classes: the ones stratification acts on."""
    return [
        SplitItem(key(f"{batch}{c}-{i}"), frozenset({f"rare{c}"}), None) for c in range(n_classes) for i in range(3)
    ]


def test_without_previous_only_stratification_moves_old_images() -> None:
    old, new = items(2000) + rare_items("old"), items(500, start=2000) + rare_items("new")
    first = assign_splits(old, ratios=RATIOS, seed=5, use_source=False)
    second = assign_splits(old + new, ratios=RATIOS, seed=5, use_source=False)
    moved = {k for k in first if first[k] != second[k]}
    assert moved, "the data should make stratification pick differently once new images arrive"
    for k in moved:
        base = base_split(k, seed=5, ratios=RATIOS)
        assert first[k] != base or second[k] != base
    # each run moves at most one image per class into each of val and test
    assert len(moved) <= 2 * 2 * (len(CLASSES) + 10)


def test_a_rare_class_with_three_images_reaches_val_and_test() -> None:
    common = items(200, classes=("cat",))
    rare = [SplitItem(key(f"rare{i}"), frozenset({"yak"}), None) for i in range(3)]
    result = assign_splits(common + rare, ratios=RATIOS, seed=0, use_source=False)
    assert sorted(result[r.key] for r in rare) == ["test", "train", "val"]
    counts = class_split_counts(result, common + rare)
    assert counts["yak"] == {"train": 1, "val": 1, "test": 1}


def test_stratification_moves_the_train_image_with_the_largest_hash() -> None:
    rare = [SplitItem(key(f"rare{i}"), frozenset({"yak"}), None) for i in range(4)]
    result = assign_splits(rare, ratios=(0.98, 0.01, 0.01), seed=0, use_source=False)
    assert all(base_split(r.key, seed=0, ratios=(0.98, 0.01, 0.01)) == "train" for r in rare)
    by_hash = sorted((r.key for r in rare), key=lambda k: unit_hash(0, k))
    assert [result[k] for k in by_hash] == ["train", "train", "test", "val"]


def test_a_class_with_two_images_is_not_stratified() -> None:
    rare = [SplitItem(key(f"rare{i}"), frozenset({"yak"}), None) for i in range(2)]
    result = assign_splits(rare, ratios=(0.98, 0.01, 0.01), seed=0, use_source=False)
    assert set(result.values()) == {"train"}


def test_stratification_never_moves_images_kept_from_a_previous_build() -> None:
    rare = [SplitItem(key(f"rare{i}"), frozenset({"yak"}), None) for i in range(3)]
    previous = {r.key: "train" for r in rare}
    result = assign_splits(rare, ratios=RATIOS, seed=0, use_source=False, previous=previous)
    assert result == previous


def test_stratification_keeps_a_train_image_of_every_class_it_touches() -> None:
    # "both" is the only movable yak and the only train owl: moving it to test would leave train without owls
    yaks = [SplitItem(key(f"yak{i}"), frozenset({"yak"}), split) for i, split in enumerate(["val", "val", "train"])]
    both = SplitItem(key("both"), frozenset({"yak", "owl"}), None)
    assert base_split(both.key, seed=0, ratios=(0.98, 0.01, 0.01)) == "train"
    result = assign_splits([*yaks, both], ratios=(0.98, 0.01, 0.01), seed=0, use_source=True)
    assert result[both.key] == "train"
    another_owl = SplitItem(key("owl"), frozenset({"owl"}), "train")
    relaxed = assign_splits([*yaks, both, another_owl], ratios=(0.98, 0.01, 0.01), seed=0, use_source=True)
    assert relaxed[both.key] == "test"


def test_the_seed_changes_the_assignment() -> None:
    data = items(500)
    a = assign_splits(data, ratios=RATIOS, seed=1, use_source=False)
    b = assign_splits(data, ratios=RATIOS, seed=2, use_source=False)
    assert sum(a[k] != b[k] for k in a) > 50


def test_duplicates_share_one_split_and_pool_their_classes() -> None:
    dup = key("same bytes")
    data = [SplitItem(dup, frozenset({"cat"}), None), SplitItem(dup, frozenset({"dog"}), None)]
    result = assign_splits(data, ratios=RATIOS, seed=0, use_source=False)
    assert list(result) == [dup]
    assert class_split_counts(result, data) == {
        "cat": split_counts(result),
        "dog": split_counts(result),
    }


def test_use_source_keeps_source_splits_and_hashes_the_rest() -> None:
    named = [SplitItem(key(f"s{i}"), frozenset({"cat"}), "test") for i in range(50)]
    unnamed = items(50)
    result = assign_splits(named + unnamed, ratios=RATIOS, seed=0, use_source=True)
    assert all(result[i.key] == "test" for i in named)
    ignored = assign_splits(named + unnamed, ratios=RATIOS, seed=0, use_source=False)
    assert {ignored[i.key] for i in named} != {"test"}


def test_source_split_wins_over_the_previous_build() -> None:
    item = SplitItem(key("a"), frozenset(), "val")
    result = assign_splits([item], ratios=RATIOS, seed=0, use_source=True, previous={item.key: "train"})
    assert result == {item.key: "val"}


def test_previous_entries_for_a_split_now_empty_are_reassigned() -> None:
    data = items(100)
    previous = {i.key: "test" for i in data}
    result = assign_splits(data, ratios=(0.9, 0.1, 0.0), seed=0, use_source=False, previous=previous)
    assert "test" not in result.values()


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.2), (1.1, -0.1, 0.0)])
def test_bad_ratios_are_rejected(ratios: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="adding up to 1"):
        assign_splits([], ratios=ratios, seed=0, use_source=False)


def test_an_unknown_source_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown source split 'dev'"):
        assign_splits([SplitItem("k", frozenset(), "dev")], ratios=RATIOS, seed=0, use_source=True)
