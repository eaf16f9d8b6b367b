"""Pascal VOC XML, one file per image, as written by LabelImg and the VOC devkit.

The image is ``<filename>`` relative to the images folder; ``<folder>`` and
``<path>`` are ignored (LabelImg writes absolute paths of the labelling
machine). Only ``*.xml`` directly inside an annotations folder are read.
Splits come from ``ImageSets/Main/{train,val,test}.txt`` beside the
annotations folder (VOC layout: ``Annotations/`` and ``ImageSets/`` are
siblings); ``trainval.txt`` counts as ``train`` when neither ``train.txt`` nor
``val.txt`` exists. Files are matched to split lists by their stem.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from xml.parsers.expat import ErrorString

from odspec.datasets.model import Box, Example, Finding, ReadResult
from odspec.datasets.paths import (
    AnnotationPaths,
    as_path_list,
    child,
    expand_annotation_paths,
    image_path_in_root,
    ordered_unique,
    outside_root_what,
    split_list_name,
)
from odspec.datasets.values import finite_float, flag, whole_number

SPLIT_FILES = ("train", "val", "test")
COORDINATES = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class SplitEntry:
    """Where an image id was listed, so findings can point at the line."""

    split: str
    file: str
    line: int


def read_voc(
    root: Path,
    annotations: AnnotationPaths,
    classes: list[str] | None = None,
    *,
    splits_dir: Path | None = None,
) -> ReadResult:
    """Read VOC XML files; ``classes`` is accepted for a uniform signature and unused."""
    files = expand_annotation_paths(annotations, "*.xml")
    splits, findings = read_voc_splits(_split_dirs(annotations, splits_dir))
    examples: list[Example] = []
    for xml_file, _ in files:
        entry = splits.get(xml_file.stem)
        example, found = parse_voc_xml(
            root, xml_file.read_bytes(), str(xml_file), entry.split if entry else None
        )
        findings.extend(found)
        if example is not None:
            examples.append(example)
    findings.extend(_listed_without_annotation(splits, {f.stem for f, _ in files}))
    labels = ordered_unique(b.label for e in examples for b in e.boxes)
    return ReadResult(examples, findings, labels)


def parse_voc_xml(
    root: Path, data: bytes, source: str, split: str | None = None
) -> tuple[Example | None, list[Finding]]:
    """One VOC annotation; ``None`` when the file as a whole cannot be used."""
    if not data.strip():
        return None, [Finding(source, "empty file", "file skipped")]
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as err:
        what = f"malformed XML: {ErrorString(err.code)}"
        return None, [Finding(source, what, "file skipped", err.position[0])]
    if tree.tag != "annotation":
        what = f"root element is <{tree.tag}>, expected <annotation>"
        return None, [Finding(source, what, "file skipped")]
    filename = _text(tree, "filename")
    named: list[Finding] = []
    if filename is None:
        written = _text(tree, "path")  # LabelImg's absolute path on the labeller's machine, Windows or POSIX
        if written is None or not PureWindowsPath(written).name:
            return None, [Finding(source, "missing <filename>", "file skipped")]
        filename = PureWindowsPath(written).name
        named.append(Finding(source, f"no <filename>: the image is '{filename}', the last part of <path>",
                             "note: read"))
    image = image_path_in_root(root, filename)
    if image is None:
        return None, [Finding(source, outside_root_what(filename), "example skipped")]
    width, height, findings = _voc_size(tree, source)
    findings = [*named, *findings]
    boxes: list[Box] = []
    for index, obj in enumerate(tree.findall("object"), start=1):
        parsed = parse_voc_object(obj, index)
        if isinstance(parsed, Box):
            boxes.append(parsed)
        else:
            findings.append(Finding(source, parsed, "object skipped"))
    return Example(image, width, height, tuple(boxes), source, split), findings


def parse_voc_object(obj: ET.Element, index: int) -> Box | str:
    """A box, or the text of what is wrong with this ``<object>``."""
    name = _text(obj, "name")
    if name is None:
        return f"object {index}: missing <name>"
    where = f"object {index} ('{name}')"
    if obj.find("bndbox") is None:
        return f"{where}: missing <bndbox>"
    values: list[float] = []
    for key in COORDINATES:
        text = _text(obj, f"bndbox/{key}")
        if text is None:
            return f"{where}: missing <bndbox><{key}>"
        number = finite_float(text)
        if number is None:
            return f"{where}: <{key}> is '{text}', expected a number"
        values.append(number)
    xmin, ymin, xmax, ymax = values
    return Box(
        name, xmin, ymin, xmax, ymax,
        difficult=flag(_text(obj, "difficult")),
        truncated=flag(_text(obj, "truncated")),
        pose=_text(obj, "pose") or "Unspecified",
    )


def _voc_size(tree: ET.Element, source: str) -> tuple[int | None, int | None, list[Finding]]:
    """``<size>``; a recorded 0 means "unknown" (some converters write it), not zero pixels."""
    sizes: list[int | None] = []
    for key in ("width", "height"):
        text = _text(tree, f"size/{key}")
        number = whole_number(text) if text is not None else None
        if text is not None and number is None:
            what = f"<size><{key}> is '{text}', expected a whole number"
            return None, None, [Finding(source, what, "size ignored")]
        sizes.append(number or None)
    return sizes[0], sizes[1], []


def read_voc_splits(dirs: list[Path]) -> tuple[dict[str, SplitEntry], list[Finding]]:
    """Image id -> split from the VOC split lists found in ``dirs``."""
    entries: dict[str, SplitEntry] = {}
    findings: list[Finding] = []
    for folder in dirs:
        for split, path in _split_files(folder):
            for line_no, line in enumerate(path.read_text().splitlines(), start=1):
                words = line.split()
                if not words:
                    continue
                new = SplitEntry(split, str(path), line_no)
                old = entries.setdefault(words[0], new)
                if old is not new:
                    what = f"'{words[0]}' is also listed in {old.file}:{old.line}"
                    findings.append(Finding(str(path), what, f"kept in {old.split}", line_no))
    return entries, findings


def _split_files(folder: Path) -> list[tuple[str, Path]]:
    """The split lists of ``folder`` in any capitalisation (``Train.txt``, ``validation.txt``), train/val/test order."""
    try:
        files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name)
    except OSError:
        return []
    named = [(split_list_name(p), p) for p in files]
    present = sorted(((s, p) for s, p in named if s is not None), key=lambda sp: SPLIT_FILES.index(sp[0]))
    trainval = next((p for p in files if p.name.lower() == "trainval.txt"), None)
    if trainval is not None and not any(s in ("train", "val") for s, _ in present):
        present.insert(0, ("train", trainval))
    return present


def _split_dirs(annotations: AnnotationPaths, splits_dir: Path | None) -> list[Path]:
    if splits_dir is not None:
        return [splits_dir]
    folders = [p if p.is_dir() else p.parent for p in as_path_list(annotations)]
    found = []
    for folder in folders:
        sets = child(folder.parent, "ImageSets")
        main = child(sets, "Main") if sets is not None else None
        found.append(main if main is not None else folder.parent / "ImageSets" / "Main")
    return list(dict.fromkeys(found))


def _listed_without_annotation(splits: dict[str, SplitEntry], stems: set[str]) -> list[Finding]:
    return [
        Finding(e.file, f"'{image_id}' has no annotation file", "ignored", e.line)
        for image_id, e in splits.items()
        if image_id not in stems
    ]


def _text(element: ET.Element, path: str) -> str | None:
    text = element.findtext(path)
    return text.strip() if text is not None and text.strip() else None
