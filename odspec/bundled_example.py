"""`odspec example DIR`: the bundled example project (a spec and its dataset) copied into a new folder.

The example ships inside the package (``odspec/example``): ``example.yaml`` and the
``shapes/`` dataset it names. The repository's ``specs/example.yaml`` (the README's
first command) is the same spec with its dataset folders pointed at the package's
copy; :func:`relocated_spec` makes it, so there is one text to edit.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from odspec.errors import BuildError
from odspec.folders import claim
from odspec.io import replace_dir
from odspec.resources import example_folder

SPEC_NAME = "example.yaml"
# How scripts/make_example_data.py draws the bundled dataset (odspec.datasets.synthetic.make_shapes): 60 images
# of 320x320, the model's input size (no resizing blurs the edges), shapes of 48..128 pixels a side (the detector
# localises them well enough for a clear mAP in a few hundred steps from scratch; 30..90 at 256x256 peaked at 0.46).
EXAMPLE_IMAGES = 60
EXAMPLE_SIZE = (320, 320)
EXAMPLE_SIDES = (48, 128)
EXAMPLE_CLASSES = ("circle", "square")
DATASET_KEYS = ("images", "annotations")
REPO_SPEC_BASE = "../odspec/example"  # from the repository's specs/ to the bundled example
REPO_SPEC_HEADER = (
    "# Made from odspec/example/example.yaml (the spec `odspec example DIR` writes) by\n"
    "# scripts/make_example_data.py: the same spec, its dataset folders relative to specs/.\n"
)


@dataclass(frozen=True)
class ExampleWritten:
    folder: Path  # resolved
    spec: Path  # as the user named it: what the next commands are typed with
    images: int
    next_commands: list[str]


def write_example(target: Path) -> ExampleWritten:
    """Copy the bundled example into ``target``: a new or empty folder, or an untouched copy written before.

    The copy is staged beside ``target`` and renamed into place. A folder that
    already exists (say the current one) is kept and filled entry by entry, the
    spec last, so a spec never stands without its dataset.
    """
    source = example_folder().resolve()
    folder = claim(target, owned=lambda found: is_example_copy(found, source), protected=[source],
                   verb="write the example into", kind="example")
    if source in folder.parents:
        raise BuildError(f"refusing to write the example into {folder}: it is inside odspec's own copy of it",
                         "choose a folder outside the odspec package")
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.example-", dir=folder.parent))
    try:
        staged = stage / folder.name
        shutil.copytree(source, staged, copy_function=shutil.copyfile,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if not folder.exists():
            staged.rename(folder)
        else:
            for entry in sorted(staged.iterdir(), key=lambda p: p.name == SPEC_NAME):
                _replace(entry, folder / entry.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    spec = target.expanduser() / SPEC_NAME
    images = sum(1 for p in (folder / "shapes" / "images").iterdir() if p.is_file())
    return ExampleWritten(folder, spec, images, next_commands(spec))


def _replace(new: Path, target: Path) -> None:
    if new.is_dir():
        replace_dir(new, target)
    else:
        os.replace(new, target)


def next_commands(spec: Path) -> list[str]:
    return [f"odspec {verb} {shlex.quote(str(spec))}" for verb in ("build", "run")]


def is_example_copy(folder: Path, source: Path) -> bool:
    """Every entry below ``folder`` is a folder or an identical file of the bundled example (none is a link).

    Such a folder is odspec's to rewrite: nothing in it would be lost. Anything
    else (an edited spec, a build or run folder beside it) makes it the user's.
    """
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        original = source / here.relative_to(folder)
        for name in dirs:
            if (here / name).is_symlink() or not (original / name).is_dir():
                return False
        for name in files:
            copy, bundled = here / name, original / name
            if copy.is_symlink() or not bundled.is_file() or copy.read_bytes() != bundled.read_bytes():
                return False
    return True


def relocated_spec(text: str, base: str) -> str:
    """The example spec ``text`` with ``dataset.images`` and ``dataset.annotations`` moved below ``base``.

    Only those two values change (comments and layout stay), and a header says
    where the text comes from.
    """
    import yaml

    root = yaml.compose(text)
    dataset = _mapping_value(root, "dataset")
    spans = []
    for key in DATASET_KEYS:
        node = _mapping_value(dataset, key)
        if not isinstance(node, yaml.ScalarNode) or node.style is not None:
            raise ValueError(f"dataset.{key} must be a plain string to be relocated")
        spans.append((node.start_mark.index, node.end_mark.index, f"{base}/{node.value}"))
    for start, end, value in sorted(spans, reverse=True):
        text = text[:start] + value + text[end:]
    return REPO_SPEC_HEADER + text


def _mapping_value(node: object, key: str) -> object:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(name, yaml.ScalarNode) and name.value == key:
                return value
    raise ValueError(f"the example spec has no {key!r} mapping entry")


def repo_spec_text() -> str:
    """What ``specs/example.yaml`` must hold: the bundled spec, relocated for the repository's ``specs/``."""
    return relocated_spec((example_folder() / SPEC_NAME).read_text(), REPO_SPEC_BASE)
