"""Where a dataset's annotations, images, class names and split are: the layout of an export.

A spec names its data either explicitly (``format`` + ``images`` + ``annotations``:
one :class:`Part`, read as issue 3 defined) or as an export's root folder
(``path``), whose layout is detected here: Roboflow's folder per split (COCO JSON,
Pascal VOC, YOLOv8), Ultralytics/Roboflow ``data.yaml``, CVAT's YOLO 1.1 and
Pascal VOC 1.1, Label Studio's COCO/YOLO/VOC exports, LabelImg folders, the VOC
devkit. Detection only lists folders and reads small text files (``data.yaml``,
``obj.data``, split lists); it never opens an image or a large annotation file.

Every example path is relative to :attr:`Layout.root`; a part's readers resolve
image names against :attr:`Part.images` (a folder inside the root) and the result
is prefixed with that folder's path relative to the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Part:
    """One reader call: a format's annotations, the folder their image names are relative to, and its split."""

    format: str  # a reader of odspec.datasets.READERS: voc | coco | yolo | csv
    annotations: tuple[Path, ...]  # files or folders the reader reads (absolute)
    images: Path  # folder the annotations' image names are relative to (absolute, inside Layout.root)
    split: str | None = None  # "train" | "val" | "test" as the layout names it; None: the reader's own answer
    names: Path | None = None  # class-names file, for formats whose labels carry only ids (YOLO)
    image_list: Path | None = None  # a file listing this part's images (Ultralytics / CVAT train.txt)


@dataclass(frozen=True)
class Layout:
    """A dataset's parts, and what detection found, for messages and for ``odspec init``."""

    format: str
    kind: str  # what was recognised, for people: "Roboflow COCO JSON (a folder per split)", "explicit", ...
    root: Path  # every example's image path is relative to this folder (absolute)
    parts: tuple[Part, ...]
    names_file: Path | None = None  # where class names and their order came from, if a file
    split_sources: tuple[str, ...] = field(default=())  # where a source split was looked for, said when none is found


# Contract for issue 10 (implemented on the helpers' branches; these stubs are replaced before anything lands):
#   detect_layout(path, format=None) -> Layout       the export's layout, or DatasetError saying what was looked for
#   layout_for(spec_root, dataset) -> Layout          path form: detect_layout; else one explicit Part
#   read_layout(layout, classes, *, compact=False) -> ReadResult   every part read, paths relative to layout.root
# YOLO-family detection lives in odspec/datasets/yolo_layouts.py: detect_yolo(path) -> Layout | None.
