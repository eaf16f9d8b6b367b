"""A spec as a project: where its build and runs go, and the spec validated and compiled in memory.

The API (odspec.api) re-exports these; the plan (odspec.plan) uses them without the API above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec.catalogue import CATALOGUE, Architecture
from odspec.errors import SpecError
from odspec.spec.load import LoadedSpec, default_out_dir, load_spec

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from odspec.datasets.summary import DatasetSummary


@dataclass(frozen=True)
class Validated:
    loaded: LoadedSpec
    architecture: Architecture
    files: dict[str, bytes]  # pipeline.config and label_map.pbtxt, as a build writes them
    out_dir: Path
    # The compiled TrainEvalPipelineConfig. Its class is built at run time (odspec.odapi.protos), so Message is the
    # honest static type; code reading one of its fields casts there.
    config: Message

    @property
    def max_boxes(self) -> int:
        """``train_config.max_number_of_boxes`` as compiled: the most boxes a record may carry."""
        config: Any = self.config  # a TrainEvalPipelineConfig, whose fields mypy cannot see (see above)
        return int(config.train_config.max_number_of_boxes)


def validate(spec_path: Path, out_dir: Path | None = None, *, check_data: bool = True) -> Validated:
    """Load, check and compile in memory; raises SpecError listing every problem. Writes nothing.

    ``check_data`` also reads the annotations (not the images) to check the box limits against the dataset.
    """
    from odspec.folders import check_glob_safe
    from odspec.spec.checks import check, dataset_paths
    from odspec.tune.space import space_problems

    loaded = load_spec(spec_path)
    problems = check(loaded) + dataset_paths(loaded)
    if not problems:  # each tuned value is checked against the spec, which must be sound first
        problems = space_problems(loaded)
    if problems:
        raise SpecError(problems)
    out = (out_dir or default_out_dir(loaded)).resolve()
    check_glob_safe(out)
    validated = compile_loaded(loaded, out)
    if check_data:
        check_box_limits(validated, summarize_dataset(loaded).max_boxes_per_image)
    return validated


def compile_loaded(loaded: LoadedSpec, out: Path) -> Validated:
    """Compile a loaded spec in memory for the build folder ``out``; raises SpecError when it does not compile."""
    from odspec.compile.context import Paths
    from odspec.compile.render import label_map_text, pipeline_message, pipeline_text
    from odspec.errors import CompileFailed

    pretrained = loaded.spec.model.pretrained
    checkpoint = (loaded.root / pretrained.checkpoint).resolve() if pretrained else None
    try:
        config, header = pipeline_message(loaded.spec, Paths(out, checkpoint))
    except CompileFailed as failed:
        raise SpecError([loaded.problem(p.loc, p.message) for p in failed.problems]) from None
    return Validated(
        loaded,
        CATALOGUE[loaded.spec.model.architecture],
        {
            "pipeline.config": pipeline_text(config, header).encode("utf-8"),
            "label_map.pbtxt": label_map_text(list(loaded.spec.dataset.classes)).encode("utf-8"),
        },
        out,
        config,
    )


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
    from odspec.datasets import summarize
    from odspec.datasets.layouts import layout_for, read_layout

    dataset = loaded.spec.dataset
    result = read_layout(layout_for(loaded.root, dataset), list(dataset.classes))
    return summarize(result.examples, list(dataset.classes))
