"""Export fixtures in the labelling tools' real folder layouts, built in tmp_path by the tests.

Each builder writes a small export under ``root`` and returns what a correct reader
must find: per image (relative to the export root) its split and boxes. Sources:

- Roboflow COCO JSON: ``train/ valid/ test/`` each with the images and
  ``_annotations.coco.json``; category 0 is named after the project with
  supercategory "none", the real classes have it as supercategory and no box uses it
  (roboflow/roboflow-100-benchmark issue #45; roboflow/rf-detr PR #1303).
- Roboflow Pascal VOC / CSV: the same split folders, XML beside each image /
  ``_annotations.csv`` (filename,width,height,class,xmin,ymin,xmax,ymax).
- CVAT "PASCAL VOC 1.1": ``Annotations/``, ``ImageSets/Main/<subset>.txt``
  (subsets as named in the task: Train, Validation, default), ``JPEGImages/``,
  ``labelmap.txt`` with its ``# label:color_rgb:parts:actions`` header; boxes as
  floats (docs.cvat.ai formats page; Datumaro voc exporter; opencv/cvat issue #942
  shows a CVAT XML with float corners and empty <folder>/<path>).
- VOC devkit: ``VOCdevkit/VOC2012/{Annotations,ImageSets/Main,JPEGImages}``
  (host.robots.ox.ac.uk VOC2012 devkit doc).
- LabelImg: XML beside the images with <folder>, <filename> and an absolute
  <path> of the labeller's machine (tzutalin/labelImg pascal_voc_io.py).
- Label Studio VOC: ``Annotations/`` + ``images/``, <folder>images</folder> and <filename> the image's name
  (HumanSignal/label-studio-converter, label_studio_converter/converter.py, convert_to_voc).
- CVAT "COCO 1.0": ``annotations/instances_<subset>.json`` + ``images/<subset>/``
  (Datumaro coco exporter).
- Label Studio COCO: ``result.json`` + ``images/``; ``file_name`` is the downloaded image's path relative to the
  export (``download(..., return_relative_path=True)``: "images/<name>", joined with backslashes on Windows)
  (same converter.py, convert_to_coco).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

BoxT = tuple[str, float, float, float, float]


@dataclass
class Expected:
    """What a correct read of the export finds: boxes and split per image (relative to the root)."""

    boxes: dict[str, list[BoxT]] = field(default_factory=dict)
    splits: dict[str, str | None] = field(default_factory=dict)
    classes: tuple[str, ...] = ()


_made = itertools.count()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    """A JPEG of its own colour: no two fixture images are byte-identical (duplicates are refused)."""
    out = io.BytesIO()
    n = next(_made)
    Image.new("RGB", (width, height), (n * 37 % 256, n * 91 % 256, 150)).save(out, format="JPEG")
    return out.getvalue()


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def voc_xml(filename: str, boxes: list[BoxT], *, folder: str = "", path: str = "", w: int = 64, h: int = 48) -> str:
    objects = "".join(
        f"<object><name>{label}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for label, x0, y0, x1, y1 in boxes)
    return (f"<annotation><folder>{folder}</folder><filename>{filename}</filename><path>{path}</path>"
            f"<source><database>Unknown</database></source><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size><segmented>0</segmented>{objects}</annotation>")


def coco_doc(images: list[tuple[str, list[BoxT]]], categories: list[dict], w: int = 64, h: int = 48) -> str:
    ids = {c["name"]: c["id"] for c in categories}
    doc: dict = {"info": {}, "licenses": [], "images": [], "annotations": [], "categories": categories}
    for index, (name, boxes) in enumerate(images):
        doc["images"].append({"id": index, "file_name": name, "width": w, "height": h})
        for label, x0, y0, x1, y1 in boxes:
            doc["annotations"].append({"id": len(doc["annotations"]), "image_id": index, "category_id": ids[label],
                                       "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                                       "iscrowd": 0, "segmentation": []})
    return json.dumps(doc)


SPLIT_OF = {"train": "train", "valid": "val", "test": "test"}
ROBOFLOW_BOXES = {
    "train": [("a.jpg", [("cat", 4, 5, 30, 40)]), ("b.jpg", [("dog", 10, 2, 60, 44), ("cat", 1, 1, 9, 9)])],
    "valid": [("c.jpg", [("dog", 3, 3, 20, 20)])],
    "test": [("d.jpg", [("cat", 5, 6, 25, 26)])],
}


def roboflow_coco(root: Path) -> Expected:
    """Roboflow "COCO JSON" export (see the module docstring)."""
    categories = [{"id": 0, "name": "pets-xyz", "supercategory": "none"},
                  {"id": 1, "name": "cat", "supercategory": "pets-xyz"},
                  {"id": 2, "name": "dog", "supercategory": "pets-xyz"}]
    out = Expected(classes=("cat", "dog"))
    for folder, images in ROBOFLOW_BOXES.items():
        for name, boxes in images:
            write(root / folder / name, jpeg())
            out.boxes[f"{folder}/{name}"] = list(boxes)
            out.splits[f"{folder}/{name}"] = SPLIT_OF[folder]
        write(root / folder / "_annotations.coco.json", coco_doc(images, categories))
    write(root / "README.roboflow.txt", "exported from roboflow.com\n")
    return out


def roboflow_voc(root: Path) -> Expected:
    """Roboflow "Pascal VOC" export: XML beside the images in each split folder."""
    out = Expected(classes=("cat", "dog"))
    for folder, images in ROBOFLOW_BOXES.items():
        for name, boxes in images:
            write(root / folder / name, jpeg())
            write(root / folder / (Path(name).stem + ".xml"), voc_xml(name, boxes, folder=""))
            out.boxes[f"{folder}/{name}"] = list(boxes)
            out.splits[f"{folder}/{name}"] = SPLIT_OF[folder]
    return out


def roboflow_csv(root: Path) -> Expected:
    """Roboflow "Tensorflow Object Detection CSV": ``_annotations.csv`` in each split folder."""
    out = Expected(classes=("cat", "dog"))
    for folder, images in ROBOFLOW_BOXES.items():
        rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
        for name, boxes in images:
            write(root / folder / name, jpeg())
            rows += [f"{name},64,48,{label},{x0},{y0},{x1},{y1}" for label, x0, y0, x1, y1 in boxes]
            out.boxes[f"{folder}/{name}"] = list(boxes)
            out.splits[f"{folder}/{name}"] = SPLIT_OF[folder]
        write(root / folder / "_annotations.csv", "\n".join(rows) + "\n")
    return out


CVAT_SUBSETS = {"Train": [("frame_000.jpg", [("car", 1.5, 2.25, 30.75, 20.0)]),
                          ("frame_001.jpg", [("person", 10.0, 5.0, 20.0, 40.5)])],
                "Validation": [("frame_002.jpg", [("car", 0.0, 0.0, 63.0, 47.0)])]}


def cvat_voc(root: Path) -> Expected:
    """CVAT "PASCAL VOC 1.1" export, subsets Train and Validation, labelmap.txt naming the classes in order."""
    out = Expected(classes=("person", "car", "bicycle"))
    write(root / "labelmap.txt", "# label:color_rgb:parts:actions\nperson:250,50,83::\ncar:51,221,255::\n"
                                 "bicycle:0,0,255::\n")
    for subset, images in CVAT_SUBSETS.items():
        write(root / "ImageSets" / "Main" / f"{subset}.txt", "".join(Path(n).stem + "\n" for n, _ in images))
        for name, boxes in images:
            write(root / "JPEGImages" / name, jpeg())
            write(root / "Annotations" / (Path(name).stem + ".xml"), voc_xml(name, boxes))
            out.boxes[f"JPEGImages/{name}"] = list(boxes)
            out.splits[f"JPEGImages/{name}"] = {"Train": "train", "Validation": "val"}[subset]
    write(root / "ImageSets" / "Main" / "default.txt", "")
    return out


def voc_devkit(root: Path) -> Expected:
    """The VOC2012 devkit layout, split lists train.txt / val.txt."""
    base = root / "VOCdevkit" / "VOC2012"
    out = Expected(classes=("cat", "dog"))
    lists: dict[str, list[str]] = {"train": [], "val": []}
    for index, (name, boxes) in enumerate([("2008_000001.jpg", [("cat", 1, 2, 30, 40)]),
                                           ("2008_000002.jpg", [("dog", 5, 5, 50, 40)])]):
        split = ("train", "val")[index]
        lists[split].append(Path(name).stem)
        write(base / "JPEGImages" / name, jpeg())
        write(base / "Annotations" / (Path(name).stem + ".xml"), voc_xml(name, boxes, folder="VOC2012"))
        out.boxes[f"VOCdevkit/VOC2012/JPEGImages/{name}"] = list(boxes)
        out.splits[f"VOCdevkit/VOC2012/JPEGImages/{name}"] = split
    for split, stems in lists.items():
        write(base / "ImageSets" / "Main" / f"{split}.txt", "".join(s + "\n" for s in stems))
    return out


def labelimg(root: Path) -> Expected:
    """LabelImg's XML beside the images, <path> an absolute Windows path of the labeller's machine."""
    out = Expected(classes=("cat",))
    for name, boxes in [("IMG_0001.JPG", [("cat", 3, 4, 20, 30)]), ("photo two.jpg", [("cat", 1, 1, 10, 10)])]:
        write(root / name, jpeg())
        write(root / (Path(name).stem + ".xml"),
              voc_xml(name, boxes, folder="shots", path=f"C:\\Users\\ann\\shots\\{name}"))
        out.boxes[name] = list(boxes)
        out.splits[name] = None
    return out


def label_studio_voc(root: Path) -> Expected:
    """Label Studio's "Pascal VOC XML" export: Annotations/ + images/."""
    out = Expected(classes=("cat", "dog"))
    for name, boxes in [("1a2b3c-cat.jpg", [("cat", 2, 3, 40, 30)]), ("4d5e6f-dog.jpg", [("dog", 7, 8, 50, 45)])]:
        write(root / "images" / name, jpeg())
        write(root / "Annotations" / (Path(name).stem + ".xml"), voc_xml(name, boxes))
        out.boxes[f"images/{name}"] = list(boxes)
        out.splits[f"images/{name}"] = None
    return out


def cvat_coco(root: Path) -> Expected:
    """CVAT "COCO 1.0" export with subsets train and default (no split)."""
    categories = [{"id": 1, "name": "car", "supercategory": ""}, {"id": 2, "name": "person", "supercategory": ""}]
    out = Expected(classes=("car", "person"))
    subsets = {"train": [("f0.jpg", [("car", 1.5, 2.5, 30.0, 20.0)])],
               "default": [("f1.jpg", [("person", 4, 4, 20, 40)])]}
    for subset, images in subsets.items():
        for name, boxes in images:
            write(root / "images" / subset / name, jpeg())
            out.boxes[f"images/{subset}/{name}"] = list(boxes)
            out.splits[f"images/{subset}/{name}"] = None if subset == "default" else subset
        write(root / "annotations" / f"instances_{subset}.json", coco_doc(images, categories))
    return out


def label_studio_coco(root: Path) -> Expected:
    """Label Studio's COCO export: result.json + images/, file_name "images/<name>" (one with backslashes)."""
    categories = [{"id": 0, "name": "Airplane"}, {"id": 1, "name": "Car"}]
    out = Expected(classes=("Airplane", "Car"))
    images = [("images/9f1c-plane.jpg", [("Airplane", 3, 4, 40, 30)]), ("images\\a7d2-car.jpg", [("Car", 1, 2, 9, 8)])]
    for name, boxes in images:
        rel = name.replace("\\", "/")
        write(root / rel, jpeg())
        out.boxes[rel] = list(boxes)
        out.splits[rel] = None
    write(root / "result.json", coco_doc(images, categories))
    return out


Builder = Callable[[Path], Expected]
LAYOUTS: dict[str, tuple[Builder, str, str]] = {  # name: (builder, format, what detection must call it)
    "roboflow_coco": (roboflow_coco, "coco", "Roboflow COCO JSON"),
    "roboflow_voc": (roboflow_voc, "voc", "Roboflow Pascal VOC"),
    "roboflow_csv": (roboflow_csv, "csv", "Roboflow CSV"),
    "cvat_voc": (cvat_voc, "voc", "CVAT Pascal VOC 1.1"),
    "voc_devkit": (voc_devkit, "voc", "VOC devkit"),
    "labelimg": (labelimg, "voc", "LabelImg"),
    "label_studio_voc": (label_studio_voc, "voc", "Label Studio VOC"),
    "cvat_coco": (cvat_coco, "coco", "CVAT COCO 1.0"),
    "label_studio_coco": (label_studio_coco, "coco", "Label Studio COCO"),
}
