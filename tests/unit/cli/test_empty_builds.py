"""Nothing empty passes as success, through the command line: `odspec build` and `odspec validate --data`.

The dataset is a PASCAL VOC devkit folder as the VOC2007/2012 downloads unpack it
(``VOC2012/Annotations/*.xml``, ``VOC2012/JPEGImages/*.jpg``,
``VOC2012/ImageSets/Main/{train,val}.txt`` listing image ids one a line; the
devkit's development kit doc, section "Image Sets", and e.g.
https://www.codetd.com/en/article/15875408), annotated in the LabelImg style of
odspec.datasets.encode.voc_xml, with the split taken from the image sets.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image
from support import REPO, minimal_spec, tree_digest, write_spec

from odspec.datasets.encode import voc_xml
from odspec.datasets.model import Box, Example

TRAIN, VAL = 6, 3
SIZE = (64, 48)


def odspec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def devkit(folder: Path, *, val_box_past_edge: bool = False, lists: tuple[str, ...] = ("train", "val")) -> None:
    """VOC2012/ with TRAIN + VAL images (all listed as train without "val" in ``lists``);
    val's boxes run past the right edge when asked."""
    voc = folder / "VOC2012"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    ids = {"train": [f"2012_{i:06d}" for i in range(TRAIN)], "val": [f"2012_{i:06d}" for i in range(TRAIN, TRAIN + VAL)]}
    for split, names in ids.items():
        for number, stem in enumerate(names):
            out = io.BytesIO()
            shade = 20 * number + (0 if split == "train" else 130)
            Image.new("RGB", SIZE, (shade, 255 - shade, 40)).save(out, format="JPEG")
            (voc / "JPEGImages" / f"{stem}.jpg").write_bytes(out.getvalue())
            xmax = SIZE[0] + 20 if split == "val" and val_box_past_edge else 40
            example = Example(Path(f"{stem}.jpg"), *SIZE, (Box("cat" if number % 2 else "dog", 4, 4, xmax, 30),), "t")
            (voc / "Annotations" / f"{stem}.xml").write_text(voc_xml(example, folder="VOC2012"))
    if "val" not in lists:  # every image listed as train (an export with no validation set)
        ids = {"train": ids["train"] + ids["val"]}
    for split, listed in ids.items():
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{s}\n" for s in listed))


def project(tmp_path: Path, **dataset: object) -> Path:
    spec = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["cat", "dog"])
    spec["dataset"] = {"format": "voc", "images": "VOC2012/JPEGImages", "annotations": "VOC2012/Annotations",
                       "classes": ["cat", "dog"], "split": {"from_source": True}, **dataset}
    return write_spec(tmp_path, spec)


def test_a_build_whose_val_images_were_all_skipped_fails_and_keeps_the_previous_build(tmp_path: Path) -> None:
    devkit(tmp_path)
    spec = project(tmp_path, on_bad_annotation="skip_image")
    first = odspec("build", str(spec))
    assert first.returncode == 0, first.stderr
    out = tmp_path / "build" / "test"
    config = (out / "pipeline.config").read_text()
    assert "val-?????-of-?????.tfrecord" in config and "test-?????" not in config
    assert sorted(p.name.split("-")[0] for p in out.glob("*.tfrecord")) == ["train", "val"]
    assert "finding: test split: test holds no images: the source split gives only train and val " \
           "(no shards written: nothing reads this split)" in first.stderr
    before = tree_digest(tmp_path)

    devkit(tmp_path, val_box_past_edge=True)
    changed = tree_digest(tmp_path)
    again = odspec("build", str(spec))
    assert again.returncode == 2
    assert (f"error: nothing to build: all {VAL} images of val were skipped: {VAL} box extends past the right edge "
            f"(dataset.on_bad_annotation: skip_image). Images per split: train {TRAIN}, val 0, test 0") in again.stderr
    assert tree_digest(out) == {k[len("build/test/"):]: v for k, v in before.items() if k.startswith("build/test/")}
    assert tree_digest(tmp_path) == changed  # nothing staged or left behind either

    checked = odspec("validate", str(spec), "--data")
    assert checked.returncode == 1
    assert checked.stderr.count(f"all {VAL} images of val were skipped") == 1
    assert f"image skipped ({VAL}):" in checked.stderr
    assert tree_digest(tmp_path) == changed


def test_a_source_split_without_val_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    devkit(tmp_path, lists=("train",))
    spec = project(tmp_path)
    built = odspec("build", str(spec))
    assert built.returncode == 2
    assert (f"error: nothing to build: val holds no images: the source split gives only train. "
            f"Images per split: train {TRAIN + VAL}, val 0, test 0") in built.stderr
    assert list((tmp_path / "build").iterdir()) == []  # no build folder, no lock or staging left
    before = tree_digest(tmp_path)
    checked = odspec("validate", str(spec), "--data", "--json")
    assert checked.returncode == 1
    data = json.loads(checked.stdout)
    assert data["ok"] is False
    assert data["error"]["message"] == ("nothing to build: val holds no images: the source split gives only train. "
                                        f"Images per split: train {TRAIN + VAL}, val 0, test 0")
    assert tree_digest(tmp_path) == before


def test_validate_data_reports_what_the_build_would_and_writes_nothing(tmp_path: Path) -> None:
    devkit(tmp_path)
    spec = project(tmp_path)
    before = tree_digest(tmp_path)
    checked = odspec("validate", str(spec), "--data", "--json")
    assert checked.returncode == 0, checked.stderr
    data = json.loads(checked.stdout)
    assert data["ok"] is True and data["error"] is None
    assert data["report"]["splits"]["train"]["images"] == TRAIN and data["report"]["splits"]["val"]["images"] == VAL
    assert [f["file"] for f in data["findings"]] == ["test split"]
    assert tree_digest(tmp_path) == before
    plain = odspec("validate", str(spec), "--data")
    assert plain.returncode == 0 and ": ok, the build would succeed" in plain.stdout
    built = odspec("build", str(spec))
    assert built.returncode == 0
    report = json.loads((tmp_path / "build" / "test" / "report.json").read_text())
    assert report["splits"] == data["report"]["splits"]  # the same plan, with or without the build's cache
    assert data["build_cache_used"] is False
    again = json.loads(odspec("validate", str(spec), "--data", "--json").stdout)
    assert again["build_cache_used"] is True and again["report"] == report


def test_evaluating_on_a_test_split_with_no_share_fails_the_build_naming_the_counts(tmp_path: Path) -> None:
    devkit(tmp_path)
    spec = write_spec(tmp_path, {**minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["cat", "dog"]),
                                 "dataset": {"format": "voc", "images": "VOC2012/JPEGImages",
                                             "annotations": "VOC2012/Annotations", "classes": ["cat", "dog"],
                                             "split": {"train": 0.7, "val": 0.3, "test": 0.0}},
                                 "eval": {"split": "test"}})
    built = odspec("build", str(spec))
    assert built.returncode == 2, built.stderr
    errors = [line for line in built.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    counts = re.fullmatch(r"error: nothing to build: test holds no images: split\.test is 0\. "
                          r"Images per split: train (\d+), val (\d+), test 0 \(give the split a share "
                          r"\(split\.train/val/test\) or add images; the previous build is left as it was\)", errors[0])
    assert counts, errors[0]
    assert int(counts[1]) + int(counts[2]) == TRAIN + VAL and int(counts[1]) and int(counts[2])
    assert list((tmp_path / "build").iterdir()) == []
