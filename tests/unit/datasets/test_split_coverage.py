"""The one decision on empty splits (odspec.datasets.coverage): a split a run reads may not be empty."""

from __future__ import annotations

import pytest

from odspec.datasets.coverage import judge_splits, skip_reason, tally_skipped
from odspec.datasets.model import Finding
from odspec.errors import DatasetError

RATIOS = (0.8, 0.2, 0.0)


def judge(kept: dict[str, int], skipped: dict[str, dict[str, int]] | None = None, needed: tuple[str, ...] = ("train", "val"),
          **options: object) -> list[Finding]:
    settings: dict[str, object] = {"policy": "skip_image", "from_source": False, "source_splits": (), "ratios": RATIOS}
    settings.update(options)
    return judge_splits(kept, skipped or {}, needed, **settings)  # type: ignore[arg-type]


def test_reasons_lose_their_per_image_details() -> None:
    assert skip_reason("box 3 (cat) extends past the right edge (xmax 700 > width 640)") == \
        "box extends past the right edge"
    assert skip_reason("box 1 has unknown class 'dgo', did you mean 'dog'?") == "box has unknown class 'dgo'"
    assert skip_reason("image file is missing") == "image file is missing"


def test_a_needed_split_whose_images_were_all_skipped_is_refused_with_the_reasons_counted() -> None:
    skipped = {"val": {"image file is missing": 12, "box extends past the right edge": 28}}
    with pytest.raises(DatasetError) as refused:
        judge({"train": 30, "val": 0, "test": 0}, skipped)
    assert refused.value.message == (
        "nothing to build: all 40 images of val were skipped: 28 box extends past the right edge, "
        "12 image file is missing (dataset.on_bad_annotation: skip_image). Images per split: train 30, val 0, test 0")
    assert "on_bad_annotation" in (refused.value.hint or "") and "previous build" in (refused.value.hint or "")


def test_a_source_split_without_the_evaluated_split_is_refused_naming_what_the_source_gives() -> None:
    with pytest.raises(DatasetError) as refused:
        judge({"train": 9}, from_source=True, source_splits={"train"})
    assert refused.value.message == ("nothing to build: val holds no images: the source split gives only train. "
                                     "Images per split: train 9, val 0, test 0")
    assert "split.from_source: false" in (refused.value.hint or "")


def test_every_empty_needed_split_is_named_at_once() -> None:
    with pytest.raises(DatasetError) as refused:
        judge({}, {"train": {"image file is missing": 3}}, needed=("train", "test"), ratios=(0.5, 0.0, 0.5))
    text = refused.value.message
    assert "all 3 images of train were skipped: 3 image file is missing" in text
    assert "test holds no images: no image fell in its share (0.5) of the split" in text


def test_an_empty_split_nothing_reads_is_a_finding_not_a_refusal() -> None:
    found = judge({"train": 8, "val": 2, "test": 0})
    assert found == [Finding("test split", "test holds no images: split.test is 0",
                             "no shards written: nothing reads this split")]
    assert judge({"train": 8, "val": 2, "test": 1}) == []


def test_evaluating_on_test_makes_val_optional() -> None:
    found = judge({"train": 8, "test": 2}, needed=("train", "test"), ratios=(0.8, 0.0, 0.2))
    assert [f.file for f in found] == ["val split"]


def test_skipped_images_are_counted_per_split_by_their_finding() -> None:
    findings = [Finding("a.jpg", "image file is missing", "image skipped"),
                Finding("b.jpg", "box 2 (cat) has no area (xmin 5 >= xmax 3)", "image skipped"),
                Finding("c.jpg", "box 1 (cat) extends past the left edge (xmin -1 < 0)", "clipped")]
    tally = tally_skipped({"a.jpg": "val", "b.jpg": "val", "c.jpg": "train"}, findings, "image skipped")
    assert tally == {"val": {"image file is missing": 1, "box has no area": 1}, "train": {"skipped": 1}}


def test_evaluating_on_a_test_split_with_no_share_is_refused_with_the_counts() -> None:
    with pytest.raises(DatasetError) as refused:
        judge({"train": 8, "val": 2}, needed=("train", "test"), ratios=(0.8, 0.2, 0.0))
    assert refused.value.message == ("nothing to build: test holds no images: split.test is 0. "
                                     "Images per split: train 8, val 2, test 0")
    assert refused.value.hint == "give the split a share (split.train/val/test) or add images; the previous build is left as it was"


def test_a_split_the_fractions_leave_empty_is_refused_with_the_counts() -> None:
    with pytest.raises(DatasetError) as refused:
        judge({"train": 3}, ratios=(0.9, 0.1, 0.0))
    assert refused.value.message == ("nothing to build: val holds no images: no image fell in its share (0.1) of the split. "
                                     "Images per split: train 3, val 0, test 0")


def test_an_empty_train_split_is_refused_too() -> None:
    with pytest.raises(DatasetError) as refused:
        judge({"val": 4}, {"train": {"image file is missing": 5}})
    assert refused.value.message == ("nothing to build: all 5 images of train were skipped: 5 image file is missing "
                                     "(dataset.on_bad_annotation: skip_image). Images per split: train 0, val 4, test 0")
