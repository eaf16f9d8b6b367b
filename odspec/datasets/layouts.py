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

import os
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.datasets.compact import CompactExamples, as_compact
from odspec.datasets.model import Example, Finding, ReadResult
from odspec.datasets.paths import IMAGE_SUFFIXES, child, ordered_unique, split_from_names
from odspec.errors import DatasetError

if TYPE_CHECKING:
    from odspec.spec.models import Dataset


@dataclass(frozen=True)
class Part:
    """One reader call: a format's annotations, the folder their image names are relative to, and its split."""

    format: str  # a reader of odspec.datasets.READERS: voc | coco | yolo | csv
    annotations: tuple[Path, ...]  # files or folders the reader reads (absolute)
    images: Path  # folder the annotations' image names are relative to (absolute, inside Layout.root)
    split: str | None = None  # "train" | "val" | "test" as the layout names it; None: the reader's own answer
    names: Path | None = None  # class-names file, for formats whose labels carry only ids (YOLO)
    image_list: Path | None = None  # a file listing this part's images (Ultralytics / CVAT train.txt)
    reader_split: bool = True  # False: the layout alone decides the split (no reader's guess from folder names)


@dataclass(frozen=True)
class Layout:
    """A dataset's parts, and what detection found, for messages and for ``odspec init``."""

    format: str
    kind: str  # what was recognised, for people: "Roboflow COCO JSON (a folder per split)", "explicit", ...
    root: Path  # every example's image path is relative to this folder (absolute)
    parts: tuple[Part, ...]
    names_file: Path | None = None  # where class names and their order came from, if a file
    split_sources: tuple[str, ...] = field(default=())  # where a source split was looked for, said when none is found


# --- detection ---------------------------------------------------------------------------------------------------

_LOOKED_FOR = (
    "Roboflow COCO JSON (train/ valid/ test/ each with _annotations.coco.json)",
    "CVAT COCO 1.0 (annotations/instances_<subset>.json + images/)",
    "Label Studio COCO (result.json + images/)",
    "VOC devkit / CVAT Pascal VOC 1.1 (Annotations/ + JPEGImages/)",
    "Label Studio VOC (Annotations/ + images/)",
    "Pascal VOC XML beside the images (Roboflow Pascal VOC per split folder, LabelImg)",
    "CSV files (Roboflow _annotations.csv per split folder, or *.csv at the root)",
    "YOLO exports (data.yaml, obj.data, labels/ + images/)",
)


def _dirs(folder: Path) -> list[Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    except OSError:
        return []


def _files(folder: Path, suffix: str) -> list[Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == suffix), key=lambda p: p.name)
    except OSError:
        return []


def _has_images(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())
    except OSError:
        return False


def subset_split(name: str) -> str | None:
    """The split a subset or folder name means (``valid`` -> val, ``Train`` -> train); ``default`` is none."""
    return split_from_names([name])


def _split_folders(root: Path, has: Callable[[Path], bool]) -> list[Path]:
    return [d for d in _dirs(root) if has(d)]


def _roboflow_coco(root: Path) -> Layout | None:
    folders = _split_folders(root, lambda d: (d / "_annotations.coco.json").is_file())
    if (root / "_annotations.coco.json").is_file():
        folders.insert(0, root)
    if not folders:
        return None
    parts = tuple(Part("coco", (d / "_annotations.coco.json",), d, subset_split(d.name) if d != root else None)
                  for d in folders)
    return Layout("coco", "Roboflow COCO JSON (a folder per split)", root, parts,
                  split_sources=tuple(f"the folder name {d.name}/" for d in folders))


def _cvat_coco(root: Path) -> Layout | None:
    annotations = child(root, "annotations")
    if annotations is None or not annotations.is_dir():
        return None
    files = [f for f in _files(annotations, ".json") if f.stem.lower().startswith("instances")]
    if not files:
        return None
    images = child(root, "images")
    parts = []
    for f in files:
        subset = f.stem[len("instances_"):] if "_" in f.stem else ""
        folder = images / subset if images is not None and subset and (images / subset).is_dir() else (images or root)
        parts.append(Part("coco", (f,), folder, subset_split(subset)))
    return Layout("coco", "CVAT COCO 1.0 (annotations/instances_<subset>.json)", root, tuple(parts),
                  split_sources=tuple(f"the subset name in {f.name}" for f in files))


def _label_studio_coco(root: Path) -> Layout | None:
    result = root / "result.json"
    if not result.is_file():
        return None
    return Layout("coco", "Label Studio COCO (result.json + images/)", root, (Part("coco", (result,), root),),
                  split_sources=("nothing: Label Studio exports no split",))


def _voc_devkit(root: Path) -> Layout | None:
    bases = [root]
    devkit = child(root, "VOCdevkit")
    if devkit is not None and devkit.is_dir():
        bases = [d for d in _dirs(devkit) if d.name.upper().startswith("VOC")]
    parts, names = [], None
    for base in bases:
        annotations = child(base, "Annotations")
        images = child(base, "JPEGImages") or child(base, "images")
        if annotations is None or not _files(annotations, ".xml") or images is None or not images.is_dir():
            continue
        parts.append(Part("voc", (annotations,), images))
        labelmap = base / "labelmap.txt"
        names = names or (labelmap if labelmap.is_file() else None)
    if not parts:
        return None
    lists = [p.annotations[0].parent / "ImageSets/Main" for p in parts]
    kind = ("CVAT Pascal VOC 1.1" if names is not None else
            "VOC devkit" if parts[0].images.name.lower() == "jpegimages" else "Label Studio VOC")
    return Layout("voc", f"{kind} (Annotations/ + {parts[0].images.name}/)", root, tuple(parts), names_file=names,
                  split_sources=tuple(f"the lists in {p} (<split>.txt)" for p in lists))


def _voc_beside(root: Path) -> Layout | None:
    folders = _split_folders(root, lambda d: bool(_files(d, ".xml")))
    if any(subset_split(d.name) for d in folders):  # a folder per split; any other folder is a part without one
        parts = tuple(Part("voc", (d,), d, subset_split(d.name)) for d in folders)
        return Layout("voc", "Roboflow Pascal VOC (XML beside the images, a folder per split)", root, parts,
                      split_sources=tuple(f"the folder name {d.name}/" for d in folders))
    if _files(root, ".xml"):
        return Layout("voc", "LabelImg (XML beside the images)", root,
                      (Part("voc", (root,), root, reader_split=False),),
                      split_sources=("nothing: LabelImg writes no split",))
    annotations = child(root, "annotations")
    images = child(root, "images")
    if annotations is not None and images is not None and _files(annotations, ".xml"):
        return Layout("voc", "LabelImg (annotations/ + images/)", root, (Part("voc", (annotations,), images),),
                      split_sources=("nothing: LabelImg writes no split",))
    return None


def _csv(root: Path) -> Layout | None:
    folders = _split_folders(root, lambda d: (d / "_annotations.csv").is_file())
    if folders:
        parts = tuple(Part("csv", (d / "_annotations.csv",), d, subset_split(d.name)) for d in folders)
        return Layout("csv", "Roboflow CSV (a folder per split)", root, parts,
                      split_sources=tuple(f"the folder name {d.name}/" for d in folders))
    files = _files(root, ".csv")
    if files:
        return Layout("csv", "CSV files at the root", root, (Part("csv", tuple(files), root),),
                      split_sources=tuple(f"the file name {f.name}" for f in files))
    return None


_DETECTORS: tuple[Callable[[Path], Layout | None], ...] = (
    _roboflow_coco, _cvat_coco, _label_studio_coco, _voc_devkit, _voc_beside, _csv,
)


def detect_layout(path: Path, format: str | None = None) -> Layout:
    """The layout of the export rooted at ``path``: from folder listings and small text files only.

    One candidate per family; with ``format`` only that family's. Two families found
    at once is a :class:`DatasetError` asking for ``dataset.format``; none, one naming
    every layout looked for.
    """
    from odspec.datasets.yolo_layouts import detect_yolo

    root = Path(path).absolute()
    if not root.is_dir():
        raise DatasetError(f"dataset.path {root} is not a folder",
                           hint="give the export's root folder, relative to the spec file")
    found: dict[str, Layout] = {}
    for detector in _DETECTORS:
        layout = detector(root)
        if layout is not None and (format is None or layout.format == format):
            found.setdefault(layout.format, layout)
    if format in (None, "yolo"):
        layout = detect_yolo(root)
        if layout is not None:
            found.setdefault(layout.format, layout)
    if len(found) == 1:
        return next(iter(found.values()))
    if found:
        kinds = "; ".join(f"{f}: {layout.kind}" for f, layout in sorted(found.items()))
        raise DatasetError(f"{root} holds more than one export layout ({kinds})",
                           hint=f"say which with dataset.format: one of {', '.join(sorted(found))}")
    wanted = [k for k in _LOOKED_FOR if format is None or k.lower().find(format) >= 0
              or (format == "voc" and "VOC" in k)]
    raise DatasetError(f"no {format + ' ' if format else ''}export layout recognised in {root}; looked for: "
                       + "; ".join(wanted or _LOOKED_FOR),
                       hint="point dataset.path at the export's root folder, or give format + images + annotations")


def layout_for(spec_root: Path, dataset: Dataset) -> Layout:
    """Where the spec's dataset is: a detected export (``path``) or the one explicit part (issue 3's form)."""
    names = spec_root / dataset.names if dataset.names is not None else None
    if dataset.path is not None:
        layout = detect_layout(spec_root / dataset.path, dataset.format)
        if names is None:
            return layout
        parts = tuple(replace(p, names=names) for p in layout.parts)
        return replace(layout, parts=parts, names_file=names)
    assert dataset.format is not None
    root = spec_root / dataset.images_root
    annotations = tuple(spec_root / a for a in dataset.annotation_list)
    return Layout(dataset.format, "explicit", root, (Part(dataset.format, annotations, root, names=names),), names)


# --- reading -----------------------------------------------------------------------------------------------------

def names_from_labelmap(text: str) -> tuple[str, ...]:
    """Class names of a CVAT ``labelmap.txt`` (``# label:color_rgb:parts:actions`` then ``name:r,g,b::``), in order."""
    names = []
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            names.append(line.split(":", 1)[0].strip())
    return ordered_unique(n for n in names if n)


def _read_part(part: Part, classes: Sequence[str] | None, compact: bool) -> ReadResult:
    from odspec.datasets import COMPACT_READERS, READERS

    annotations: Path | list[Path] = list(part.annotations) if len(part.annotations) != 1 else part.annotations[0]
    wanted = list(classes) if classes is not None else None
    if part.format == "yolo":
        from odspec.datasets.yolo import read_yolo

        extra: dict[str, Any] = {"image_list": part.image_list} if part.image_list is not None else {}
        return read_yolo(part.images, annotations, wanted, names_file=part.names, **extra)
    reader = (COMPACT_READERS if compact else READERS).get(part.format) or READERS[part.format]
    return reader(part.images, annotations, wanted)


def _roboflow_dataset_category(read: ReadResult, part: Part) -> str | None:
    """The first category of a Roboflow ``_annotations.coco.json``: a candidate for the project category
    Roboflow prepends (named after the project, the supercategory of the real classes, no boxes)."""
    if len(read.classes_seen) < 2 or "_annotations.coco.json" not in part.annotations[0].name:
        return None
    return read.classes_seen[0]


def read_layout(layout: Layout, classes: Sequence[str] | None, *, compact: bool = False) -> ReadResult:
    """Every part of ``layout`` read, image paths relative to ``layout.root``, splits as the layout names them."""
    results: list[tuple[Part, ReadResult]] = [(part, _read_part(part, classes, compact)) for part in layout.parts]
    findings: list[Finding] = []
    declared: list[str] = []
    if layout.names_file is not None and layout.names_file.name.lower() == "labelmap.txt":
        declared.extend(names_from_labelmap(layout.names_file.read_text(encoding="utf-8-sig")))
    found = {_roboflow_dataset_category(read, part) for part, read in results if part.format == "coco"}
    candidates = sorted(c for c in found if c is not None)
    used: set[str] = set().union(*(box_labels(read.examples) for part, read in results if part.format == "coco")) \
        if candidates else set()
    extra = next((c for c in candidates if c not in used and c not in (classes or ())), None)
    if len(candidates) > 1:
        extra = None  # the parts disagree on their first category: not Roboflow's project category
    for part, read in results:
        if extra is not None and extra in read.classes_seen[:1]:
            if not any(f.what.startswith(f"category '{extra}'") for f in findings):
                findings.append(Finding(str(part.annotations[0]), f"category '{extra}' is Roboflow's project "
                                        "category (the supercategory of the classes, no boxes)", "note: left out"))
            extra_here = extra
        else:
            extra_here = None
        declared.extend(n for n in read.classes_seen if n != extra_here)
        findings.extend(read.findings)
    for part, read in results:
        findings.extend(unlabelled_images(part.images, read.examples, layout.root))
    seen = ordered_unique(declared)
    if len(results) == 1:
        part, read = results[0]
        prefix = _prefix(layout, part)
        if prefix is None and part.split is None and part.reader_split:
            return ReadResult(read.examples, findings, seen)
    if compact and all(isinstance(read.examples, CompactExamples) for _part, read in results):
        columns = CompactExamples()
        for part, read in results:
            keep = part.split is None and part.reader_split
            columns.append_all(read.examples, prefix=_prefix(layout, part), split=part.split,  # type: ignore[arg-type]
                               keep_split=keep)
        return ReadResult(columns, findings, seen)
    merged: list[Example] = []
    for part, read in results:
        prefix = _prefix(layout, part)
        for example in read.examples:
            image = Path(prefix, example.image) if prefix else example.image
            split = part.split if part.split is not None or not part.reader_split else example.split
            if image != example.image or split != example.split:
                merged.append(replace(example, image=image, split=split))
            else:
                merged.append(example)
    examples: Sequence[Example] = as_compact(merged) if compact else merged
    return ReadResult(examples, findings, seen)


def unlabelled_images(images: Path, examples: Sequence[Example], root: Path) -> list[Finding]:
    """Images in a folder that holds annotated images but without an annotation of their own: one finding per folder."""
    names = examples.paths if isinstance(examples, CompactExamples) else [e.image.as_posix() for e in examples]
    annotated = set(names)
    folders = sorted({posixpath.dirname(n) for n in annotated})
    found = []
    for folder in folders:
        where = images / folder if folder else images
        try:
            entries = sorted(p.name for p in where.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        except OSError:
            continue
        missing = [n for n in entries if posixpath.join(folder, n) not in annotated]
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            label = os.path.relpath(where, root)
            found.append(Finding(label if label != "." else str(root),
                                 f"{len(missing)} image{'s have' if len(missing) > 1 else ' has'} no annotation "
                                 f"({shown})", "warning: left out"))
    return found


def _prefix(layout: Layout, part: Part) -> str | None:
    rel = os.path.relpath(part.images, layout.root)
    return None if rel == "." else Path(rel).as_posix()


def refuse_missing_source_splits(layout: Layout, examples: Sequence[Example]) -> None:
    """``split.from_source``: every image must have a split from the source, else the build stops, saying where."""
    missing = [e.image.as_posix() for e in examples if e.split is None]
    if not missing:
        return
    looked = list(layout.split_sources) or [
        "the split lists beside the annotations (VOC ImageSets/Main/<split>.txt)"
        if layout.format == "voc" else "the annotation file names (train/val/test in the name)"
    ]
    shown = ", ".join(sorted(missing)[:3]) + (", ..." if len(missing) > 3 else "")
    raise DatasetError(
        f"split.from_source is true, but {len(missing)} of {len(examples)} images have no split in the source "
        f"({shown}); looked in: {'; '.join(looked)}",
        hint="name each image's split in the source (a folder or list per split), or set split.from_source: false "
             "to split by the ratios",
    )


def box_labels(examples: Sequence[Example]) -> set[str]:
    """The class names the boxes of ``examples`` carry."""
    if isinstance(examples, CompactExamples):
        return examples.labels()
    return {b.label for e in examples for b in e.boxes}


def class_findings(declared: Sequence[str], labelled: Iterable[str], kept: Iterable[str], classes: Sequence[str],
                   source: str) -> list[Finding]:
    """A class the dataset declares that the spec does not list, and a spec class no kept box has: one finding each.

    ``declared`` is :attr:`ReadResult.classes_seen` (CVAT labelmap.txt, COCO categories, or the labels in use),
    in source order; ``labelled`` the labels the boxes carry as read (a box of a class the spec does not list is
    already a finding of its own, with a did-you-mean, so its class is not said twice); ``kept`` the labels of the
    boxes kept.
    """
    listed, boxed = set(classes), set(labelled)
    found = []
    extra = [c for c in ordered_unique(declared) if c not in listed and c not in boxed]
    if extra:
        found.append(Finding(source, f"class{'es' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} "
                             f"declared by the dataset but not in dataset.classes", "warning: ignored (no boxes)"))
    seen = set(kept)
    never = [c for c in classes if c not in seen]
    if never:
        one = len(never) == 1
        found.append(Finding("dataset.classes", f"{', '.join(map(repr, never))} "
                             f"{'never occurs' if one else 'never occur'} in the dataset",
                             f"warning: the model learns nothing for {'it' if one else 'them'}; check the spelling "
                             f"or remove {'it' if one else 'them'}"))
    return found
