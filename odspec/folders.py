"""The one home of "may odspec write here?": a folder odspec writes is new, empty, or one it made.

A folder is odspec's when it carries odspec's marker file (``build.json`` with
the build format tag for a build folder, ``odspec-run.json`` for a model folder).
Anything else that already holds files belongs to the user and is never touched,
and neither are the spec's own folder, the dataset's folders or their ancestors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from odspec.errors import BuildError

BUILD_FORMAT = "odspec-build-1"
BUILD_MARKER = "build.json"
BUILD_HIDDEN = (".cache.json", ".inputs.json")  # odspec's own files in a build folder, not in its outputs
GLOB_CHARACTERS = re.compile(r"[*?\[\]]")
SHOWN = 5


def is_build_folder(folder: Path) -> bool:
    """A folder odspec built: its ``build.json`` carries the format tag (or is an older odspec's manifest)."""
    try:
        manifest = json.loads((folder / BUILD_MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    legacy = "format" not in manifest and "outputs" in manifest and "odspec" in manifest
    return manifest.get("format") == BUILD_FORMAT or legacy


def has_marker(marker: str) -> Callable[[Path], bool]:
    return lambda folder: (folder / marker).is_file()


def only_entries(*patterns: str) -> Callable[[Path], bool]:
    """Owned when every entry matches one of ``patterns`` (folders odspec fills with files it names itself)."""
    return lambda folder: all(any(p.match(pattern) for pattern in patterns) for p in folder.iterdir())


def claim(path: Path, *, owned: Callable[[Path], bool], protected: Iterable[Path] = (),
          verb: str = "write into", kind: str = "output") -> Path:
    """``path`` resolved, when odspec may write there; else a BuildError naming what is in the way. Writes nothing."""
    target = path.expanduser().resolve()
    _refuse_below_file(target, verb)
    if target.exists() and not target.is_dir():
        raise BuildError(f"refusing to {verb} {target}: it is a file, not a folder", "choose a new folder")
    for folder in protected:
        kept = folder.expanduser().resolve()
        if target == kept or target in kept.parents:
            raise BuildError(f"refusing to {verb} {target}: it holds {kept}, which odspec must not replace",
                             "choose a new folder, e.g. build/<project> beside the spec")
    if target.is_dir() and any(target.iterdir()) and not owned(target):
        raise BuildError(f"refusing to {verb} {target}: it is not an odspec {kind} "
                         f"folder (it holds {describe_entries(target)})",
                         "choose an empty or new folder, or delete it yourself")
    return target


def claim_build_folder(path: Path, protected: Iterable[Path] = ()) -> Path:
    """``claim`` for a build folder, which must also make a usable OD API glob and hold only odspec's files."""
    target = claim(path, owned=is_build_folder, protected=protected, verb="build into", kind="build")
    check_glob_safe(target)
    stray = unowned_build_files(target)
    if stray:
        raise BuildError(f"refusing to replace {target}: it holds files odspec did not write: {', '.join(stray)}",
                         "move them out of the build folder, then build again")
    return target


def claim_file(path: Path) -> Path:
    """``path`` resolved, when odspec may write a file there: not a folder, not below a file."""
    target = path.expanduser().resolve()
    _refuse_below_file(target, "write")
    if target.is_dir():
        raise BuildError(f"refusing to write {target}: it is a folder", "name a file, e.g. preview.png")
    return target


def check_glob_safe(target: Path) -> None:
    """The OD API reads shards through a glob of the build folder's path: ``*?[]`` in it would match nothing."""
    if GLOB_CHARACTERS.search(str(target)):
        safe = GLOB_CHARACTERS.sub("_", target.name) or "build"
        raise BuildError(f"refusing to build into {target}: its path holds one of * ? [ ], which the OD API reads "
                         f"as a glob pattern and would find no records",
                         f"choose a folder without them, e.g. --out {target.with_name(safe)}")


def unowned_build_files(folder: Path) -> list[str]:
    """Entries of an existing build folder that are neither in its manifest's outputs nor odspec's hidden files."""
    if not folder.is_dir() or not (folder / BUILD_MARKER).is_file():
        return []
    try:
        outputs = json.loads((folder / BUILD_MARKER).read_text()).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        return []
    known = {*outputs, *BUILD_HIDDEN}
    return [_entry_name(p) for p in sorted(folder.iterdir()) if p.name not in known]


def describe_entries(folder: Path) -> str:
    entries = sorted(folder.iterdir())
    names = ", ".join(_entry_name(p) for p in entries[:SHOWN])
    return names if len(entries) <= SHOWN else f"{names} … {len(entries)} entries"


def _entry_name(path: Path) -> str:
    return path.name + ("/" if path.is_dir() and not path.is_symlink() else "")


def _refuse_below_file(target: Path, verb: str) -> None:
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise BuildError(f"refusing to {verb} {target}: {parent} is a file, not a folder", "choose another folder")
