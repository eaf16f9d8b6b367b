"""Cross-field rules checked again on the final ``TrainEvalPipelineConfig``, after the overrides.

Defence in depth: overrides of fields a spec field owns are refused outright
(:data:`odspec.compile.overrides.OWNED`), but a mapping or list override can still
reach them sideways. Each finding blames the override whose path covers the
field, else the spec field. Pure: no file system, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from odspec.catalogue import CATALOGUE, Architecture
from odspec.compile.context import Paths
from odspec.spec.defaults import blame, num_steps
from odspec.spec.models import Spec

Loc = tuple[str | int, ...]
Finding = Iterator[tuple[str, Loc, str]]  # (pipeline field, spec field to blame without an override, message)


def final_problems(spec: Spec, config: Any, paths: Paths) -> list[tuple[Loc, str]]:
    """(spec loc, message) of every rule the final config breaks."""
    arch = CATALOGUE[spec.model.architecture]
    found = [*_model(spec, arch, config), *_train(spec, arch, config), *_readers(spec, config, paths)]
    return [(blame(spec, field, loc), message) for field, loc, message in found]


def _model(spec: Spec, arch: Architecture, config: Any) -> Finding:
    family = config.model.WhichOneof("model")
    if family != arch.family:
        yield ("model", ("model", "architecture"),
               f"the model is {family or 'not set'}, but {arch.name} is a {arch.family} model")
        return
    model = getattr(config.model, family)
    classes = len(spec.dataset.classes)
    if model.num_classes != classes:
        yield (f"model.{family}.num_classes", ("dataset", "classes"),
               f"num_classes is {model.num_classes} but the label map has {classes} classes "
               "(num_classes follows dataset.classes; remove the override)")
    dims = _network_sizes(model.image_resizer)
    bad = [d for d in dims if d % arch.input_multiple]
    if not dims or bad:
        yield (f"model.{family}.image_resizer", ("model", "input_size"),
               f"{arch.name} needs sizes that are multiples of {arch.input_multiple}, got {dims or 'no resizer'}")


def _network_sizes(resizer: Any) -> list[int]:
    """The sizes that meet the network: fixed height and width, or the keep-aspect max dimension (it pads to it)."""
    kind = resizer.WhichOneof("image_resizer_oneof")
    if kind == "fixed_shape_resizer":
        return [resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width]
    if kind == "keep_aspect_ratio_resizer":
        return [resizer.keep_aspect_ratio_resizer.max_dimension]
    return []


def _train(spec: Spec, arch: Architecture, config: Any) -> Finding:
    train, replicas = config.train_config, spec.runtime.total_replicas
    if train.batch_size % replicas:
        yield ("train_config.batch_size", ("train", "batch_size"),
               f"batch size {train.batch_size} does not split evenly over {replicas} replicas")
    wanted = num_steps(spec, arch)
    if train.num_steps != wanted:
        yield ("train_config.num_steps", ("train", "steps"),
               f"num_steps is {train.num_steps}, but train.steps gives {wanted}")
    optimizer = train.optimizer.WhichOneof("optimizer")
    rate = getattr(train.optimizer, optimizer).learning_rate if optimizer else None
    if rate is not None and rate.WhichOneof("learning_rate") == "cosine_decay_learning_rate":
        cosine = rate.cosine_decay_learning_rate
        if cosine.warmup_steps > cosine.total_steps:
            yield (f"train_config.optimizer.{optimizer}.learning_rate", ("train", "learning_rate"),
                   f"warm-up of {cosine.warmup_steps} steps does not end before training does "
                   f"({cosine.total_steps} steps)")


def _readers(spec: Spec, config: Any, paths: Paths) -> Finding:
    readers = [("train_input_reader", config.train_input_reader, "train")]
    readers += [("eval_input_reader", reader, spec.eval.split) for reader in config.eval_input_reader]
    if not config.eval_input_reader:
        yield "eval_input_reader", ("eval", "split"), "eval_input_reader is empty: the evaluator would read nothing"
    for name, reader, split in readers:
        if reader.label_map_path != paths.label_map:
            yield (f"{name}.label_map_path", ("dataset", "classes"),
                   f"{name}.label_map_path is {reader.label_map_path!r}, but odspec writes the label map to "
                   f"{paths.label_map!r}")
        given = list(reader.tf_record_input_reader.input_path)
        if given != [paths.records(split)]:
            yield (f"{name}.tf_record_input_reader.input_path", ("dataset", "images"),
                   f"{name} reads {given}, but odspec writes the {split} records to {paths.records(split)!r}")
