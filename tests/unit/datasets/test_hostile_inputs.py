"""Hostile dataset inputs (issue 8): links out of the dataset, special files, malformed annotations, unusable names.

Each case runs the CLI as a user would (in a subprocess with a timeout, so a
build that blocks on a FIFO fails the test instead of hanging it) and checks
the exit code, the exact message and that nothing outside the build folder changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import REPO, minimal_spec, tree_digest, write_spec

from odspec.datasets import read_csv, read_voc, read_yolo
from odspec.datasets.synthetic import make_shapes

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"


def odspec_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child with a timeout: for inputs that could block a build forever."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "odspec.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)


def odspec(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process: forking the build's worker pool from a test process that already runs
    threads (left by earlier tests) can deadlock, which a real ``odspec`` process never has."""
    return odspec_subprocess(*args)


def shapes(folder: Path, images: int = 6, **dataset: Any) -> Path:
    """A VOC spec over ``images`` synthetic images in ``folder/data``."""
    make_shapes(folder / "data", images, size=(64, 64), max_boxes=2, seed=11)
    spec = minimal_spec(FPNLITE, ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations", **dataset}
    return write_spec(folder, spec)


def outside_build(folder: Path) -> dict[str, str]:
    """Everything but odspec's own build folder and the spec's lock file."""
    return {k: v for k, v in tree_digest(folder).items() if not k.startswith("build") and k != "spec.lock"}


def build_refused(spec: Path, run: Any = None) -> str:
    """Build ``spec``, which must fail leaving every input as it was; the error line."""
    before = outside_build(spec.parent)
    result = (run or odspec)("build", str(spec))
    assert result.returncode == 2, result.stderr
    assert outside_build(spec.parent) == before
    assert not (spec.parent / "build" / "test").exists()
    return result.stderr


def findings_of(stderr: str) -> list[str]:
    return [line.removeprefix("finding: ") for line in stderr.splitlines() if line.startswith("finding: ")
            and "warning" not in line]


@pytest.mark.parametrize("policy", ["stop", "skip_image", "repair"])
def test_an_image_linked_out_of_the_dataset_is_an_error_under_every_policy(tmp_path: Path, policy: str) -> None:
    spec = shapes(tmp_path, on_bad_annotation=policy)
    images = tmp_path / "data" / "images"
    shutil.move(images / "shape_0002.jpg", tmp_path / "private.jpg")
    (images / "shape_0002.jpg").symlink_to(tmp_path / "private.jpg")
    assert build_refused(spec) == (
        "error:\n1 dataset problem stops the build:\n"
        "  shape_0002.jpg: image path escapes the dataset root (error) (image paths that escape the dataset root "
        "(also through a symbolic link) are errors whatever dataset.on_bad_annotation says: move those files inside "
        "dataset.images or remove their entries)\n")


def test_a_link_that_stays_inside_the_dataset_is_an_image_like_any_other(tmp_path: Path) -> None:
    spec = shapes(tmp_path)
    images = tmp_path / "data" / "images"
    (images / "sub").mkdir()
    shutil.move(images / "shape_0002.jpg", images / "sub" / "real.jpg")
    (images / "shape_0002.jpg").symlink_to(Path("sub") / "real.jpg")
    result = odspec("build", str(spec))
    assert result.returncode == 0, result.stderr
    assert "shape_0002.jpg" in json.loads((tmp_path / "build" / "test" / "splits.json").read_text())["images"]


def test_an_annotation_file_linked_out_of_its_folder_is_refused_before_it_is_read(tmp_path: Path) -> None:
    spec = shapes(tmp_path, on_bad_annotation="skip_image")
    annotations = tmp_path / "data" / "annotations"
    shutil.move(annotations / "shape_0001.xml", tmp_path / "private.xml")
    (annotations / "shape_0001.xml").symlink_to(tmp_path / "private.xml")
    assert build_refused(spec) == (
        f"error: annotation files that odspec cannot read safely: {annotations / 'shape_0001.xml'} is a symbolic "
        f"link to {tmp_path / 'private.xml'}, outside {annotations} (odspec reads only regular files inside "
        "dataset.annotations: remove these or replace them with the files themselves)\n")


def test_repointing_a_linked_image_is_not_a_no_op(tmp_path: Path) -> None:
    spec = shapes(tmp_path)
    images = tmp_path / "data" / "images"
    (images / "store").mkdir()
    shutil.move(images / "shape_0002.jpg", images / "store" / "a.jpg")
    Image.new("RGB", (64, 64), (200, 10, 10)).save(images / "store" / "b.jpg")
    (images / "shape_0002.jpg").symlink_to(Path("store") / "a.jpg")
    assert odspec("build", str(spec)).returncode == 0
    assert odspec("build", str(spec)).stdout.strip().endswith("(nothing changed)")
    (images / "shape_0002.jpg").unlink()
    (images / "shape_0002.jpg").symlink_to(Path("store") / "b.jpg")
    again = odspec("build", str(spec))
    assert again.returncode == 0, again.stderr
    assert "nothing changed" not in again.stdout


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("policy", ["stop", "skip_image"])
def test_an_image_that_is_not_a_regular_file_is_a_finding_and_never_opened(tmp_path: Path, kind: str,
                                                                              policy: str) -> None:
    spec = shapes(tmp_path, on_bad_annotation=policy)
    image = tmp_path / "data" / "images" / "shape_0001.jpg"
    image.unlink()
    os.mkfifo(image) if kind == "fifo" else image.mkdir()
    what = "a FIFO" if kind == "fifo" else "a folder"
    if policy == "stop":
        assert build_refused(spec, odspec_subprocess) == (
            "error:\n1 dataset problem stops the build:\n"
            f"  shape_0001.jpg: image file is not a regular file but {what} (error) (set dataset.on_bad_annotation "
            "to skip_box, skip_image or repair to build without them)\n")
        return
    result = odspec_subprocess("build", str(spec))
    assert result.returncode == 0, result.stderr
    assert findings_of(result.stderr) == [f"shape_0001.jpg: image file is not a regular file but {what} (image skipped)"]


def test_an_annotation_fifo_is_refused_and_never_opened(tmp_path: Path) -> None:
    spec = shapes(tmp_path, on_bad_annotation="skip_image")
    annotations = tmp_path / "data" / "annotations"
    os.mkfifo(annotations / "a.xml")
    assert build_refused(spec, odspec_subprocess) == (
        f"error: annotation files that odspec cannot read safely: {annotations / 'a.xml'} is not a regular file but "
        "a FIFO (odspec reads only regular files inside dataset.annotations: remove these or replace them with the "
        "files themselves)\n")


def coco_spec(folder: Path, policy: str = "stop") -> tuple[Path, Path, dict[str, Any]]:
    """A COCO spec over 6 synthetic images: (spec, its instances.json, the document)."""
    make_shapes(folder / "data", 6, size=(64, 64), max_boxes=2, seed=11, formats=("coco",))
    spec = minimal_spec(FPNLITE, ["circle", "square"])
    spec["dataset"] = {**spec["dataset"], "format": "coco", "images": "data/images",
                       "annotations": "data/annotations/instances.json", "on_bad_annotation": policy}
    path = folder / "data" / "annotations" / "instances.json"
    return write_spec(folder, spec), path, json.loads(path.read_text())


def with_token(document: dict[str, Any], annotation: int, coordinate: int, token: str) -> str:
    """The document with one bbox value written as ``token`` (NaN, Infinity, 1e999: what json.dumps never writes)."""
    document["annotations"][annotation]["bbox"][coordinate] = "@@"
    return json.dumps(document).replace('"@@"', token)


@pytest.mark.parametrize("token, shown", [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),
                                          ("1e999", "Infinity"), ('"wide"', '"wide"'),
                                          ("1" + "0" * 400, "1" + "0" * 400)],  # an integer past float's range
                         ids=["nan", "infinity", "minus-infinity", "1e999", "string", "huge-integer"])
def test_a_coco_box_with_a_non_finite_coordinate_is_a_finding_for_that_box(tmp_path: Path, token: str,
                                                                           shown: str) -> None:
    spec, path, document = coco_spec(tmp_path, "skip_box")
    path.write_text(with_token(document, 3, 2, token))
    before = outside_build(tmp_path)
    result = odspec("build", str(spec))
    assert result.returncode == 0, result.stderr
    assert findings_of(result.stderr) == [
        f"{path}: annotations[3].bbox[2]: {shown} is not a coordinate (expected a finite number) (annotation skipped)"]
    assert outside_build(tmp_path) == before
    report = json.loads((tmp_path / "build" / "test" / "report.json").read_text())
    assert sum(s["boxes"] for s in report["splits"].values()) == len(document["annotations"]) - 1


def test_a_coco_box_with_nan_stops_a_stop_build_with_the_finding_listed(tmp_path: Path) -> None:
    spec, path, document = coco_spec(tmp_path)
    path.write_text(with_token(document, 0, 1, "NaN"))
    assert build_refused(spec) == (
        "error:\n1 dataset problem stops the build:\n"
        f"  {path}: annotations[0].bbox[1]: NaN is not a coordinate (expected a finite number) (error) "
        "(set dataset.on_bad_annotation to skip_box, skip_image or repair to build without them)\n")


@pytest.mark.parametrize("text, what", [
    ('{"images": [{"id": 1, "file_name": "shape_0000.jpg"', ":1:52: malformed JSON: Expecting ',' delimiter (at byte 51)"),
    ('[{"id": 1}]', ": expected a JSON object with 'images', 'annotations' and 'categories', got a list"),
    ('{"images": [], "annotations": {}, "categories": []}', ": 'annotations' is an object, expected a list"),
    ('{"images": [], "annotations": [], "categories": [], "x": NaN', ":1:61: malformed JSON: Expecting ',' delimiter "
                                                                   "(at byte 60)"),
])
def test_a_malformed_coco_document_is_an_error_that_says_where_and_what(tmp_path: Path, text: str, what: str) -> None:
    spec, path, _ = coco_spec(tmp_path, "skip_image")
    path.write_text(text)
    assert build_refused(spec) == (
        f"error: {path}{what} (dataset.format is coco: fix or re-export the file; nothing of it was used)\n")


@pytest.mark.parametrize("token", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_non_finite_coordinates_in_voc_yolo_and_csv_are_findings_at_their_line(tmp_path: Path, token: str) -> None:
    data = tmp_path / "data"
    make_shapes(data, 3, size=(64, 64), max_boxes=2, seed=11, formats=("voc", "yolo", "csv"))
    xml = data / "annotations" / "shape_0000.xml"
    xml.write_text(xml.read_text().replace("<xmax>55</xmax>", f"<xmax>{token}</xmax>"))
    txt = data / "labels" / "shape_0000.txt"
    txt.write_text(txt.read_text().replace("0.546875 0.546875", f"{token} 0.546875"))
    csv = data / "annotations" / "labels.csv"
    csv.write_text(csv.read_text().replace("shape_0001.jpg,64,64,square,4,12", f"shape_0001.jpg,64,64,square,{token},12"))
    voc = read_voc(data / "images", [xml], ["circle", "square"])
    yolo = read_yolo(data / "images", data / "labels", None)
    table = read_csv(data / "images", csv, None)
    assert [str(f) for f in voc.findings] == [f"{xml}: object 1 ('circle'): <xmax> is '{token}', expected a number (object skipped)"]
    assert [str(f) for f in yolo.findings] == [
        f"{txt}:1: expected 'class x_center y_center width height', got '0 0.585938 0.414062 {token} 0.546875' "
        "(line skipped)"]
    assert [str(f) for f in table.findings] == [f"{csv}:3: xmin is '{token}', expected a number (row skipped)"]


def test_an_image_name_with_a_control_character_is_a_finding_not_a_path(tmp_path: Path) -> None:
    spec, path, document = coco_spec(tmp_path, "skip_image")
    images = tmp_path / "data" / "images"
    document["images"][0]["file_name"] = "shape\a0000.jpg"
    (images / "shape_0000.jpg").rename(images / "shape\a0000.jpg")
    path.write_text(json.dumps(document))
    result = odspec("build", str(spec))
    assert result.returncode == 0, result.stderr
    assert findings_of(result.stderr) == ["shape\\x070000.jpg: image name has a control character (image skipped)"]
