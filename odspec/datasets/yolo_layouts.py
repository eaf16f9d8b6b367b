"""YOLO-family export layouts: where labels, images, class names and splits are (see layouts.py).

Recognised, in this order (the first that matches wins):

- Ultralytics / Roboflow "YOLOv8": ``data.yaml`` whose ``train``/``val``/``test`` name
  image folders, lists of them, or ``.txt`` image lists, with ``labels`` beside each
  ``images``. Paths resolve as Ultralytics' ``check_det_dataset`` does: against ``path:``
  (relative to the yaml's folder here) or the yaml's folder, and a ``../x`` that is not
  there is retried as ``x`` (Roboflow writes ``train: ../train/images``).
- CVAT "YOLO 1.1": ``obj.data`` (``train = data/train.txt``, ``names = data/obj.names``),
  the lists naming ``data/obj_<subset>_data/x.jpg`` (``data/`` being the export root),
  labels beside the images.
- A tree with ``images/`` and ``labels/`` (Ultralytics' standard ``images/train``, or one
  folder as Label Studio's YOLO export writes, with ``classes.txt``), or Roboflow's folder
  per split (``train/images`` + ``train/labels``) without its ``data.yaml``.
- LabelImg's YOLO mode: ``classes.txt`` beside the ``.txt`` labels.

Only folders are listed and small text files read; no image or label is opened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from odspec.datasets.layouts import Layout, Part
from odspec.datasets.paths import SPLIT_WORDS, child, split_from_names
from odspec.errors import DatasetError

SPLIT_KEYS = ("train", "val", "test")


def detect_yolo(path: Path) -> Layout | None:
    """The YOLO layout of the export at ``path``, None when it is not one, DatasetError when it is one but broken."""
    root = Path(path).absolute()
    for detector in (_data_yaml, _obj_data, _images_labels_tree, _split_folders, _labelimg):
        layout = detector(root)
        if layout is not None:
            return layout
    return None


# --- data.yaml ----------------------------------------------------------------------------------------------------

def _data_yaml(root: Path) -> Layout | None:
    found = next((p for p in (child(root, "data.yaml"), child(root, "data.yml")) if p is not None), None)
    if found is None:
        return None
    data = _yaml_mapping(found)
    base = root
    if data.get("path"):
        base = (root / str(data["path"])).absolute()
        if not base.is_dir():
            raise DatasetError(f"{found}: path: {data['path']} is not a folder (looked at {base})",
                               hint="fix path: in data.yaml (relative to its folder), or remove it")
    parts: list[Part] = []
    for key in SPLIT_KEYS:
        entries = data.get(key)
        listed = entries if isinstance(entries, list) else [entries] if entries else []
        parts.extend(_yaml_part(found, base, key, str(entry)) for entry in listed)
    if not parts:
        raise DatasetError(f"{found} names no train:, val: or test: images",
                           hint="write e.g. train: train/images and val: valid/images in data.yaml")
    folders = [p.images for p in parts] + [root]
    common = Path(os.path.commonpath([str(f) for f in folders]))
    return Layout("yolo", "Ultralytics/Roboflow YOLO data.yaml", common, tuple(parts), found,
                  (f"{found.name} keys {', '.join(SPLIT_KEYS)}",))


def _yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not valid YAML: {err}", hint="fix data.yaml (e.g. train: train/images)") from err
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a mapping (train:, val:, names:)", hint="write e.g. train: train/images")
    return data


def _yaml_part(yaml_file: Path, base: Path, key: str, entry: str) -> Part:
    """One ``train:``/``val:``/``test:`` entry resolved as Ultralytics does (a missing ``../x`` retried as ``x``)."""
    target = (base / entry).resolve()
    tried = [target]
    if not target.exists() and entry.startswith("../"):
        target = (base / entry[3:]).resolve()
        tried.append(target)
    if not target.exists():
        raise DatasetError(f"{yaml_file}: {key}: {entry} is not there (looked at {', '.join(map(str, tried))})",
                           hint=f"fix {key}: in {yaml_file.name}; paths are relative to path: or to the yaml's folder")
    if target.is_file():
        return Part("yolo", (target.parent,), target.parent, key, yaml_file, image_list=target, reader_split=False)
    labels = labels_folder(target)
    if labels is None:
        raise DatasetError(f"{yaml_file}: {key}: {entry} has no labels folder beside it "
                           f"(looked for the last 'images' in {target} replaced by 'labels')",
                           hint="Ultralytics reads labels from labels/ beside images/; export the labels too")
    return Part("yolo", (labels,), target, key, yaml_file, reader_split=False)


def labels_folder(images: Path) -> Path | None:
    """Ultralytics' ``img2label_paths`` for a folder: its last ``images`` part replaced by ``labels``, if there."""
    parts = list(images.parts)
    if "images" not in parts:
        return images if any(images.glob("*.txt")) else None
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    labels = Path(*parts)
    return labels if labels.is_dir() else None


# --- CVAT YOLO 1.1 ------------------------------------------------------------------------------------------------

def _obj_data(root: Path) -> Layout | None:
    found = child(root, "obj.data")
    if found is None:
        return None
    values = parse_obj_data(found.read_text(encoding="utf-8-sig"))
    names = cvat_path(root, values.get("names", "data/obj.names")) or child(root, "obj.names")
    parts = []
    for key, value in values.items():
        split = SPLIT_WORDS.get(key.lower())
        if split is None:
            continue
        listing = cvat_path(root, value)
        if listing is None:
            raise DatasetError(f"{found}: {key} = {value} is not there (looked in {root})",
                               hint="export the whole CVAT YOLO 1.1 archive, with its train.txt / valid.txt")
        parts.append(Part("yolo", (root,), root, split, names, image_list=listing, reader_split=False))
    if not parts:
        for folder in sorted(root.glob("obj_*_data")):
            subset = folder.name[len("obj_"):-len("_data")]
            parts.append(Part("yolo", (folder,), root, split_from_names([subset]), names, reader_split=False))
    return Layout("yolo", "CVAT YOLO 1.1 (obj.data)", root, tuple(parts), names,
                  (f"{found.name} train/valid keys", "obj_<subset>_data folder names"))


def parse_obj_data(text: str) -> dict[str, str]:
    """Darknet's ``key = value`` lines (``classes = 2``, ``train = data/train.txt``)."""
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def cvat_path(root: Path, name: str) -> Path | None:
    """A path of a CVAT/darknet file: relative to the export root, whose files darknet expects under ``data/``."""
    cleaned = name.replace("\\", "/")
    cleaned = cleaned[2:] if cleaned.startswith("./") else cleaned
    candidates = [root / cleaned]
    if cleaned.startswith("data/"):
        candidates.append(root / cleaned[len("data/"):])
    return next((c for c in candidates if c.exists()), None)


# --- trees of images/ and labels/ ---------------------------------------------------------------------------------

def _images_labels_tree(root: Path) -> Layout | None:
    images, labels = child(root, "images"), child(root, "labels")
    if images is None or labels is None or not images.is_dir() or not labels.is_dir():
        return None
    names = _names_in(root)
    splits = [(d, split_from_names([d.name])) for d in sorted(labels.iterdir()) if d.is_dir()]
    if splits and all(split for _, split in splits):
        parts = []
        for folder, split in splits:
            image_folder = child(images, folder.name)
            if image_folder is None:
                raise DatasetError(f"{folder} has no images folder {images / folder.name}",
                                   hint="Ultralytics' layout has images/<split> beside labels/<split>")
            parts.append(Part("yolo", (folder,), image_folder, split, names, reader_split=False))
        return Layout("yolo", "Ultralytics YOLO tree (images/<split>, labels/<split>)", root, tuple(parts), names,
                      ("labels/<split> folder names",))
    kind = "Label Studio YOLO export (images/, labels/, classes.txt)" if names else "YOLO images/ + labels/"
    return Layout("yolo", kind, root, (Part("yolo", (labels,), images, None, names, reader_split=False),), names,
                  ("(none: this layout has no split)",))


def _split_folders(root: Path) -> Layout | None:
    parts = []
    for folder in sorted(d for d in root.iterdir() if d.is_dir()):
        split = split_from_names([folder.name])
        images, labels = child(folder, "images"), child(folder, "labels")
        if split and images is not None and labels is not None and labels.is_dir():
            parts.append(Part("yolo", (labels,), images, split, _names_in(root), reader_split=False))
    if not parts:
        return None
    return Layout("yolo", "Roboflow YOLO (a folder per split, no data.yaml)", root, tuple(parts),
                  _names_in(root), ("<split>/ folder names",))


def _labelimg(root: Path) -> Layout | None:
    names = child(root, "classes.txt")
    if names is None or not any(p.name != names.name for p in root.glob("*.txt")):
        return None
    return Layout("yolo", "LabelImg YOLO (classes.txt beside the labels)", root,
                  (Part("yolo", (root,), root, None, names, reader_split=False),), names,
                  ("(none: this layout has no split)",))


def _names_in(root: Path) -> Path | None:
    return next((p for n in ("classes.txt", "obj.names") if (p := child(root, n)) is not None), None)
