"""`odspec init` on a Roboflow "COCO JSON" export: a folder per split, each with its images and
``_annotations.coco.json``; the export's split is kept (``split.from_source: true``) and its classes come from the
categories in their order, without the root category Roboflow prepends (roboflow/rf-detr pull request #1303:
"Roboflow COCO exports prepend a synthetic root category that every real class lists as its supercategory and that
owns no annotations"). Split folders are ``train/``, ``valid/`` and ``test/`` (issue 10, item 1).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image
from support import REPO

SIZE = (64, 48)
COUNTS = {"train": 6, "valid": 2, "test": 2}


def odspec(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def roboflow_coco(root: Path) -> Path:
    categories = [{"id": 0, "name": "pets-xyz", "supercategory": "none"},
                  {"id": 1, "name": "dog", "supercategory": "pets-xyz"},
                  {"id": 2, "name": "cat", "supercategory": "pets-xyz"}]
    for split, count in COUNTS.items():
        folder = root / split
        folder.mkdir(parents=True)
        images, annotations = [], []
        for index in range(count):
            name = f"IMG_{index:03d}_jpg.rf.{split}{index:02d}abcdef.jpg"
            out = io.BytesIO()
            Image.new("RGB", SIZE, (30 * index, {"train": 60, "valid": 130, "test": 200}[split], 40)).save(out, format="JPEG")
            (folder / name).write_bytes(out.getvalue())
            images.append({"id": index, "license": 1, "file_name": name, "height": SIZE[1], "width": SIZE[0],
                           "date_captured": "2024-05-01T10:00:00+00:00"})
            annotations.append({"id": index, "image_id": index, "category_id": 1 + index % 2,
                                "bbox": [4, 5, 20.5, 30], "area": 615.0, "segmentation": [], "iscrowd": 0})
        document = {"info": {"description": "Exported from roboflow.com"}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
                    "categories": categories, "images": images, "annotations": annotations}
        (folder / "_annotations.coco.json").write_text(json.dumps(document))
    return root


def test_init_on_a_roboflow_coco_export_keeps_its_split_and_builds(tmp_path: Path) -> None:
    data = roboflow_coco(tmp_path / "pets.v2i.coco")
    made = odspec("init", str(data), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    spec = tmp_path / "pets.v2i.coco.yaml"
    written = yaml.safe_load(spec.read_text())
    assert written["dataset"]["path"] == "pets.v2i.coco" and written["dataset"]["format"] == "coco"
    assert written["dataset"]["classes"] == ["dog", "cat"]
    assert written["dataset"]["split"] == {"from_source": True}
    assert "source split: train 6, val 2, test 2" in made.stdout
    assert "images: 10, boxes: 10" in made.stdout
    built = odspec("build", str(spec))
    assert built.returncode == 0, built.stderr
    report = json.loads((tmp_path / "build" / "pets.v2i.coco" / "report.json").read_text())
    assert {s: report["splits"][s]["images"] for s in ("train", "val", "test")} == {"train": 6, "val": 2, "test": 2}
