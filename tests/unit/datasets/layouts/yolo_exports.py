"""YOLO-family exports in the tools' real layouts, built in tmp_path by the tests.

Each builder returns what a correct read finds (boxes in pixels, split per image,
relative to the export root). Sources:

- Roboflow "YOLOv8": ``data.yaml`` with ``train: ../train/images`` / ``val: ../valid/images``
  and ``names`` as a list, ``train/images`` + ``train/labels`` per split; Ultralytics'
  ``check_det_dataset`` retries a missing ``../x`` as ``x`` and ``img2label_paths`` swaps
  the last ``/images/`` for ``/labels/`` (ultralytics/data/utils.py).
- Ultralytics standard tree: ``images/{train,val}`` + ``labels/{train,val}``, ``names`` as an
  ``{id: name}`` mapping (docs.ultralytics.com/datasets/detect, coco8.yaml).
- CVAT "YOLO 1.1": ``obj.data`` (``names = obj.names``, ``train = train.txt``), ``train.txt``
  listing ``obj_train_data/x.jpg``, labels beside the images (docs.cvat.ai formats/format-yolo);
  older CVAT/darknet wrote ``data/`` before each path.
- Label Studio YOLO: ``classes.txt``, ``images/``, ``labels/``, ``notes.json``
  (label-studio-converter convert_to_yolo).
- LabelImg YOLO mode: ``classes.txt`` written beside the ``.txt`` labels (tzutalin/labelImg yolo_io.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.datasets.layouts.exports import Expected, jpeg, write

W, H = 64, 48
CLASSES = ("cat", "dog")


def line(cls: int, x0: float, y0: float, x1: float, y1: float) -> str:
    return f"{cls} {(x0 + x1) / 2 / W} {(y0 + y1) / 2 / H} {(x1 - x0) / W} {(y1 - y0) / H}\n"


def _image(root: Path, image: str, label: str | None, boxes: list[tuple[int, float, float, float, float]],
           expected: Expected, split: str | None) -> None:
    write(root / image, jpeg(W, H))
    if label is not None:
        write(root / label, "".join(line(*b) for b in boxes))
    expected.boxes[image] = [(CLASSES[c], x0, y0, x1, y1) for c, x0, y0, x1, y1 in boxes]
    expected.splits[image] = split


def roboflow_yolov8(root: Path) -> Expected:
    expected = Expected(classes=CLASSES)
    write(root / "data.yaml", "train: ../train/images\nval: ../valid/images\n\nnc: 2\nnames: ['cat', 'dog']\n")
    _image(root, "train/images/a.jpg", "train/labels/a.txt", [(1, 8, 8, 40, 30)], expected, "train")
    _image(root, "valid/images/b.jpg", "valid/labels/b.txt", [(0, 4, 4, 20, 20)], expected, "val")
    return expected


def ultralytics_tree(root: Path) -> Expected:
    expected = Expected(classes=CLASSES)
    write(root / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n")
    _image(root, "images/train/a.jpg", "labels/train/a.txt", [(0, 8, 8, 40, 30), (1, 1, 2, 10, 12)], expected, "train")
    _image(root, "images/val/b.jpg", "labels/val/b.txt", [(1, 4, 4, 20, 20)], expected, "val")
    return expected


def cvat_yolo(root: Path) -> Expected:
    expected = Expected(classes=CLASSES)
    write(root / "obj.data", "classes = 2\nnames = obj.names\ntrain = train.txt\nvalid = valid.txt\nbackup = backup/\n")
    write(root / "obj.names", "cat\ndog\n")
    write(root / "train.txt", "obj_train_data/a.jpg\n")
    write(root / "valid.txt", "data/obj_valid_data/b.jpg\n")  # the darknet-era "data/" prefix
    _image(root, "obj_train_data/a.jpg", "obj_train_data/a.txt", [(1, 8, 8, 40, 30)], expected, "train")
    _image(root, "obj_valid_data/b.jpg", "obj_valid_data/b.txt", [(0, 4, 4, 20, 20)], expected, "val")
    return expected


def label_studio_yolo(root: Path) -> Expected:
    expected = Expected(classes=CLASSES)
    write(root / "classes.txt", "cat\ndog\n")
    write(root / "notes.json", '{"categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}], "info": {}}')
    _image(root, "images/1a2b-a.jpg", "labels/1a2b-a.txt", [(1, 8, 8, 40, 30)], expected, None)
    _image(root, "images/3c4d-b.jpg", "labels/3c4d-b.txt", [], expected, None)
    return expected


def labelimg_yolo(root: Path) -> Expected:
    expected = Expected(classes=CLASSES)
    write(root / "classes.txt", "cat\ndog\n")
    _image(root, "a.jpg", "a.txt", [(0, 8, 8, 40, 30)], expected, None)
    _image(root, "b.jpg", "b.txt", [(1, 4, 4, 20, 20)], expected, None)
    return expected


YOLO_EXPORTS = {
    "roboflow_yolov8": (roboflow_yolov8, "Ultralytics/Roboflow YOLO data.yaml"),
    "ultralytics_tree": (ultralytics_tree, "Ultralytics/Roboflow YOLO data.yaml"),
    "cvat_yolo": (cvat_yolo, "CVAT YOLO 1.1 (obj.data)"),
    "label_studio_yolo": (label_studio_yolo, "Label Studio YOLO export (images/, labels/, classes.txt)"),
    "labelimg_yolo": (labelimg_yolo, "LabelImg YOLO (classes.txt beside the labels)"),
}
