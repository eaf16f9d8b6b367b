"""Read the baselines: the build folder (config, records, cache, resolved spec) and a spec at a git revision."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odspec.plan.diff import ImageEntry


@dataclass(frozen=True)
class BuildFolder:
    """What the last ``odspec build`` left: enough to diff the spec, the config and each image against it."""

    out: Path
    manifest: dict[str, Any]
    pipeline_config: bytes
    label_map: bytes

    @property
    def spec_values(self) -> dict[str, Any] | None:
        """The resolved spec it was built from (None from an odspec that did not keep it)."""
        from odspec.reconcile.record import flatten

        resolved = self.manifest.get("spec_resolved")
        return flatten(resolved) if isinstance(resolved, dict) else None

    @property
    def dataset_sha256(self) -> str:
        return str(self.manifest["dataset_sha256"])

    def shards(self) -> dict[str, tuple[str, str]]:
        """Shard name -> (split, inputs digest)."""
        found = self.manifest.get("shards", {})
        return {name: (entry.get("split", ""), entry.get("digest", "")) for name, entry in found.items()}


def read_build(out: Path) -> BuildFolder | None:
    """The build in ``out``; None when there is none (or it is incomplete: then everything counts as new)."""
    from odspec.errors import BuildMissingError
    from odspec.reconcile.record import LABEL_MAP, PIPELINE_CONFIG, read_manifest

    try:
        manifest = read_manifest(out)
        return BuildFolder(out, manifest, (out / PIPELINE_CONFIG).read_bytes(), (out / LABEL_MAP).read_bytes())
    except (BuildMissingError, OSError):
        return None


def recorded_entries(build: BuildFolder, names: Iterable[str]) -> dict[str, ImageEntry]:
    """Every image of the named shards as the build wrote it: split, content hash (from the cache), boxes."""
    from odspec.build import read_cache
    from odspec.records import example as fields
    from odspec.records.example import parse_example
    from odspec.records.tfrecord import read_records

    cache = read_cache(build.out)
    shards = build.shards()
    entries: dict[str, ImageEntry] = {}
    for name in sorted(names):
        split = shards[name][0]
        for data in read_records(build.out / name):
            record = parse_example(data)
            image = record[fields.FILENAME][0].decode("utf-8")
            boxes = tuple(zip([t.decode("utf-8") for t in record.get(fields.CLASS_TEXT, [])],
                              record.get(fields.XMIN, []), record.get(fields.YMIN, []),
                              record.get(fields.XMAX, []), record.get(fields.YMAX, []), strict=False))
            entries[image] = ImageEntry(split, _cached_sha256(cache, image, record), boxes)
    return entries


def _cached_sha256(cache: Mapping[str, Any], image: str, record: Mapping[str, list[Any]]) -> str:
    from odspec.records import example as fields

    info = cache.get(image, {}).get("info", {}) if isinstance(cache.get(image), dict) else {}
    return str(info.get("sha256") or record.get(fields.SHA256, [b""])[0].decode())


def planned_entries(shards: Iterable[Any]) -> dict[str, ImageEntry]:
    """Every image of the planned shards (odspec.datasets.pipeline.PlannedShard) as the build would write it."""
    entries: dict[str, ImageEntry] = {}
    for shard in shards:
        for job in shard.jobs():
            boxes = tuple((text, *corners) for text, corners in zip(job.texts, job.boxes, strict=True))
            entries[job.image.path] = ImageEntry(shard.split, job.image.sha256, boxes)
    return entries


@dataclass(frozen=True)
class SpecAtRevision:
    revision: str
    path: str  # relative to the repository root
    text: str | None  # None: the file did not exist at that revision


def spec_at(spec_path: Path, revision: str) -> SpecAtRevision:
    """The spec file's text at ``revision`` (``git show``, no checkout)."""
    from odspec.errors import PlanError
    from odspec.procs import git_show, git_toplevel

    resolved = spec_path.resolve()
    top = git_toplevel(resolved.parent)
    relative = resolved.relative_to(top.resolve()).as_posix()
    data = git_show(top, revision, relative)
    if data is None:
        return SpecAtRevision(revision, relative, None)
    try:
        return SpecAtRevision(revision, relative, data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError(f"{revision}:{relative}: not UTF-8 text") from None


def lock_at(spec_path: Path, revision: str) -> tuple[str, bytes | None]:
    """``(REV:path, bytes)`` of the spec's lock file at ``revision``; bytes None when it did not exist there."""
    from odspec.lock import lock_path
    from odspec.procs import git_show, git_toplevel

    resolved = lock_path(spec_path.resolve())
    top = git_toplevel(resolved.parent)
    relative = resolved.relative_to(top.resolve()).as_posix()
    return f"{revision}:{relative}", git_show(top, revision, relative)
