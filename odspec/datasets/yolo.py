"""YOLO labels: one ``.txt`` per image, lines ``class x_center y_center width height``.

Values are fractions of the image size, so each image's header is read (not
its pixels) to turn them into pixels; that size is recorded on the example.
The image of ``labels/<sub>/<stem>.txt`` is ``<images>/<sub>/<stem>.*``, else
one beside the label, else the label's path with its last ``labels`` folder
replaced by ``images`` (the Ultralytics and Roboflow layouts); it must lie
inside the images folder. Class names come from the first ``classes.txt`` /
``data.yaml`` / ``data.yml`` found in an annotations folder or the images
folder, then in their parents; the spec's ``classes`` are the fallback. The
split is a folder name between the annotations folder and the label
(``labels/train/x.txt``), or the annotations folder's own name, or for a
folder named ``labels`` its parent's name (``train/labels``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import (
    IMAGE_SUFFIXES,
    AnnotationPaths,
    as_path_list,
    expand_annotation_paths,
    relative_inside,
    split_from_names,
)
from odspec.datasets.values import finite_float
from odspec.errors import DatasetError

NAME_FILES = ("classes.txt", "obj.names", "data.yaml", "data.yml")
LINE_SHAPE = "'class x_center y_center width height'"
ImageIndex = dict[str, list[Path]]


def read_yolo(
    root: Path,
    annotations: AnnotationPaths,
    classes: list[str] | None = None,
    *,
    names_file: Path | None = None,
    image_list: Path | None = None,
) -> ReadResult:
    """Read the YOLO label files under ``annotations`` (recursively), or those of ``image_list``'s images."""
    if not root.is_dir():
        raise DatasetError(
            f"images folder {root} does not exist",
            hint="YOLO labels need their images to be read; check dataset.images in the spec",
        )
    folders = [p if p.is_dir() else p.parent for p in as_path_list(annotations)]
    names = yolo_class_names(names_file or find_names_file([*folders, root]), classes, [*folders, root])
    if image_list is not None:
        return _read_image_list(root, image_list, names)
    index = index_images(root)
    examples: list[Example] = []
    findings: list[Finding] = []
    for label, folder in expand_annotation_paths(annotations, "*.txt", recursive=True):
        if label.name in NAME_FILES:
            continue
        example, found = read_yolo_label(root, label, folder, names, index)
        findings.extend(found)
        if example is not None:
            examples.append(example)
    negatives, found = unlabelled_images(root, index, examples)
    return ReadResult(examples + negatives, findings + found, tuple(names))


def unlabelled_images(
    root: Path, index: ImageIndex, examples: Sequence[Example]
) -> tuple[list[Example], list[Finding]]:
    """Images without a label file, in a folder whose other images have one: negatives, as Ultralytics counts them.

    One finding per folder says how many. Folders with no labelled image are left out
    (they may belong to another part), as the images of a label that was not read.
    """
    labelled = {e.image.with_suffix("").as_posix() for e in examples}
    split_of = {e.image.parent: e.split for e in examples}
    by_folder: dict[Path, list[Path]] = {}
    for key, paths in index.items():
        image = paths[0]
        if key not in labelled and image.parent in split_of:
            by_folder.setdefault(image.parent, []).append(image)
    negatives: list[Example] = []
    findings: list[Finding] = []
    for folder, images in sorted(by_folder.items()):
        for image in sorted(images):
            size = read_image_size(root, image)
            if isinstance(size, str):
                findings.append(Finding(str(root / image), size, "example skipped"))
                continue
            negatives.append(Example(image, size[0], size[1], (), str(root / image), split_of[folder]))
        findings.append(Finding(str(root / folder), f"{len(images)} images have no label file",
                                "kept as negatives (no boxes), as Ultralytics counts them as backgrounds"))
    return negatives, findings


def _read_image_list(root: Path, listing: Path, names: Sequence[str]) -> ReadResult:
    """The images an Ultralytics/CVAT ``train.txt`` lists; each one's label by ``img2label_paths``, else beside it."""
    examples: list[Example] = []
    findings: list[Finding] = []
    backgrounds = 0
    text = listing.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        image = listed_image(root, listing, line.strip())
        if image is None:
            findings.append(Finding(str(listing), f"image '{line.strip()}' is not in {root}", "line skipped", number))
            continue
        size = read_image_size(root, image)
        if isinstance(size, str):
            findings.append(Finding(str(listing), size, "line skipped", number))
            continue
        label = label_of_image(root / image)
        boxes: list[Box] = []
        if label is None:
            backgrounds += 1
        else:
            boxes, found = parse_yolo_labels(label.read_text(encoding="utf-8-sig"), names, size, str(label))
            findings.extend(found)
        examples.append(Example(image, size[0], size[1], tuple(boxes), str(label or listing)))
    if backgrounds:
        findings.append(Finding(str(listing), f"{backgrounds} listed images have no label file",
                                "kept as negatives (no boxes), as Ultralytics counts them as backgrounds"))
    return ReadResult(examples, findings, tuple(names))


def listed_image(root: Path, listing: Path, name: str) -> Path | None:
    """A list line as an image relative to ``root``: from the list's folder (``./`` stripped).

    CVAT's ``data/`` prefix is the root.
    """
    cleaned = name.replace("\\", "/")
    cleaned = cleaned[2:] if cleaned.startswith("./") else cleaned
    candidates = [Path(cleaned) if os.path.isabs(cleaned) else listing.parent / cleaned]
    if cleaned.startswith("data/"):
        candidates.append(listing.parent / cleaned[len("data/"):])
    for candidate in candidates:
        inside = relative_inside(root, candidate)
        if inside is not None and candidate.is_file():
            return inside
    return None


def label_of_image(image: Path) -> Path | None:
    """Ultralytics' ``img2label_paths`` (last ``images`` -> ``labels``, suffix ``.txt``), else the ``.txt`` beside."""
    parts = list(image.parts)
    candidates = []
    if "images" in parts[:-1]:
        index = len(parts) - 1 - parts[::-1].index("images")
        candidates.append(Path(*parts[:index], "labels", *parts[index + 1:]).with_suffix(".txt"))
    candidates.append(image.with_suffix(".txt"))
    return next((c for c in candidates if c.is_file()), None)


def read_yolo_label(
    root: Path, label: Path, folder: Path, names: Sequence[str], index: ImageIndex
) -> tuple[Example | None, list[Finding]]:
    """One label file, with its image located and its header read."""
    source = str(label)
    image, findings = find_image(root, label, folder, index)
    if image is None:
        return None, findings
    size = read_image_size(root, image)
    if isinstance(size, str):
        return None, [*findings, Finding(source, size, "example skipped")]
    boxes, line_findings = parse_yolo_labels(label.read_text(encoding="utf-8-sig"), names, size, source)
    split = split_from_names(_split_words(label, folder))
    example = Example(image, size[0], size[1], tuple(boxes), source, split)
    return example, findings + line_findings


def parse_yolo_labels(
    text: str, names: Sequence[str], size: tuple[int, int], source: str
) -> tuple[list[Box], list[Finding]]:
    """Boxes in pixels for an image of ``size`` (width, height); bad lines become findings."""
    boxes: list[Box] = []
    findings: list[Finding] = []
    polygons: list[int] = []
    for number, written in enumerate(text.splitlines(), start=1):
        if not written.strip():
            continue
        words = written.split()
        line = written
        if len(words) > 6 and len(words) % 2 == 1:
            line = polygon_as_box(words)
            polygons.append(number)
        parsed = parse_yolo_line(line, names, size)
        if isinstance(parsed, Box):
            boxes.append(parsed)
        else:
            findings.append(Finding(source, parsed, "line skipped", number))
    if polygons:
        what = (f"{len(polygons)} lines are segmentation polygons (Ultralytics' segment format), "
                f"lines {_lines(polygons)}")
        findings.append(Finding(source, what, "box taken from each polygon's extent, as Ultralytics' segments2boxes"))
    return boxes, findings


def polygon_as_box(words: Sequence[str]) -> str:
    """``class x1 y1 x2 y2 ...`` as ``class cx cy w h`` of its extent.

    Unreadable numbers are left for the line's own check.
    """
    read = [finite_float(w) for w in words[1:]]
    values = [v for v in read if v is not None]
    if len(values) < len(read):
        return " ".join(words)
    xs, ys = values[0::2], values[1::2]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return f"{words[0]} {(x0 + x1) / 2} {(y0 + y1) / 2} {x1 - x0} {y1 - y0}"


def _lines(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")


def parse_yolo_line(line: str, names: Sequence[str], size: tuple[int, int]) -> Box | str:
    """A box, or the text of what is wrong with the line."""
    values = [finite_float(word) for word in line.split()]
    numbers = [v for v in values if v is not None]
    if len(values) != 5 or len(numbers) != 5:
        return f"expected {LINE_SHAPE}, got '{line.strip()}'"
    index, cx, cy, w, h = numbers
    if not index.is_integer() or not 0 <= index < len(names):
        return f"class index {line.split()[0]} is not in the class list (0..{len(names) - 1})"
    width, height = size
    return Box(
        names[int(index)],
        (cx - w / 2) * width,
        (cy - h / 2) * height,
        (cx + w / 2) * width,
        (cy + h / 2) * height,
    )


def find_names_file(folders: Sequence[Path]) -> Path | None:
    """First class-names file in ``folders``, then in their parents."""
    bases = list(dict.fromkeys(folders)) + list(dict.fromkeys(f.parent for f in folders))
    for base in bases:
        for name in NAME_FILES:
            if (base / name).is_file():
                return base / name
    return None


def yolo_class_names(path: Path | None, classes: Sequence[str] | None, looked: Sequence[Path] = ()) -> list[str]:
    """Names by class index, from the names file; the spec's ``classes`` must not reorder them."""
    if path is None:
        places = ", ".join(dict.fromkeys(str(p) for p in looked)) or "beside the labels"
        raise DatasetError(
            f"YOLO labels hold class ids only, and no class-names file (classes.txt, obj.names, data.yaml) "
            f"was found in {places} or their parents, so which id is which class is unknown",
            hint="add classes.txt (one name per line, line 1 being id 0) beside the labels, "
                 "or set dataset.names to the export's names file",
        )
    names = read_names_file(path)
    if classes:
        check_class_order(names, classes, path)
    return names


def read_names_file(path: Path) -> list[str]:
    """Class names by id from classes.txt / obj.names (a name a line) or data.yaml (``names:``)."""
    if not path.is_file():
        raise DatasetError(f"class-names file {path} does not exist", hint="check dataset.names in the spec")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_names_yaml(text, path)
    return parse_classes_txt(text, path)


def check_class_order(names: Sequence[str], classes: Sequence[str], path: Path) -> None:
    """Stop when the spec lists the file's classes in another order: ids would silently name the wrong class.

    A spec naming a subset in the file's relative order maps by name (the other classes
    are unknown to it); a reordered one is refused with both orders.
    """
    shared = [c for c in classes if c in names]
    in_file_order = [n for n in names if n in shared]
    if shared == in_file_order:
        return
    file_ids = ", ".join(f"{i}={n}" for i, n in enumerate(names))
    spec_ids = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    raise DatasetError(
        f"the spec's classes are in another order than the YOLO names file {path} gives their ids: "
        f"file {file_ids}; spec {spec_ids}. Reading would silently give boxes the wrong class",
        hint=f"write classes: [{', '.join(in_file_order)}] (the file's order) in the spec; or, if the spec's order "
             f"is the one the labels were made with, fix {path.name}",
    )


def parse_classes_txt(text: str, path: Path) -> list[str]:
    """One name per line; blank lines are allowed only at the end."""
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or "" in names:
        line = names.index("") + 1 if "" in names else 1
        raise DatasetError(
            f"{path}:{line}: empty class name",
            hint="write one class name per line, line 1 being class 0",
        )
    return names


def parse_names_yaml(text: str, path: Path) -> list[str]:
    """``names:`` as a list, or as a mapping from index to name (indices 0..n-1)."""
    hint = "write e.g. names: [cat, dog] or names: {0: cat, 1: dog}"
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DatasetError(f"{path}: not valid YAML: {err}", hint=hint) from err
    names = data.get("names") if isinstance(data, dict) else None
    found: list[str] | None = None
    if isinstance(names, list) and names:
        found = [str(n) for n in names]
    elif isinstance(names, dict) and names:
        keys = sorted(names, key=str)
        if set(names) != set(range(len(names))):
            raise DatasetError(f"{path}: names: keys {keys} are not 0..{len(names) - 1}", hint=hint)
        found = [str(names[i]) for i in range(len(names))]
    if found is None:
        raise DatasetError(f"{path}: no names: list", hint=hint)
    count = data.get("nc")
    if count is not None and count != len(found):
        raise DatasetError(f"{path}: nc: {count} but names: lists {len(found)} classes",
                           hint=f"make nc: {len(found)} or list every class in names:")
    return found


def index_images(root: Path) -> ImageIndex:
    """Images under ``root`` by relative path without suffix ("sub/stem")."""
    index: ImageIndex = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                relative = Path(os.path.relpath(os.path.join(folder, name), root))
                index.setdefault(relative.with_suffix("").as_posix(), []).append(relative)
    return index


def image_candidates(root: Path, label: Path, folder: Path) -> list[str]:
    """Where the image of ``label`` may be, as keys of :func:`index_images`, in order."""
    mirrored = root / label.relative_to(folder).with_suffix("")
    beside = label.with_suffix("")
    parts = list(beside.parts)
    if "labels" in parts:
        parts[len(parts) - 1 - parts[::-1].index("labels")] = "images"
    keys = [relative_inside(root, c) for c in (mirrored, beside, Path(*parts))]
    return list(dict.fromkeys(k.as_posix() for k in keys if k is not None))


def find_image(
    root: Path, label: Path, folder: Path, index: ImageIndex
) -> tuple[Path | None, list[Finding]]:
    """The image of ``label`` relative to ``root``, or a finding saying where it was looked for."""
    candidates = image_candidates(root, label, folder)
    for key in candidates:
        matches = index.get(key, [])
        if matches:
            return matches[0], _several(label, matches)
    looked = ", ".join(f"{k}.*" for k in candidates)
    what = f"no image for this label in the images folder (looked for {looked})"
    return None, [Finding(str(label), what, "example skipped")]


def read_image_size(root: Path, image: Path) -> tuple[int, int] | str:
    """(width, height) of the image as displayed: from the header, with the EXIF orientation applied."""
    from PIL import (
        Image,  # header only; imported here so reading other formats stays light
    )

    from odspec.datasets.images import displayed_size, orientation_of

    try:
        with Image.open(root / image) as opened:
            width, height = opened.size
        data = (root / image).read_bytes()
        # YOLO tools label the image as displayed, so fractions are of the EXIF-rotated size.
        return displayed_size(width, height, orientation_of(data))
    except (OSError, Image.DecompressionBombError) as err:
        return f"cannot read the size of image {image}: {err}"


def _several(label: Path, matches: list[Path]) -> list[Finding]:
    if len(matches) < 2:
        return []
    what = "several images match this label: " + ", ".join(str(m) for m in matches)
    return [Finding(str(label), what, f"using {matches[0]}")]


def _split_words(label: Path, folder: Path) -> list[str]:
    words = [folder.name, *PurePosixPath(label.relative_to(folder).as_posix()).parts[:-1]]
    if folder.name == "labels":
        words.append(folder.parent.name)
    return words
