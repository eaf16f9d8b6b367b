"""The findings catalogue through `odspec build`: a stopped build names the problem exactly and loses nothing.

Each case starts from a good build, breaks the dataset in one way and builds
again with ``on_bad_annotation: stop``: the error must carry the finding's
exact line (``file: what (action)``, worded as in ``odspec/datasets/checks.py``),
the previous build must be byte-for-byte what it was, and nothing staged or
temporary may be left behind. Under ``skip_image`` and ``repair`` the same
problems build, and the report and the records say what was done.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import minimal_spec, write_spec

from odspec import api
from odspec.datasets.encode import coco_json, csv_text, voc_xml
from odspec.datasets.model import Box, Example
from odspec.errors import DatasetError, SpecError
from odspec.records.example import parse_example
from odspec.records.tfrecord import read_records

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"
CLASSES = ["cat", "dog"]
SIZE = (64, 48)
GOOD_IMAGES = 6
STOP_HINT = "(set dataset.on_bad_annotation to skip_box, skip_image or repair to build without them)"
ANNOTATIONS = {"voc": "annotations", "coco": "annotations/instances.json", "csv": "annotations/labels.csv"}


@dataclass
class Dataset:
    """A small dataset on disk: ``examples`` are written as annotations of ``fmt`` by :meth:`save`."""

    root: Path
    fmt: str = "voc"
    examples: list[Example] = field(default_factory=list)

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def annotations(self) -> Path:
        return self.root / "annotations"

    @property
    def out(self) -> Path:
        return self.root / "build" / "test"

    def add(self, name: str, boxes: tuple[Box, ...] = (), *, size: tuple[int, int] | None = SIZE,
            colour: int | None = None, kind: str = "JPEG") -> Path:
        """An image of its own colour (no two share bytes) and its annotation entry."""
        width, height = SIZE
        if colour is not None:
            self.images.mkdir(parents=True, exist_ok=True)
            out = io.BytesIO()
            Image.new("RGB", (width, height), (colour, 255 - colour, (7 * colour) % 256)).save(out, format=kind)
            (self.images / name).write_bytes(out.getvalue())
        recorded = size or (None, None)
        self.examples.append(Example(Path(name), recorded[0], recorded[1], boxes, "test"))
        return self.images / name

    def save(self) -> None:
        self.annotations.mkdir(parents=True, exist_ok=True)
        for old in self.annotations.iterdir():
            old.unlink()
        if self.fmt == "voc":
            for index, example in enumerate(self.examples):
                text = voc_xml(example).replace(f"<filename>{example.image.name}<",
                                                f"<filename>{example.image.as_posix()}<")
                (self.annotations / f"{index:03d}_{example.image.stem}.xml").write_text(text)
        elif self.fmt == "coco":
            (self.root / ANNOTATIONS["coco"]).write_text(coco_json(self.examples, CLASSES))
        else:
            (self.root / ANNOTATIONS["csv"]).write_text(csv_text(self.examples))

    def spec(self, **dataset: Any) -> Path:
        spec = minimal_spec(FPNLITE, CLASSES, **{k: v for k, v in dataset.items() if k == "train"})
        spec["dataset"] = {**spec["dataset"], "format": self.fmt, "annotations": ANNOTATIONS[self.fmt],
                           **{k: v for k, v in dataset.items() if k != "train"}}
        return write_spec(self.root, spec)


def box(label: str = "cat", xmin: float = 8, ymin: float = 6, xmax: float = 40, ymax: float = 30) -> Box:
    return Box(label, xmin, ymin, xmax, ymax)


def good_dataset(root: Path, fmt: str = "voc") -> Dataset:
    data = Dataset(root, fmt)
    for index in range(GOOD_IMAGES):
        data.add(f"good_{index}.jpg", (box(CLASSES[index % 2]),), colour=20 * index + 10)
    data.save()
    return data


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file of a build (hidden ones too): bytes, inode and mtime."""
    return {p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def leftovers(root: Path) -> list[str]:
    """Staging folders, interrupted swaps and temporary files anywhere under ``root``."""
    found = []
    for folder, dirs, files in os.walk(root):
        found.extend(os.path.relpath(os.path.join(folder, name), root)
                     for name in dirs + files if name.endswith((".staging", ".old", ".tmp")))
    return sorted(found)


def records(out: Path) -> dict[str, dict[str, list[Any]]]:
    found = {}
    for shard in sorted(out.glob("*.tfrecord")):
        for data in read_records(shard):
            features = parse_example(data)
            found[features["image/filename"][0].decode()] = features
    return found


def report_findings(out: Path) -> dict[str, list[str]]:
    """action -> ``file: what`` of each finding in report.json."""
    report = json.loads((out / "report.json").read_text())
    return {action: [f"{f['file']}: {f['what']}" for f in items]
            for action, items in report["findings"]["by_action"].items()}


# --- the cases: each breaks a good dataset and returns the finding line a stopped build must show ---

def missing_image(data: Dataset) -> str:
    data.add("ghost.jpg", (box(),))
    return "ghost.jpg: image file not found (error)"


def truncated_jpeg(data: Dataset) -> str:
    path = data.add("cut.jpg", (box(),), colour=200)
    path.write_bytes(path.read_bytes()[:-20])  # cut off mid-scan: the header still reads
    return "cut.jpg: image file is truncated (JPEG data ends early) (error)"


def corrupt_png(data: Dataset) -> str:
    path = data.add("bad.png", (box(),), colour=210, kind="PNG")
    raw = bytearray(path.read_bytes())
    chunk = raw.index(b"IDAT") - 4  # the chunk starts with its length
    raw[chunk + 8 + 2] ^= 0xFF  # a byte of the compressed data: the chunk's CRC no longer matches
    path.write_bytes(bytes(raw))
    return f"bad.png: image file is corrupt: CRC mismatch in chunk IDAT at byte {chunk} (error)"


def size_mismatch(data: Dataset) -> str:
    data.add("sized.jpg", (box(),), size=(100, 80), colour=220)
    return "sized.jpg: annotation size 100x80 differs from the image's 64x48 (error)"


def box_partly_outside(data: Dataset) -> str:
    data.add("wide.jpg", (box(xmax=70),), colour=230)
    return "wide.jpg: box 1 (cat) extends past the right edge (xmax 70 > width 64) (error)"


def box_entirely_outside(data: Dataset) -> str:
    data.add("away.jpg", (box(ymin=50, ymax=60),), colour=240)
    return "away.jpg: box 1 (cat) lies outside the image (ymin 50 >= height 48) (error)"


def zero_area_box(data: Dataset) -> str:
    data.add("flat.jpg", (box(xmin=10, xmax=10),), colour=250)
    return "flat.jpg: box 1 (cat) has no area (xmin 10 >= xmax 10) (error)"


def unknown_class(data: Dataset) -> str:
    data.add("cats.jpg", (box(), box("cats", 40, 30, 60, 44)), colour=5)
    return "cats.jpg: box 2 has unknown class 'cats', did you mean 'cat'? (error)"


def duplicate_bytes(data: Dataset) -> str:
    (data.images / "good_3_copy.jpg").write_bytes((data.images / "good_3.jpg").read_bytes())
    data.add("good_3_copy.jpg", (box(),))
    return "good_3_copy.jpg: same bytes as good_3.jpg (error)"


def annotated_twice(data: Dataset) -> str:
    data.add("good_2.jpg", (box("dog"),))
    first, second = (data.annotations / "002_good_2.xml", data.annotations / f"{GOOD_IMAGES:03d}_good_2.xml")
    return f"good_2.jpg: annotated twice ({first}, {second}) (error)"


def symlink_out_of_root(data: Dataset) -> str:
    outside = data.root / "elsewhere.jpg"
    Image.new("RGB", SIZE, (1, 2, 3)).save(outside)
    (data.images / "link.jpg").symlink_to(Path("..") / "elsewhere.jpg")
    data.add("link.jpg", (box(),))
    return "link.jpg: image path escapes the dataset root (error)"


def folder_symlink_out_of_root(data: Dataset) -> str:
    outside = data.root / "elsewhere"
    outside.mkdir()
    Image.new("RGB", SIZE, (1, 2, 3)).save(outside / "x.jpg")
    (data.images / "sub").symlink_to(Path("..") / "elsewhere", target_is_directory=True)
    data.add("sub/x.jpg", (box(),))
    return "sub/x.jpg: image path escapes the dataset root (error)"


STOPPING: dict[str, Callable[[Dataset], str]] = {
    "missing image": missing_image,
    "truncated jpeg": truncated_jpeg,
    "corrupt png": corrupt_png,
    "annotation size": size_mismatch,
    "box partly outside": box_partly_outside,
    "box entirely outside": box_entirely_outside,
    "zero-area box": zero_area_box,
    "unknown class": unknown_class,
    "duplicate image": duplicate_bytes,
    "annotated twice": annotated_twice,
    "symlink escapes the root": symlink_out_of_root,
    "folder symlink escapes the root": folder_symlink_out_of_root,
}


def build_then_break(tmp_path: Path, breaker: Callable[[Dataset], str], fmt: str = "voc", **dataset: Any
                     ) -> tuple[Dataset, Path, str, dict[str, tuple[bytes, int, int]]]:
    data = good_dataset(tmp_path, fmt)
    spec = data.spec(on_bad_annotation="stop", **dataset)
    out = api.build(spec, workers=1).out_dir
    assert out == data.out and len(records(out)) == GOOD_IMAGES
    before = snapshot(out)
    line = breaker(data)
    data.save()
    return data, spec, line, before


def assert_untouched(data: Dataset, before: dict[str, tuple[bytes, int, int]]) -> None:
    assert snapshot(data.out) == before
    assert sorted(p.name for p in data.out.parent.iterdir()) == ["test"]
    assert leftovers(data.root) == []


@pytest.mark.parametrize("case", list(STOPPING))
def test_stop_names_the_problem_and_keeps_the_previous_build(tmp_path: Path, case: str) -> None:
    data, spec, line, before = build_then_break(tmp_path, STOPPING[case])
    with pytest.raises(DatasetError) as caught:
        api.build(spec, workers=1)
    message = str(caught.value)
    assert message.startswith("1 dataset problem stops the build:\n")
    assert f"\n  {line}" in message
    if "escapes" not in line:
        assert message.endswith(STOP_HINT)
    assert_untouched(data, before)


@pytest.mark.parametrize("policy", ["skip_box", "skip_image", "repair"])
def test_a_path_escaping_through_a_symlink_stops_whatever_the_policy(tmp_path: Path, policy: str) -> None:
    data, spec, line, before = build_then_break(tmp_path, symlink_out_of_root)
    spec = data.spec(on_bad_annotation=policy)
    with pytest.raises(DatasetError) as caught:
        api.build(spec, workers=1)
    assert f"\n  {line}" in str(caught.value)
    assert "whatever dataset.on_bad_annotation says" in str(caught.value)
    assert_untouched(data, before)


def dotdot_out_of_root(data: Dataset) -> str:
    Image.new("RGB", SIZE, (1, 2, 3)).save(data.root / "outside.jpg")
    data.add("../outside.jpg", (box(),))
    return "../outside.jpg"


@pytest.mark.parametrize("fmt", ["voc", "coco", "csv"])
def test_a_path_escaping_through_dotdot_stops_the_build(tmp_path: Path, fmt: str) -> None:
    data, spec, name, before = build_then_break(tmp_path, dotdot_out_of_root, fmt)
    with pytest.raises(DatasetError) as caught:
        api.build(spec, workers=1)
    assert name in str(caught.value)
    assert_untouched(data, before)


def too_many_boxes(data: Dataset) -> str:
    data.add("busy.jpg", (box(), box("dog", 44, 4, 60, 20), box("cat", 2, 34, 20, 46)), colour=15)
    return "busy.jpg: 3 boxes, more than the model's limit of 2"


def test_more_boxes_than_max_boxes_stops_before_reading_images(tmp_path: Path) -> None:
    """Under stop the spec check sees the busiest image first, and names the setting to change."""
    data, spec, _, before = build_then_break(tmp_path, too_many_boxes, train={"max_boxes": 2})
    lines = spec.read_text().splitlines()
    row = next(i for i, text in enumerate(lines, start=1) if text.strip().startswith("max_boxes:"))
    column = lines[row - 1].index("max_boxes:") + len("max_boxes: ") + 1
    with pytest.raises(SpecError) as caught:
        api.build(spec, workers=1)
    assert str(caught.value) == (
        f"{spec}:{row}:{column}: train.max_boxes: train_config.max_number_of_boxes is 2, "
        "but an image in the dataset has 3 boxes (e.g. max_boxes: 3)")
    assert_untouched(data, before)


def test_image_without_boxes_is_skipped_and_reported_when_negatives_are_not_kept(tmp_path: Path) -> None:
    """Not an error, even under stop: the catalogue says skipped and reported."""
    data = good_dataset(tmp_path)
    data.add("empty.jpg", (), colour=99)
    data.save()
    out = api.build(data.spec(on_bad_annotation="stop", keep_empty_images=False), workers=1).out_dir
    assert report_findings(out) == {"image skipped": ["empty.jpg: no boxes (dataset.keep_empty_images: false)"]}
    assert sorted(records(out)) == [f"good_{i}.jpg" for i in range(GOOD_IMAGES)]

    kept = api.build(data.spec(on_bad_annotation="stop", keep_empty_images=True), workers=1).out_dir
    assert report_findings(kept) == {}
    assert records(kept)["empty.jpg"]["image/object/class/label"] == []


POLICY_CASES = [
    # (case, policy, breaker, spec extras, action, what, records expected, check of the kept record)
    ("partly outside", "repair", box_partly_outside, {}, "clipped",
     "wide.jpg: box 1 (cat) extends past the right edge (xmax 70 > width 64)", GOOD_IMAGES + 1,
     lambda found: found["wide.jpg"]["image/object/bbox/xmax"] == [1.0]),
    ("partly outside", "skip_image", box_partly_outside, {}, "image skipped",
     "wide.jpg: box 1 (cat) extends past the right edge (xmax 70 > width 64)", GOOD_IMAGES,
     lambda found: "wide.jpg" not in found),
    ("unknown class", "repair", unknown_class, {}, "box dropped",
     "cats.jpg: box 2 has unknown class 'cats', did you mean 'cat'?", GOOD_IMAGES + 1,
     lambda found: found["cats.jpg"]["image/object/class/text"] == [b"cat"]),
    ("unknown class", "skip_image", unknown_class, {}, "image skipped",
     "cats.jpg: box 2 has unknown class 'cats', did you mean 'cat'?", GOOD_IMAGES,
     lambda found: "cats.jpg" not in found),
    ("too many boxes", "repair", too_many_boxes, {"train": {"max_boxes": 2}}, "extra boxes dropped",
     "busy.jpg: 3 boxes, more than the model's limit of 2", GOOD_IMAGES + 1,
     lambda found: found["busy.jpg"]["image/object/class/text"] == [b"cat", b"dog"]),
    ("too many boxes", "skip_image", too_many_boxes, {"train": {"max_boxes": 2}}, "image skipped",
     "busy.jpg: 3 boxes, more than the model's limit of 2", GOOD_IMAGES,
     lambda found: "busy.jpg" not in found),
]


@pytest.mark.parametrize(("policy", "breaker", "extras", "action", "what", "count", "check"),
                         [case[1:] for case in POLICY_CASES],
                         ids=[f"{case[0]}-{case[1]}" for case in POLICY_CASES])
def test_other_policies_build_and_report(tmp_path: Path, policy: str, breaker: Callable[[Dataset], str],
                                         extras: dict[str, Any], action: str, what: str, count: int,
                                         check: Callable[[dict[str, Any]], bool]) -> None:
    data = good_dataset(tmp_path)
    breaker(data)
    data.save()
    result = api.build(data.spec(on_bad_annotation=policy, **extras), workers=1)
    assert report_findings(result.out_dir) == {action: [what]}
    assert [str(f) for f in result.findings if not f.action.startswith("warning")] == [f"{what} ({action})"]
    found = records(result.out_dir)
    assert len(found) == count
    manifest = json.loads((result.out_dir / "build.json").read_text())
    assert sum(s["records"] for s in manifest["shards"].values()) == count
    assert check(found)
    assert leftovers(data.root) == []
