"""The lock file: what a build was made from and what it made, meant to be committed beside the spec.

``odspec build SPEC`` writes ``<spec stem>.lock`` in the spec's folder: ``odspec.lock`` for ``odspec.yaml``,
``pets.lock`` for ``pets.yaml``, so specs that share a folder never share a lock. It is JSON, keys sorted,
one-space indent, a trailing newline, and nothing that depends on the machine or the moment (no time, no
absolute path), so two builds of the same inputs write the same bytes::

    {"format": "odspec-lock-1",
     "spec": "pets.yaml",                                 # the spec file's name
     "resolved": {...},                                   # the spec with every default filled in
     "inputs": {"data/images/cat.jpg": "<sha256>", ...},  # every annotation file and image, relative to the
                                                          # spec's folder, forward slashes
     "outputs": {"pipeline.config": "<sha256>",           # config and label map: sha256; each shard: the
                 "train-00000-of-00001.tfrecord": "crc32c:1a2b3c4d", ...},  # checksum build.json records
                                                          # (CRC-32C of the whole file), by name in the build folder
     "versions": {"object_detection": "2.8.0.post1", "odspec": "0.1.0", "tensorflow": "2.20.0"}}

The config's hash is taken with the build folder's and the spec folder's absolute paths replaced by
``<build>`` and ``<spec>`` (the config names them absolutely, so the OD API works from any folder): a clone
elsewhere locks the same. Versions are the installed packages' (``importlib.metadata``); TensorFlow is never
imported. This module makes the lock's content from what the build already has (the images' hashes from their
inspection; the annotation files', read again only when their size, mtime or inode changed), compares two
locks into typed differences, and reads and writes the lock file; it writes nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from odspec.errors import LockError
from odspec.folders import is_build_folder
from odspec.io import FileChange, atomic_write, file_identity
from odspec.staging import build_paths, file_sha256

FORMAT = "odspec-lock-1"
COMPILED = ("pipeline.config", "label_map.pbtxt")  # outputs known before anything is written
DifferenceKind = Literal["spec", "input", "output", "versions"]
SHOWN_DIGEST = 12  # hex digits of a sha256 shown in a difference


def lock_path(spec_path: Path) -> Path:
    """``<spec folder>/<spec stem>.lock``: ``odspec.lock`` for ``odspec.yaml``."""
    return spec_path.parent / f"{spec_path.stem}.lock"


def installed_versions() -> dict[str, str]:
    """odspec's, TensorFlow's and the OD API's versions as installed (package metadata: TensorFlow is not imported).

    The one lookup: the run record's :class:`~odspec.reconcile.record.Versions` is made from it too.
    """
    from importlib import metadata

    from odspec import __version__

    def version(*names: str) -> str:
        for name in names:
            with contextlib.suppress(metadata.PackageNotFoundError):
                return metadata.version(name)
        return "not installed"

    return {"odspec": __version__, "tensorflow": version("tensorflow", "tensorflow-cpu"),
            "object_detection": version("tf-models-research-object-detection", "object-detection")}


def relocatable(data: bytes, places: Mapping[str, str]) -> bytes:
    """``data`` with each absolute path in ``places`` replaced by its placeholder, longest path first."""
    for path in sorted(places, key=len, reverse=True):
        data = data.replace(path.encode(), places[path].encode())
    return data


def make_lock(spec_name: str, resolved: Mapping[str, Any], inputs: Mapping[str, str], outputs: Mapping[str, str],
              versions: Mapping[str, str]) -> dict[str, Any]:
    return {"format": FORMAT, "spec": spec_name, "resolved": dict(resolved), "inputs": dict(inputs),
            "outputs": dict(outputs), "versions": dict(versions)}


def lock_bytes(lock: Mapping[str, Any]) -> bytes:
    """The lock's one text: sorted keys, one-space indent, UTF-8, a trailing newline."""
    return (json.dumps(lock, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock at ``path``; None when there is none; LockError when it is not an odspec lock."""
    try:
        return parse_lock(path.read_bytes(), str(path))
    except FileNotFoundError:
        return None
    except OSError as failed:
        raise LockError(f"{path}: cannot be read: {failed.strerror}") from None


def parse_lock(data: bytes, where: str) -> dict[str, Any]:
    fix = "run `odspec build` without --locked to write it again, and commit it"
    try:
        lock = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as failed:
        raise LockError(f"{where}: not a lock file ({failed})", fix) from None
    if not isinstance(lock, dict) or lock.get("format") != FORMAT:
        found = lock.get("format") if isinstance(lock, dict) else None
        raise LockError(f"{where}: format {found!r}, expected {FORMAT!r}", fix)
    return lock


@dataclass(frozen=True)
class LockDifference:
    """One thing that differs between a lock and what a build would lock now; ``old``/``new`` None: absent."""

    kind: DifferenceKind
    path: str  # a dotted spec field, an input's or output's path, or a package
    old: Any
    new: Any

    @property
    def detail(self) -> str:
        if self.kind == "spec":
            return f"{_value(self.old)} -> {_value(self.new)}"
        if self.kind == "versions":
            return f"{self.old or '(absent)'} -> {self.new or '(absent)'}"
        if self.old is None:
            return f"added ({_algorithm(self.new)}{_short(self.new)})"
        if self.new is None:
            return f"removed (was {_algorithm(self.old)}{_short(self.old)})"
        return f"changed ({_algorithm(self.old)}{_short(self.old)} -> {_short(self.new)})"

    def __str__(self) -> str:
        return f"{self.kind} {self.path}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "old": self.old, "new": self.new, "text": str(self)}


def _value(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, ensure_ascii=False)


def _algorithm(digest: Any) -> str:
    """``sha256 `` for a bare hex digest; a shard's checksum names its own (``crc32c:1a2b3c4d``)."""
    return "" if ":" in str(digest) else "sha256 "


def _short(digest: Any) -> str:
    return str(digest) if ":" in str(digest) else str(digest)[:SHOWN_DIGEST]


def compare(old: Mapping[str, Any], new: Mapping[str, Any], *, outputs: Collection[str] | None = None,
            inputs: bool = True) -> list[LockDifference]:
    """Every difference, by kind (spec, input, output, versions) then path.

    ``outputs``: compare only these outputs (a build compares the compiled files before writing any shard);
    ``inputs`` False: the inputs were not read, so they are not compared.
    """
    from odspec.reconcile.record import flatten

    found = _differences("spec", flatten(old.get("resolved") or {}), flatten(new.get("resolved") or {}))
    if inputs:
        found += _differences("input", old.get("inputs") or {}, new.get("inputs") or {})
    old_out, new_out = old.get("outputs") or {}, new.get("outputs") or {}
    if outputs is not None:
        old_out = {k: v for k, v in old_out.items() if k in outputs}
        new_out = {k: v for k, v in new_out.items() if k in outputs}
    found += _differences("output", old_out, new_out)
    return found + _differences("versions", old.get("versions") or {}, new.get("versions") or {})


def _differences(kind: DifferenceKind, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[LockDifference]:
    return [LockDifference(kind, key, old.get(key), new.get(key))
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]


def refuse_drift(path: Path, new: Mapping[str, Any], *, inputs: bool = True) -> None:
    """``--locked``: LockError listing every difference between the lock at ``path`` and ``new``.

    Of the outputs only the compiled files compare: a shard's checksum is known once it is written, and its
    inputs compare anyway.
    """
    old = read_lock(path)
    if old is None:
        raise LockError(f"--locked: there is no lock file {path}",
                        "run `odspec build` without --locked to write it, and commit it")
    found = compare(old, new, outputs=COMPILED, inputs=inputs)
    if found:
        raise LockError(drift_message(path, found), f"run `odspec build` without --locked and commit {path.name}, "
                        "or restore what differs", differences=found)


def drift_message(path: Path, found: list[LockDifference]) -> str:
    count = len(found)
    lines = [f"--locked: the build differs from {path.name} ({count} difference{'s' if count != 1 else ''}):"]
    return "\n".join([*lines, *(f"  {difference}" for difference in found)])


def put_lock(path: Path, data: bytes, *, write: bool) -> FileChange:
    """Write the lock beside the spec, atomically (``write`` False, a dry run: only say what writing would do).

    The build calls it once committed, so a failed build leaves the previous lock.
    """
    old = _read_bytes(path)
    if old == data:
        return FileChange(path, "unchanged")
    if write:
        atomic_write(path, data)
    return FileChange(path, "created" if old is None else "updated")


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# --- the inputs and the content, from what the build has --------------------------------------------------------

def annotation_members(annotation_paths: list[str], not_inputs: Collection[str] = ()) -> list[str]:
    """Every file of the annotation paths (a folder's files recursively), in order.

    A folder is walked as the layout readers see it: hidden folders (``.git``) are left out, and so are
    odspec's own outputs when the dataset's folder holds them (an export root with the spec and its ``build/``
    inside): ``not_inputs`` (see :func:`odspec_outputs`) and any other build folder. Otherwise the lock would
    list the build's own half-written files as its inputs, and hash a gigabyte of old shards every build.
    """
    skip = {os.path.abspath(p) for p in not_inputs}
    members: list[str] = []
    for path in annotation_paths:
        top = str(Path(path))
        if not os.path.isdir(top):
            members.append(top)
            continue
        found: list[str] = []
        for folder, subfolders, names in os.walk(top):
            subfolders[:] = [s for s in subfolders if not s.startswith(".") and _input_folder(folder, s, skip)]
            found += (p for p in (os.path.join(folder, n) for n in names)
                      if os.path.abspath(p) not in skip and os.path.isfile(p))
        members += sorted(found)
    return members


def _input_folder(parent: str, name: str, skip: Collection[str]) -> bool:
    folder = os.path.join(parent, name)
    return os.path.abspath(folder) not in skip and not is_build_folder(Path(folder))


def odspec_outputs(spec_path: Path, out: Path) -> list[str]:
    """What odspec writes for this spec, never one of its dataset's inputs: the build and its siblings, the lock."""
    return [str(p) for p in (*build_paths(out), lock_path(spec_path))]


def file_sha256_or_none(path: Path | str) -> str | None:
    """The file's sha256, None when it cannot be read (gone, a folder, no permission)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def file_digests(paths: list[str], cached: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each readable file's ``{"stat", "sha256"}``, read again only when its identity changed since ``cached``."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        key, entry = file_identity(path), cached.get(path)
        if key is None:
            continue
        if not (isinstance(entry, dict) and entry.get("stat") == key and isinstance(entry.get("sha256"), str)):
            digest = file_sha256_or_none(path)
            if digest is None:
                continue
            entry = {"stat": key, "sha256": digest}
        found[path] = entry
    return found


_SHA256_KEY = '"sha256":"'


def image_digests(cache_file: Path) -> dict[str, str]:
    """Every inspected image's content hash, from the plan's cache members (``"rel":{..."info":{"sha256"}}``).

    Only the path is decoded: the first ``"sha256":"`` after it is the info's key (the members are written with
    sorted keys, and a quote inside any string value is escaped, so no value holds those characters).
    """
    decode = json.JSONDecoder().raw_decode
    found: dict[str, str] = {}
    with cache_file.open() as lines:
        for line in lines:
            rel, end = decode(line)
            at = line.find(_SHA256_KEY, end)
            if at == -1:  # not a member as the plan writes them: read it whole
                ((rel, entry),) = json.loads("{" + line + "}").items()
                found[rel] = entry["info"]["sha256"]
                continue
            start = at + len(_SHA256_KEY)
            found[rel] = line[start:line.index('"', start)]
    return found


@dataclass(frozen=True)
class LockInputs:
    """The lock's ``inputs`` (spec-relative path -> sha256), and the annotation digests for the cache."""

    digests: dict[str, str]
    files: dict[str, dict[str, Any]]


def lock_inputs(loaded: Any, out: Path, cache_file: Path, cached_files: dict[str, Any]) -> LockInputs:
    """Every image (hashed by inspection already) and annotation file (hashed when changed), by spec-relative path."""
    dataset = loaded.spec.dataset
    spec_dir, root = loaded.root, loaded.root / dataset.images_root
    under = _spec_relative(str(root), spec_dir)  # once: rels are normalised paths inside root (image_path_in_root)
    digests = {rel if under == "." else posixpath.normpath(f"{under}/{rel}"): d
               for rel, d in image_digests(cache_file).items()}
    members = [m for m in annotation_members([str(loaded.root / a) for a in dataset.annotation_list],
                                             odspec_outputs(loaded.path, out))
               if _spec_relative(m, spec_dir) not in digests]  # an export root's images are hashed already
    files = file_digests(members, cached_files)
    digests.update((_spec_relative(m, spec_dir), entry["sha256"]) for m, entry in files.items())
    return LockInputs(dict(sorted(digests.items())), files)


def _spec_relative(path: str, spec_dir: Path) -> str:
    return Path(os.path.relpath(path, spec_dir)).as_posix()


def lock_content(loaded: Any, files: dict[str, bytes], out: Path, inputs: LockInputs,
                 shards: dict[str, str]) -> dict[str, Any]:
    """The lock of building ``loaded`` into ``out``; ``shards``: each shard's file hash (empty before writing)."""
    places = {str(out): "<build>", str(loaded.root): "<spec>"}
    outputs = {name: hashlib.sha256(relocatable(data, places)).hexdigest() for name, data in files.items()}
    return make_lock(loaded.path.name, loaded.spec.model_dump(mode="json"), inputs.digests,
                     {**outputs, **shards}, installed_versions())


