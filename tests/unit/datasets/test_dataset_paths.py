from __future__ import annotations

from pathlib import Path

import pytest

from odspec.datasets.paths import (
    expand_annotation_paths,
    image_path_in_root,
    split_from_filename,
)
from odspec.errors import DatasetError

ROOT = Path("/data/images")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", Path("a.jpg")),
        ("./sub//a.jpg", Path("sub/a.jpg")),
        ("sub/../a.jpg", Path("a.jpg")),
        ("sub\\win\\a.jpg", Path("sub/win/a.jpg")),
        ("/data/images/sub/a.jpg", Path("sub/a.jpg")),
        ("../a.jpg", None),
        ("sub/../../a.jpg", None),
        ("..", None),
        (".", None),
        ("/data/images", None),
        ("/data/images2/a.jpg", None),
        ("/etc/passwd", None),
        ("C:\\data\\a.jpg", None),
        ("c:photo.jpg", None),  # drive-relative on Windows: still another machine's disk
        ("\\\\server\\share\\a.jpg", None),  # UNC
        ("1:2 crop.jpg", Path("1:2 crop.jpg")),  # a colon in a Linux file name is no drive (on every Python)
    ],
)
def test_image_paths_stay_inside_the_root(name: str, expected: Path | None) -> None:
    assert image_path_in_root(ROOT, name) == expected


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("instances_train2017.json", "train"),
        ("instances_val2017.json", "val"),
        ("image_info_test-dev2017.json", "test"),
        ("train_labels.csv", "train"),
        ("valid.json", "val"),
        ("Validation.csv", "val"),
        ("annotations.json", None),
        ("trainval.json", None),
        ("train_test.csv", None),
        ("retrain.csv", None),
    ],
)
def test_split_from_filename(name: str, split: str | None) -> None:
    assert split_from_filename(Path(name)) == split


def test_missing_annotation_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        expand_annotation_paths(tmp_path / "nope", "*.xml")
    assert str(err.value) == (
        f"annotations path {tmp_path / 'nope'} does not exist "
        "(check dataset.annotations in the spec; relative paths start at the spec's folder)"
    )
