from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from odspec.datasets.model import Box, Example, Finding
from odspec.datasets.report import (
    PNG_DPI,
    PNG_SIZE_INCHES,
    DatasetReport,
    ReportExample,
    build_report,
    quantiles,
    report_from_examples,
)


def tiny_report() -> DatasetReport:
    """Train: a 100x100 image, a 50x50 cat and a 20x10 dog; val: a 200x100 image, a 30x60 cat, and a negative."""
    examples = [
        ReportExample("k1", "train", 100, 100, (Box("cat", 0, 0, 50, 50), Box("dog", 0, 0, 20, 10))),
        ReportExample("k2", "val", 200, 100, (Box("cat", 0, 0, 30, 60),)),
        ReportExample("k3", "val", 64, 64, ()),
    ]
    return report_from_examples(examples, [Finding("b.xml", "box outside the image", "drop box", 7)], ["cat", "dog"])


EXPECTED_JSON = """\
{
  "classes": [
    "cat",
    "dog"
  ],
  "findings": {
    "by_action": {
      "drop box": [
        {
          "file": "b.xml",
          "line": 7,
          "what": "box outside the image"
        }
      ]
    },
    "counts": {
      "drop box": 1
    }
  },
  "missing_classes": {
    "train": [],
    "val": [
      "dog"
    ]
  },
  "splits": {
    "test": {
      "aspect_ratio": null,
      "box_size": null,
      "boxes": 0,
      "boxes_per_class": {
        "cat": 0,
        "dog": 0
      },
      "images": 0,
      "images_per_class": {
        "cat": 0,
        "dog": 0
      },
      "images_without_boxes": 0
    },
    "train": {
      "aspect_ratio": {
        "max": 2.0,
        "median": 1.5,
        "min": 1.0,
        "p10": 1.1,
        "p90": 1.9
      },
      "box_size": {
        "max": 0.5,
        "median": 0.320711,
        "min": 0.141421,
        "p10": 0.177279,
        "p90": 0.464142
      },
      "boxes": 2,
      "boxes_per_class": {
        "cat": 1,
        "dog": 1
      },
      "images": 1,
      "images_per_class": {
        "cat": 1,
        "dog": 1
      },
      "images_without_boxes": 0
    },
    "val": {
      "aspect_ratio": {
        "max": 0.5,
        "median": 0.5,
        "min": 0.5,
        "p10": 0.5,
        "p90": 0.5
      },
      "box_size": {
        "max": 0.3,
        "median": 0.3,
        "min": 0.3,
        "p10": 0.3,
        "p90": 0.3
      },
      "boxes": 1,
      "boxes_per_class": {
        "cat": 1,
        "dog": 0
      },
      "images": 2,
      "images_per_class": {
        "cat": 1,
        "dog": 0
      },
      "images_without_boxes": 1
    }
  },
  "totals": {
    "boxes": 3,
    "boxes_per_class": {
      "cat": 2,
      "dog": 1
    },
    "findings": 1,
    "images": 3,
    "images_without_boxes": 1
  },
  "version": 1
}
"""

EXPECTED_TABLE = """\
class     train  val  test  total
---------------------------------
cat           1    1     0      2
dog           1    0     0      1
---------------------------------
boxes         2    1     0      3
images        1    2     0      3
no boxes      0    1     0      1
findings: 1 (drop box: 1)
warning: val split has no example of class 'dog' (evaluation cannot measure it)
"""


def test_json_of_a_tiny_dataset_is_exact() -> None:
    assert tiny_report().to_json().decode("utf-8") == EXPECTED_JSON


def test_table_snapshot() -> None:
    assert tiny_report().to_table() == EXPECTED_TABLE


def test_the_report_does_not_depend_on_the_order_of_examples_or_boxes() -> None:
    report = tiny_report()
    shuffled = report_from_examples(
        [
            ReportExample("k3", "val", 64, 64, ()),
            ReportExample("k2", "val", 200, 100, (Box("cat", 0, 0, 30, 60),)),
            ReportExample("k1", "train", 100, 100, (Box("dog", 0, 0, 20, 10), Box("cat", 0, 0, 50, 50))),
        ],
        [Finding("b.xml", "box outside the image", "drop box", 7)],
        ["cat", "dog"],
    )
    assert shuffled.to_json() == report.to_json()


def test_labels_outside_the_class_list_are_listed_after_it() -> None:
    examples = [ReportExample("k", "train", 10, 10, (Box("yak", 0, 0, 5, 5), Box("cat", 0, 0, 5, 5)))]
    report = report_from_examples(examples, classes=["dog", "cat"])
    assert report.classes == ("dog", "cat", "yak")
    assert report.missing_classes == {"train": ("dog",), "val": ("dog", "cat", "yak")}


def test_class_warnings_name_the_split_and_the_consequence() -> None:
    examples = [ReportExample("k", "val", 10, 10, (Box("cat", 0, 0, 5, 5),))]
    warnings = [str(w) for w in report_from_examples(examples, classes=["cat"]).class_warnings()]
    assert warnings == ["train split: no example of class 'cat' (warning: the model cannot learn it)"]


def test_findings_are_grouped_by_action_keeping_their_order() -> None:
    findings = [
        Finding("b.jpg", "missing", "skip image"),
        Finding("a.xml", "unknown class 'yak'", "drop box", 3),
        Finding("a.jpg", "missing", "skip image"),
    ]
    report = report_from_examples([], findings)
    assert list(report.findings) == ["drop box", "skip image"]
    assert [f.file for f in report.findings["skip image"]] == ["b.jpg", "a.jpg"]
    assert report.to_table().splitlines()[-1] == "findings: 3 (drop box: 1, skip image: 2)"


def test_an_empty_dataset_reports_zeros_and_no_findings() -> None:
    report = report_from_examples([])
    assert report.to_dict()["totals"] == {
        "images": 0,
        "boxes": 0,
        "images_without_boxes": 0,
        "boxes_per_class": {},
        "findings": 0,
    }
    assert "findings: none" in report.to_table()


def test_quantiles_interpolate_like_numpy() -> None:
    q = quantiles([4.0, 1.0, 3.0, 2.0])
    assert q is not None
    assert (q.min, q.p10, q.median, q.p90, q.max) == pytest.approx((1.0, 1.3, 2.5, 3.7, 4.0))
    assert quantiles([]) is None


def test_degenerate_boxes_count_but_have_no_aspect_ratio() -> None:
    report = report_from_examples([ReportExample("k", "train", 10, 10, (Box("cat", 2, 2, 2, 8),))])
    stats = report.splits["train"]
    assert stats.boxes == 1 and stats.aspect_ratio is None
    assert stats.box_size is not None and stats.box_size.max == 0.0


def test_an_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        report_from_examples([ReportExample("k", "dev", 10, 10, ())])


def test_png_is_byte_identical_across_writes_and_has_the_fixed_size(tmp_path: Path) -> None:
    report = tiny_report()
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    report.to_png(first)
    report.to_png(second)
    assert first.read_bytes() == second.read_bytes()
    with Image.open(io.BytesIO(first.read_bytes())) as image:
        assert image.format == "PNG"
        assert image.size == (int(PNG_SIZE_INCHES[0] * PNG_DPI), int(PNG_SIZE_INCHES[1] * PNG_DPI))
        assert "Software" not in image.info
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_png_of_an_empty_dataset_renders() -> None:
    assert report_from_examples([]).png_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_importing_the_report_does_not_import_matplotlib() -> None:
    code = "import sys, odspec.datasets.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_build_report_reads_a_plan_of_checked_examples() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Info:
        path: str

    @dataclass(frozen=True)
    class Checked:
        example: Example
        image: Info
        width: int
        height: int

    @dataclass(frozen=True)
    class Plan:
        splits: dict[str, str]
        checked: tuple[Checked, ...]
        findings: tuple[Finding, ...]

    def checked(key: str, size: tuple[int, int], boxes: tuple[Box, ...]) -> Checked:
        return Checked(Example(Path(f"{key}.jpg"), None, None, boxes, "ann.xml"), Info(key), *size)

    plan = Plan(
        {"k1": "train", "k2": "val", "k3": "val"},
        (
            checked("k1", (100, 100), (Box("cat", 0, 0, 50, 50), Box("dog", 0, 0, 20, 10))),
            checked("k2", (200, 100), (Box("cat", 0, 0, 30, 60),)),
            checked("k3", (64, 64), ()),
        ),
        (Finding("b.xml", "box outside the image", "drop box", 7),),
    )
    assert build_report(plan, ["cat", "dog"]).to_json() == tiny_report().to_json()
