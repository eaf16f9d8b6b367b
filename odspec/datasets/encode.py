"""Examples written back out in each supported format (used by the synthetic
generator and by tests, so that readers are checked against what they read).

Every function returns text; writing files is the caller's business. Examples
must record their size where the format needs it (VOC, COCO, YOLO).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from odspec.datasets.model import Box, Example
from odspec.datasets.tabular import COLUMNS


def voc_xml(example: Example, folder: str = "images", depth: int = 3) -> str:
    """A LabelImg-style annotation (tab-indented, ``<path>`` relative to the dataset)."""
    width, height = _size(example)
    root = ET.Element("annotation")
    _add(root, "folder", folder)
    _add(root, "filename", example.image.name)
    _add(root, "path", f"{folder}/{example.image.as_posix()}")
    _add(ET.SubElement(root, "source"), "database", "Unknown")
    size = ET.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", depth)):
        _add(size, key, str(value))
    _add(root, "segmented", "0")
    for box in example.boxes:
        _voc_object(root, box)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


def _voc_object(root: ET.Element, box: Box) -> None:
    obj = ET.SubElement(root, "object")
    _add(obj, "name", box.label)
    _add(obj, "pose", box.pose)
    _add(obj, "truncated", str(int(box.truncated)))
    _add(obj, "difficult", str(int(box.difficult)))
    bndbox = ET.SubElement(obj, "bndbox")
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), (box.xmin, box.ymin, box.xmax, box.ymax), strict=True):
        _add(bndbox, key, number_text(value))


def coco_json(examples: Sequence[Example], classes: Sequence[str]) -> str:
    """One instances file; ids count from 1 in example and class order."""
    category = {name: index for index, name in enumerate(classes, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, example in enumerate(examples, start=1):
        width, height = _size(example)
        images.append({"id": image_id, "file_name": example.image.as_posix(), "width": width, "height": height})
        for box in example.boxes:
            w, h = box.xmax - box.xmin, box.ymax - box.ymin
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category[box.label],
                "bbox": [box.xmin, box.ymin, w, h],
                "area": w * h,
                "iscrowd": int(box.iscrowd),
                "segmentation": [],
            })
    categories = [{"id": i, "name": n, "supercategory": "none"} for n, i in category.items()]
    document = {"images": images, "annotations": annotations, "categories": categories}
    return json.dumps(document, indent=1) + "\n"


def yolo_txt(example: Example, classes: Sequence[str]) -> str:
    """Normalised ``class x_center y_center width height`` lines, 6 decimals."""
    width, height = _size(example)
    lines = []
    for box in example.boxes:
        cx, cy = (box.xmin + box.xmax) / 2 / width, (box.ymin + box.ymax) / 2 / height
        w, h = (box.xmax - box.xmin) / width, (box.ymax - box.ymin) / height
        lines.append(f"{classes.index(box.label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def classes_txt(classes: Sequence[str]) -> str:
    """YOLO's ``classes.txt``: line ``i`` names class ``i``."""
    return "".join(f"{name}\n" for name in classes)


def csv_text(examples: Sequence[Example]) -> str:
    """The tutorial CSV; an image without boxes gets one row with empty box cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for example in examples:
        size = [example.width or "", example.height or ""]
        for box in example.boxes:
            coordinates = (box.xmin, box.ymin, box.xmax, box.ymax)
            writer.writerow([example.image.as_posix(), *size, box.label, *map(number_text, coordinates)])
        if not example.boxes:
            writer.writerow([example.image.as_posix(), *size, "", "", "", "", ""])
    return out.getvalue()


def number_text(value: float) -> str:
    """``12`` for whole numbers, else up to 3 decimals (``12.5``)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _size(example: Example) -> tuple[int, int]:
    if example.width is None or example.height is None:
        raise ValueError(f"{example.image}: this format needs the image size, which is not recorded")
    return example.width, example.height


def _add(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text
