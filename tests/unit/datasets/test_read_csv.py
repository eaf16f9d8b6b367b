from __future__ import annotations

from pathlib import Path

from odspec.datasets import Box, Example, Finding, read_csv
from odspec.datasets.tabular import parse_csv

ROOT = Path("/data/images")
HEADER = "filename,width,height,class,xmin,ymin,xmax,ymax\n"


def test_rows_are_grouped_by_filename_in_order_of_first_appearance() -> None:
    text = HEADER + "a.jpg,640,480,cat,1,2,30,40\nb.jpg,320,240,dog,5,6,7,8\na.jpg,640,480,dog,10.5,20,30,40\n"
    examples, findings = parse_csv(ROOT, text, "train_labels.csv", "train")
    assert findings == []
    assert examples == [
        Example(Path("a.jpg"), 640, 480, (Box("cat", 1, 2, 30, 40), Box("dog", 10.5, 20, 30, 40)), "train_labels.csv", "train"),
        Example(Path("b.jpg"), 320, 240, (Box("dog", 5, 6, 7, 8),), "train_labels.csv", "train"),
    ]


def test_column_order_case_and_extra_columns_do_not_matter() -> None:
    text = "Class, XMIN,ymin,xmax,ymax,filename,width,height,note\ncat,1,2,3,4,a.jpg,10,10,hi\n"
    examples, findings = parse_csv(ROOT, text, "x.csv")
    assert findings == [] and examples[0].boxes == (Box("cat", 1, 2, 3, 4),)


def test_row_with_empty_box_cells_is_an_image_without_boxes() -> None:
    examples, findings = parse_csv(ROOT, HEADER + "neg.jpg,10,10,,,,,\n", "x.csv")
    assert findings == [] and examples == [Example(Path("neg.jpg"), 10, 10, (), "x.csv")]


def test_missing_columns_skip_the_file() -> None:
    examples, findings = parse_csv(ROOT, "filename,class,xmin\na.jpg,cat,1\n", "x.csv")
    assert examples == []
    assert [str(f) for f in findings] == ["x.csv:1: missing columns: width, height, ymin, xmax, ymax (file skipped)"]


def test_bad_rows_are_skipped_with_their_line() -> None:
    rows = [
        "a.jpg,10,10,cat,1,2,3",
        ",10,10,cat,1,2,3,4",
        "../b.jpg,10,10,cat,1,2,3,4",
        "a.jpg,ten,10,cat,1,2,3,4",
        "a.jpg,10,10,,1,2,3,4",
        "a.jpg,10,10,cat,1,two,3,4",
        "",
        "a.jpg,10,10,cat,1,2,3,4",
        "a.jpg,12,10,dog,1,2,3,4",
    ]
    examples, findings = parse_csv(ROOT, HEADER + "\n".join(rows) + "\n", "x.csv")
    assert examples == [Example(Path("a.jpg"), 10, 10, (Box("cat", 1, 2, 3, 4), Box("dog", 1, 2, 3, 4)), "x.csv")]
    assert findings == [
        Finding("x.csv", "expected 8 columns, got 7", "row skipped", 2),
        Finding("x.csv", "filename is empty", "row skipped", 3),
        Finding("x.csv", "image path '../b.jpg' leaves the images folder", "row skipped", 4),
        Finding("x.csv", "width is 'ten', expected a whole number", "row skipped", 5),
        Finding("x.csv", "class is empty", "row skipped", 6),
        Finding("x.csv", "ymin is 'two', expected a number", "row skipped", 7),
        Finding("x.csv", "a.jpg is 12x10 here but 10x10 on line 9", "first size kept", 10),
    ]


def test_files_in_a_folder_get_their_split_from_the_name(make_tree) -> None:
    root = make_tree({
        "ann/train_labels.csv": HEADER + "a.jpg,10,10,cat,1,2,3,4\n",
        "ann/test_labels.csv": "\ufeff" + HEADER + "b.jpg,10,10,dog,1,2,3,4\n",
    })
    result = read_csv(root / "images", root / "ann", None)
    assert [(str(e.image), e.split) for e in result.examples] == [("b.jpg", "test"), ("a.jpg", "train")]
    assert result.classes_seen == ("dog", "cat")
    assert result.findings == []
