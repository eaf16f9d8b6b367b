"""`odspec build`: the config, the label map, the TFRecord shards and the dataset report, as one unit.

Everything goes through :class:`~odspec.staging.Staging`, so a failed or
interrupted build leaves the previous one intact. A rebuild skips what did not
change: when the spec and every input file are the same files as last time
(size, mtime, inode) it reads nothing at all; otherwise unchanged images are not
inspected again and unchanged shards are hard-linked, not rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odspec import __version__
from odspec.io import FileChange
from odspec.staging import Staging, recover

MANIFEST = "build.json"
CACHE = ".cache.json"  # inspected images by file identity
SIGNATURE = ".inputs.json"  # identity of every input: equal means nothing to do
SPLITS_FILE = "splits.json"
RECORD_FORMAT = "odspec-records-1"  # bump when the bytes of a record would change for the same inputs
Progress = Callable[[str, int], Callable[[int], None]]


def no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


@dataclass(frozen=True)
class BuildOutcome:
    changes: list[FileChange]
    findings: list[Any]
    report_table: str | None
    skipped_reading: bool


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _ident(path: str) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def input_signature(spec_digest: str, annotation_paths: list[Path], root: Path, image_rels: list[str]) -> str:
    """Identity of every input file, cheap to recompute: a no-op rebuild compares only this."""
    files = []
    for path in annotation_paths:
        members = sorted(str(p) for p in path.rglob("*") if p.is_file()) if path.is_dir() else [str(path)]
        files.extend((member, _ident(member)) for member in members)
    base = str(root)
    images = [(rel, _ident(os.path.join(base, rel))) for rel in image_rels]
    payload = json.dumps([__version__, RECORD_FORMAT, spec_digest, files, images])
    return hashlib.sha256(payload.encode()).hexdigest()


def _unchanged(out: Path, names: list[str]) -> list[FileChange]:
    return [FileChange(out / name, "unchanged") for name in names]


def build_project(loaded: Any, files: dict[str, bytes], out: Path, *, max_boxes: int,
                  check_read: Callable[[int], None], dry_run: bool = False,
                  progress: Progress = no_progress, workers: int | None = None) -> BuildOutcome:
    """Build ``out`` from the validated spec ``loaded`` and its compiled ``files``."""
    recover(out)
    dataset = loaded.spec.dataset
    spec_digest = hashlib.sha256(loaded.spec.model_dump_json().encode() + b"".join(files.values())).hexdigest()
    annotations = [loaded.root / a for a in ([dataset.annotations] if isinstance(dataset.annotations, str) else dataset.annotations)]
    root = loaded.root / dataset.images
    manifest = _read_json(out / MANIFEST) or {}
    inputs = _read_json(out / SIGNATURE) or {}
    if manifest and inputs.get("signature") == input_signature(spec_digest, annotations, root, inputs.get("image_rels", [])):
        if all((out / name).is_file() for name in manifest.get("outputs", [])):
            return BuildOutcome(_unchanged(out, manifest["outputs"]), [], None, True)
    cache = _read_json(out / CACHE) or {}
    from odspec.datasets.pipeline import default_workers, plan_dataset

    plan, image_cache = plan_dataset(
        loaded.root, dataset, max_boxes=max_boxes, check_read=check_read, cache=cache.get("images", {}),
        previous_splits=_read_json(out / SPLITS_FILE) or {}, workers=workers or default_workers(),
        progress=progress, salt=RECORD_FORMAT,
    )
    if dry_run:
        return BuildOutcome(_dry_run_changes(out, files, plan, manifest.get("shards", {})), list(plan.findings), None, False)
    return _write(loaded, files, out, plan, image_cache, manifest, spec_digest, annotations, root,
                  progress, workers or default_workers())


def _dry_run_changes(out: Path, files: dict[str, bytes], plan: Any, previous: dict[str, Any]) -> list[FileChange]:
    from odspec.io import planned_change

    changes = [FileChange(out / name, planned_change(out / name, data)) for name, data in files.items()]
    for shard in plan.shards:
        same = previous.get(shard.name, {}).get("digest") == shard.digest and (out / shard.name).is_file()
        changes.append(FileChange(out / shard.name, "unchanged" if same else ("updated" if (out / shard.name).exists() else "created")))
    return changes


def _write(loaded: Any, files: dict[str, bytes], out: Path, plan: Any, image_cache: dict[str, Any],
           previous: dict[str, Any], spec_digest: str, annotations: list[Path], root: Path,
           progress: Progress, workers: int) -> BuildOutcome:
    from odspec.datasets.report import build_report
    from odspec.records import writer

    stage = Staging(out).open()
    try:
        for name, data in files.items():
            stage.put(name, data)
        old_shards, old_files = previous.get("shards", {}), previous.get("files", {})
        reuse = {s.name for s in plan.shards
                 if old_shards.get(s.name, {}).get("digest") == s.digest and (out / s.name).is_file() and s.name in old_files}
        for name in sorted(reuse):
            stage.link(name)
        report = build_report(plan, list(loaded.spec.dataset.classes))
        drawing = _draw_in_background(report, stage.folder / "report.png")
        todo = [s for s in plan.shards if s.name not in reuse]
        advance = progress("writing records", sum(len(s.jobs) for s in todo))
        digests = {name: old_files[name] for name in reuse}
        digests.update(writer.write_shards(stage.folder, todo, workers=workers, advance=advance))
        for name in sorted(set(digests) - reuse):
            stage.adopt(name)
        _finish_drawing(drawing, report, stage.folder / "report.png")
        stage.adopt("report.png")
        stage.put("report.json", report.to_json())
        stage.put(SPLITS_FILE, _dump(plan.splits))
        outputs = [*files, *(s.name for s in plan.shards), "report.json", "report.png", SPLITS_FILE, MANIFEST]
        stage.put(MANIFEST, _dump(_manifest(loaded, stage.folder, plan, outputs, digests)))
        image_rels = sorted({c.image.path for c in plan.checked} | set(image_cache))
        signature = input_signature(spec_digest, annotations, root, image_rels)
        stage.put(CACHE, json.dumps(image_cache, sort_keys=True, separators=(",", ":")).encode())
        stage.put(SIGNATURE, json.dumps({"signature": signature, "image_rels": image_rels}, separators=(",", ":")).encode())
        stage.commit()
    except BaseException:
        stage.abandon()
        raise
    changes = [c for c in stage.changes if c.path.name not in (CACHE, SIGNATURE)]
    return BuildOutcome(changes, list(plan.findings) + report.class_warnings(), report.to_table(), False)


def _draw_in_background(report: Any, path: Path) -> Any:
    """Render the report figure in a forked process while the shards are written (matplotlib is slow)."""
    from multiprocessing import get_context

    process = get_context("fork").Process(target=report.to_png, args=(path,), daemon=True)
    process.start()
    return process


def _finish_drawing(process: Any, report: Any, path: Path) -> None:
    process.join()
    if process.exitcode != 0 or not path.is_file():
        report.to_png(path)  # draw it here, so a failure shows its real traceback


def _manifest(loaded: Any, folder: Path, plan: Any, outputs: list[str], digests: dict[str, str]) -> dict[str, Any]:
    """What produced this build: the spec per section, each output's hash, each shard's inputs digest."""
    spec = loaded.spec
    sections = {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
                for name, value in spec.model_dump(mode="json").items()}
    files = {}
    for name in outputs:
        if name != MANIFEST:
            files[name] = digests.get(name) or hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return {
        "odspec": __version__,
        "spec": str(loaded.path.resolve()),
        "spec_sections": sections,
        "architecture": spec.model.architecture,
        "outputs": outputs,
        "files": files,
        "shards": {s.name: {"split": s.split, "records": len(s.jobs), "digest": s.digest} for s in plan.shards},
        "dataset_sha256": hashlib.sha256("".join(s.digest for s in plan.shards).encode()).hexdigest(),
    }
