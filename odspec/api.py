"""The typed API behind the CLI: each call returns a result object or raises an OdspecError."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.catalogue import CATALOGUE, Architecture
from odspec.errors import SpecError
from odspec.io import FileChange, write_files
from odspec.spec.load import LoadedSpec, load_spec

if TYPE_CHECKING:
    from odspec.datasets.summary import DatasetSummary

MANIFEST = "build.json"


@dataclass(frozen=True)
class Validated:
    loaded: LoadedSpec
    architecture: Architecture
    files: dict[str, bytes]  # what a build would write
    out_dir: Path


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    changes: list[FileChange]
    dry_run: bool


def default_out_dir(loaded: LoadedSpec) -> Path:
    return loaded.root / "build" / loaded.spec.project


def validate(spec_path: Path, out_dir: Path | None = None) -> Validated:
    """Load, check and compile in memory; raises SpecError listing every problem. Writes nothing."""
    from odspec.compile.context import Paths
    from odspec.compile.render import CompileFailed, label_map_text, pipeline_message, pipeline_text
    from odspec.spec.checks import box_limits, check, dataset_paths

    loaded = load_spec(spec_path)
    problems = check(loaded) + dataset_paths(loaded)
    if problems:
        raise SpecError(problems)
    out = (out_dir or default_out_dir(loaded)).resolve()
    pretrained = loaded.spec.model.pretrained
    checkpoint = (loaded.root / pretrained.checkpoint).resolve() if pretrained else None
    try:
        config, header = pipeline_message(loaded.spec, Paths(out, checkpoint))
    except CompileFailed as failed:
        raise SpecError([loaded.problem(p.loc, p.message) for p in failed.problems]) from None
    summary = summarize_dataset(loaded)
    problems = box_limits(loaded, config, summary.max_boxes_per_image)
    if problems:
        raise SpecError(problems)
    files = {
        "pipeline.config": pipeline_text(config, header).encode("utf-8"),
        "label_map.pbtxt": label_map_text(list(loaded.spec.dataset.classes)).encode("utf-8"),
    }
    files[MANIFEST] = _manifest(loaded, files)
    return Validated(loaded, CATALOGUE[loaded.spec.model.architecture], files, out)


def summarize_dataset(loaded: LoadedSpec) -> DatasetSummary:
    """Read the annotations (not the images) and count what the config must hold."""
    from odspec.datasets import read_dataset, summarize

    dataset = loaded.spec.dataset
    annotations = dataset.annotations if isinstance(dataset.annotations, list) else [dataset.annotations]
    paths = [loaded.root / a for a in annotations]
    result = read_dataset(dataset.format, loaded.root / dataset.images, paths if len(paths) > 1 else paths[0], list(dataset.classes))
    return summarize(result.examples, list(dataset.classes))


def _manifest(loaded: LoadedSpec, files: dict[str, bytes]) -> bytes:
    """What produced this build: fingerprints of the spec and of each output file."""
    spec_json = loaded.spec.model_dump_json().encode()
    manifest: dict[str, Any] = {
        "odspec_build": 1,
        "spec": str(loaded.path.resolve()),
        "spec_sha256": hashlib.sha256(spec_json).hexdigest(),
        "architecture": loaded.spec.model.architecture,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def build(spec_path: Path, out_dir: Path | None = None, *, dry_run: bool = False) -> BuildResult:
    """Compile ``spec_path`` and write the build; the manifest is written last, so it marks a complete build."""
    validated = validate(spec_path, out_dir)
    files = dict(validated.files)
    manifest = files.pop(MANIFEST)
    changes = write_files(validated.out_dir, files, dry_run=dry_run)
    changes += write_files(validated.out_dir, {MANIFEST: manifest}, dry_run=dry_run)
    return BuildResult(validated.out_dir, changes, dry_run)


def architectures() -> list[Architecture]:
    return list(CATALOGUE.values())


def schema() -> dict[str, Any]:
    """JSON Schema of the spec, for editors."""
    from odspec.spec.models import Spec

    document = Spec.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "odspec project spec"
    return document
