"""The typed API behind the CLI: each call returns a result object or raises an OdspecError."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.catalogue import CATALOGUE, Architecture
from odspec.errors import SpecError
from odspec.io import FileChange
from odspec.spec.load import LoadedSpec, load_spec

if TYPE_CHECKING:
    from odspec.build import Progress
    from odspec.datasets.summary import DatasetSummary



@dataclass(frozen=True)
class Validated:
    loaded: LoadedSpec
    architecture: Architecture
    files: dict[str, bytes]  # pipeline.config and label_map.pbtxt, as a build writes them
    out_dir: Path
    config: Any  # the compiled TrainEvalPipelineConfig message


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    changes: list[FileChange]
    dry_run: bool
    findings: list[Any]
    report_table: str | None


def default_out_dir(loaded: LoadedSpec) -> Path:
    return loaded.root / "build" / loaded.spec.project


def validate(spec_path: Path, out_dir: Path | None = None, *, check_data: bool = True) -> Validated:
    """Load, check and compile in memory; raises SpecError listing every problem. Writes nothing.

    ``check_data`` also reads the annotations (not the images) to check the box limits against the dataset.
    """
    from odspec.compile.context import Paths
    from odspec.compile.render import (
        CompileFailed,
        label_map_text,
        pipeline_message,
        pipeline_text,
    )
    from odspec.spec.checks import check, dataset_paths

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
    validated = Validated(
        loaded,
        CATALOGUE[loaded.spec.model.architecture],
        {
            "pipeline.config": pipeline_text(config, header).encode("utf-8"),
            "label_map.pbtxt": label_map_text(list(loaded.spec.dataset.classes)).encode("utf-8"),
        },
        out,
        config,
    )
    if check_data:
        check_box_limits(validated, summarize_dataset(loaded).max_boxes_per_image)
    return validated


def check_box_limits(validated: Validated, max_boxes_per_image: int) -> None:
    """Detection limits must hold the busiest image; so must max_number_of_boxes when the policy is to stop."""
    from odspec.spec.checks import box_limits

    problems = box_limits(validated.loaded, validated.config, max_boxes_per_image)
    if validated.loaded.spec.dataset.on_bad_annotation != "stop":
        problems = [p for p in problems if p.key != "train.max_boxes"]
    if problems:
        raise SpecError(problems)


def summarize_dataset(loaded: LoadedSpec) -> DatasetSummary:
    """Read the annotations (not the images) and count what the config must hold."""
    from odspec.datasets import read_dataset, summarize

    dataset = loaded.spec.dataset
    paths = [loaded.root / a for a in dataset.annotation_list]
    result = read_dataset(dataset.format, loaded.root / dataset.images, paths if len(paths) > 1 else paths[0], list(dataset.classes))
    return summarize(result.examples, list(dataset.classes))


def build(spec_path: Path, out_dir: Path | None = None, *, dry_run: bool = False,
          progress: Progress | None = None, workers: int | None = None) -> BuildResult:
    """Compile the spec and build its records; the previous build stays intact until the new one is complete."""
    from odspec.build import build_project, no_progress

    validated = validate(spec_path, out_dir, check_data=False)
    outcome = build_project(
        validated.loaded, validated.files, validated.out_dir,
        max_boxes=validated.config.train_config.max_number_of_boxes,
        check_read=lambda most: check_box_limits(validated, most),
        dry_run=dry_run, progress=progress or no_progress, workers=workers,
    )
    return BuildResult(validated.out_dir, outcome.changes, dry_run, outcome.findings, outcome.report_table)


def preview(spec_path: Path, out_dir: Path | None = None, *, split: str = "train", count: int = 16,
            image: Path | None = None) -> Path:
    """A contact sheet of ``count`` records of ``split``, decoded from the shards as written."""
    from odspec.datasets.preview import save_preview
    from odspec.errors import BuildError
    from odspec.records.example import parse_example
    from odspec.records.shards import SHARD_GLOB
    from odspec.records.tfrecord import read_records

    loaded = load_spec(spec_path)
    out = (out_dir or default_out_dir(loaded)).resolve()
    shards = sorted(out.glob(SHARD_GLOB.format(split=split)))
    if not shards:
        raise BuildError(f"no {split} records in {out}", f"run `odspec build {spec_path}` first")
    records = []
    for shard in shards:
        for data in read_records(shard):
            records.append(parse_example(data))
            if len(records) >= count:
                break
        if len(records) >= count:
            break
    target = image or out.parent / f"{out.name}-preview-{split}.png"
    save_preview(records, target, max_images=count)
    return target


def architectures() -> list[Architecture]:
    return list(CATALOGUE.values())


def schema() -> dict[str, Any]:
    """JSON Schema of the spec, for editors."""
    from odspec.spec.models import Spec

    document = Spec.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "odspec project spec"
    return document
