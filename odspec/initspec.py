"""`odspec init DATA_DIR`: what a dataset folder holds, and the starting spec that builds it.

:func:`survey` turns a detected layout and what its readers returned into a
:class:`Survey` (counts, classes and where they came from, the source split);
:func:`spec_values` decides everything the spec says (pure); the template
``init_spec.yaml.j2`` only formats those values.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odspec.datasets.model import Finding, ReadResult
from odspec.datasets.split import SPLITS, Ratios, SplitItem, assign_splits
from odspec.spec.names import valid_project_name

DEFAULT_ARCHITECTURE = "ssd_mobilenet_v2_fpnlite_320"
TEMPLATE = "init_spec.yaml.j2"
RATIOS: Ratios = (0.8, 0.1, 0.1)
FORMAT_NAMES = {"voc": "Pascal VOC XML", "coco": "COCO JSON", "yolo": "YOLO txt", "csv": "CSV"}


@dataclass(frozen=True)
class Survey:
    """What `odspec init` found in a dataset folder."""

    root: Path  # the export's root folder (absolute)
    format: str
    kind: str  # the layout, as detection named it
    classes: tuple[str, ...]  # in source order
    classes_from: str  # where that order came from, for people
    images: int
    boxes: int
    per_split: dict[str, int]  # images per source split (train/val/test order; empty without a source split)
    unsplit: int  # images the source gives no split
    findings: tuple[Finding, ...]
    items: tuple[SplitItem, ...] = ()  # per image, what splitting it by share needs


def survey(root: Path, format: str, kind: str, read: ReadResult, names_file: Path | None) -> Survey:
    """Counts, classes and the source split of what the readers returned for ``root``."""
    splits: Counter[str] = Counter()
    images: dict[str, set[str]] = {}
    boxes = 0
    for example in read.examples:
        key = example.image.as_posix()
        if key not in images:
            images[key] = set()
            splits[example.split or ""] += 1
        images[key].update(b.label for b in example.boxes)
        boxes += len(example.boxes)
    if names_file is not None:
        classes_from = f"as listed in {_shown(names_file, root)}"
    elif format == "coco":
        classes_from = "in the order of the COCO categories"
    else:
        classes_from = "in order of first use in the annotations: the format lists no classes"
    return Survey(root, format, kind, tuple(read.classes_seen), classes_from, len(images), boxes,
                  {s: splits[s] for s in SPLITS if splits[s]}, splits[""], tuple(read.findings),
                  tuple(SplitItem(key, frozenset(labels)) for key, labels in images.items()))


def choose_seed(items: Sequence[SplitItem], ratios: Ratios = RATIOS, tries: int = 100) -> int | None:
    """The first split.seed under which train and val both get images (as the build splits them), if any.

    A small dataset can leave val empty under one seed, and the build then refuses; init writes a seed that works.
    """
    for seed in range(tries):
        placed = Counter(assign_splits(items, ratios=ratios, seed=seed, use_source=False).values())
        if placed["train"] and placed["val"]:
            return seed
    return None


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def project_name_for(folder: str) -> str:
    """A valid project name (odspec.spec.names) from a folder's name: accents dropped, other characters '-'."""
    plain = unicodedata.normalize("NFKD", folder).encode("ascii", "ignore").decode()  # "Ünïcode" -> "Unicode"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", plain).replace("..", ".")
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:100].rstrip(".-_") or "project"
    return name if valid_project_name(name) else "project"


def spec_values(found: Survey, spec_path: Path, architecture: str) -> dict[str, Any]:
    """Every value the spec template writes, decided here; strings arrive quoted as YAML (JSON) scalars."""
    relative = Path(os.path.relpath(found.root, spec_path.resolve().parent)).as_posix()
    named = [s for s in SPLITS if found.per_split.get(s)]
    evaluated = "val" if "val" in named else "test" if "test" in named else None
    from_source = bool(named) and found.unsplit == 0 and evaluated is not None
    if from_source:
        split_comment = (f"The export's own split ({', '.join(f'{s} {found.per_split[s]}' for s in named)} images); "
                         "set from_source: false to split by share instead.")
    elif named:
        gives = "only train" if evaluated is None else f"no split for {found.unsplit} images"
        split_comment = f"The source split gives {gives}: images are split by these shares, seeded and stable."
    else:
        split_comment = "No split in the source: images are split by these shares, seeded and stable."
    seed = None if from_source else choose_seed(found.items)
    if not from_source and seed is None:
        split_comment += " Too few images to give val any: the build refuses until there are more."
    elif seed:
        split_comment += f" Seed {seed} is the first under which val gets images."
    return {
        "data_dir": json.dumps(str(found.root)), "kind": found.kind, "spec_name": spec_path.name,
        "project": json.dumps(project_name_for(found.root.name)), "path": json.dumps(relative),
        "format": found.format, "classes": [json.dumps(c, ensure_ascii=False) for c in found.classes],
        "classes_from": found.classes_from, "from_source": from_source, "split_comment": split_comment,
        "eval_split": evaluated if from_source and evaluated != "val" else None,
        "architecture": architecture, "ratios": dict(zip(SPLITS, RATIOS, strict=True)), "seed": seed or 0,
    }


def render_spec(values: dict[str, Any]) -> str:
    from odspec.compile.render import render

    return render(TEMPLATE, values)


def summary_lines(found: Survey, spec_path: Path, *, findings_shown: int = 10) -> list[str]:
    """What init prints: layout, classes, split, counts, findings worth knowing, and what to run next."""
    lines = [f"found: {found.kind} ({FORMAT_NAMES.get(found.format, found.format)}) in {found.root}",
             f"classes ({len(found.classes)}, {found.classes_from}): {', '.join(found.classes) or 'none'}",
             f"images: {found.images}, boxes: {found.boxes}"]
    if found.per_split:
        split = ", ".join(f"{s} {n}" for s, n in found.per_split.items())
        lines.append(f"source split: {split}" + (f", none for {found.unsplit}" if found.unsplit else ""))
    else:
        lines.append("source split: none (the spec splits by share)")
    lines.extend(f"finding: {f}" for f in found.findings[:findings_shown])
    if len(found.findings) > findings_shown:
        lines.append(f"… and {len(found.findings) - findings_shown} more findings (`odspec validate --data` lists all)")
    lines.append(f"wrote {spec_path}; next: odspec validate {spec_path} --data && odspec build {spec_path}")
    return lines
