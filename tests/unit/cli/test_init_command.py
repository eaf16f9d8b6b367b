"""`odspec init DATA_DIR`: a starting spec for an existing dataset folder, which validates and builds as written.

Layout: a LabelImg folder. LabelImg (https://github.com/tzutalin/labelImg, README: "Open Dir", "Change Save
Dir"; without a save dir it writes ``<image stem>.xml`` beside the image) saves one Pascal VOC XML per image,
tab-indented with ``<folder>``, ``<filename>`` and a ``<path>`` of the labelling machine, as
odspec.datasets.encode.voc_xml writes it. Layouts detected by odspec.datasets.layouts.detect_layout (Roboflow,
CVAT, Ultralytics) are tested once that lands.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image
from support import REPO, tree_digest

from odspec.datasets.encode import voc_xml
from odspec.datasets.model import Box, Example

SIZE = (64, 48)
IMAGES = 12


def odspec(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def labelimg_folder(folder: Path) -> Path:
    """IMAGES photos with their XML beside them; 'dog' is used first, so it comes first."""
    folder.mkdir(parents=True)
    for number in range(IMAGES):
        out = io.BytesIO()
        Image.new("RGB", SIZE, (15 * number, 200 - 10 * number, 60)).save(out, format="JPEG")
        stem = f"IMG_{number:04d}"
        (folder / f"{stem}.JPG").write_bytes(out.getvalue())
        boxes = (Box("dog" if number % 3 == 0 else "cat", 3, 4, 30, 40),)
        if number == 5:
            boxes += (Box("bird", 33, 5, 60, 20),)
        example = Example(Path(f"{stem}.JPG"), *SIZE, boxes, "labelimg")
        (folder / f"{stem}.xml").write_text(voc_xml(example, folder=folder.name).replace(
            f"<path>{folder.name}/", f"<path>C:\\Users\\ana\\Pictures\\{folder.name}\\"))
    return folder


def test_init_writes_a_spec_that_validates_and_builds(tmp_path: Path) -> None:
    data = labelimg_folder(tmp_path / "data" / "Garden cams")
    made = odspec("init", str(data), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    spec = tmp_path / "Garden-cams.yaml"
    assert made.stdout.splitlines()[:4] == [
        f"found: LabelImg (XML beside the images) (Pascal VOC XML) in {data}",
        "classes (3, in order of first use in the annotations: the format lists no classes): dog, cat, bird",
        f"images: {IMAGES}, boxes: {IMAGES + 1}",
        "source split: none (the spec splits by share)"]
    written = yaml.safe_load(spec.read_text())
    assert written["project"] == "Garden-cams"
    assert written["dataset"]["path"] == "data/Garden cams" and written["dataset"]["classes"] == ["dog", "cat", "bird"]
    assert written["model"] == {"architecture": "ssd_mobilenet_v2_fpnlite_320"}
    checked = odspec("validate", str(spec), "--data")
    assert checked.returncode == 0, checked.stderr
    built = odspec("build", str(spec))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "build" / "Garden-cams" / "train-00000-of-00001.tfrecord").is_file()


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    data = labelimg_folder(tmp_path / "pets")
    spec = tmp_path / "specs" / "pets.yaml"
    spec.parent.mkdir()
    spec.write_text("mine\n")
    before = tree_digest(tmp_path)
    refused = odspec("init", str(data), "--spec", str(spec))
    assert refused.returncode == 2
    assert refused.stderr == f"error: refusing to overwrite {spec} (name another file with --spec, or pass --force)\n"
    assert tree_digest(tmp_path) == before
    forced = odspec("init", str(data), "--spec", str(spec), "--force", "--architecture", "efficientdet_d0")
    assert forced.returncode == 0, forced.stderr
    written = yaml.safe_load(spec.read_text())
    assert written["dataset"]["path"] == "../pets" and written["model"]["architecture"] == "efficientdet_d0"
    assert sorted(p.name for p in spec.parent.iterdir()) == ["pets.yaml"]  # no temporary file left


def test_init_refuses_an_unknown_architecture_and_a_folder_without_a_dataset(tmp_path: Path) -> None:
    data = labelimg_folder(tmp_path / "pets")
    wrong = odspec("init", str(data), "--architecture", "ssd_mobilenet_v2_fpnlite", cwd=tmp_path)
    assert wrong.returncode == 2 and "unknown architecture 'ssd_mobilenet_v2_fpnlite'" in wrong.stderr
    assert "did you mean 'ssd_mobilenet_v2_fpnlite_" in wrong.stderr
    (tmp_path / "empty").mkdir()
    nothing = odspec("init", str(tmp_path / "empty"), cwd=tmp_path)
    assert nothing.returncode == 2 and "no export layout recognised in" in nothing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "pets"]
