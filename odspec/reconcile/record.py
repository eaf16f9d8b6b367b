"""The run record, ``odspec-run.json``: what produced the checkpoints in a model directory.

A refused resume must *name* what changed, so the spec is kept as one hash per dotted
field path (``model.input_size``), not one per section as in ``build.json``. Values are
not kept: a hash tells that a field changed, and class lists and paths stay out of it.
What the trainer actually reads is fingerprinted too (pipeline.config, label_map.pbtxt,
the records), so a difference no spec field explains is still caught.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from google.protobuf import text_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from odspec.distribute import runtime_distribution
from odspec.errors import BuildMissingError, RunRecordError
from odspec.io import atomic_write
from odspec.odapi import protos
from odspec.spec.models import Runtime

RUN_RECORD = "odspec-run.json"
MANIFEST = "build.json"  # odspec.build.MANIFEST; not imported, so reading a record needs nothing of the build
PIPELINE_CONFIG = "pipeline.config"
LABEL_MAP = "label_map.pbtxt"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Versions(_Frozen):
    """Versions of what trained; given by the caller, since finding TensorFlow's means importing it."""

    odspec: str
    tensorflow: str
    object_detection: str


class RunRecord(_Frozen):
    format: Literal[1] = 1
    spec_fields: dict[str, str] = Field(description="dotted spec field path -> sha256 of its JSON value")
    pipeline_config_sha256: str
    label_map_sha256: str
    dataset_sha256: str = Field(description="build.json's dataset_sha256: every shard's inputs digest")
    train_steps: int = Field(gt=0, description="train_config.num_steps as compiled (the zoo's when the spec sets none)")
    build_dir: str
    seed: int | None = Field(None, description="train.seed as trained; None: unseeded (and every record "
                                   "written before odspec seeded runs)")
    strategy: str | None = Field(None, description="the tf.distribute strategy and devices the last run here "
                                       "trained under (odspec.distribute.Distribution.describe); None: a record "
                                       "written before odspec kept it")
    replicas: int | None = Field(None, description="replicas in sync, over all workers, of that run")
    workers: int | None = Field(None, description="machines of that run")
    versions: Versions
    created: datetime
    updated: datetime

    def continuing(self, previous: RunRecord) -> RunRecord:
        """This record for a run that resumes ``previous``: it keeps the original creation time."""
        return self.model_copy(update={"created": previous.created})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists, scalars, None and empty mappings are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def value_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def spec_fingerprint(spec: BaseModel) -> dict[str, str]:
    """One hash per dotted field path of the validated spec, defaults included."""
    return {path: value_hash(value) for path, value in flatten(spec.model_dump(mode="json")).items()}


def config_sha256(pipeline_config: bytes) -> str:
    """The digest a run keeps of the pipeline.config it trained on: every line but the comments.

    The header comment describes the config (and where it runs: ``runtime`` may change between resumed runs);
    the trainer never reads it, so a change there is no change of what was trained.
    """
    kept = [line for line in pipeline_config.splitlines(keepends=True) if not line.lstrip().startswith(b"#")]
    return hashlib.sha256(b"".join(kept)).hexdigest()


def train_steps_of(pipeline_config: str) -> int | None:
    """``train_config.num_steps`` of a pipeline.config's text; None when it sets none or is not a pipeline.config.

    The text is parsed into the OD API's own ``TrainEvalPipelineConfig`` (:mod:`odspec.odapi.protos`,
    no TensorFlow), as the trainer reads it, so layout, comments and field order do not matter.
    Fields this OD API does not know are skipped: the step count is still read from a config
    written with another version.
    """
    config = protos.load("pipeline_pb2").TrainEvalPipelineConfig()
    try:
        text_format.Parse(pipeline_config, config, allow_unknown_field=True)
    except text_format.ParseError:
        return None
    if not config.HasField("train_config") or not config.train_config.HasField("num_steps"):
        return None
    return int(config.train_config.num_steps)


def new_run_record(spec: BaseModel, build_dir: Path, versions: Versions, *, now: datetime | None = None) -> RunRecord:
    """The record of training ``spec`` on the build in ``build_dir`` (as ``odspec build`` left it)."""
    build_dir = build_dir.resolve()
    manifest = _read_manifest(build_dir)
    return run_record_of(spec, build_dir, versions, config=_read_output(build_dir, PIPELINE_CONFIG),
                         label_map=_read_output(build_dir, LABEL_MAP), dataset_sha256=manifest["dataset_sha256"],
                         now=now)


def run_record_of(spec: BaseModel, build_dir: Path, versions: Versions, *, config: bytes, label_map: bytes,
                  dataset_sha256: str, now: datetime | None = None) -> RunRecord:
    """The record of training ``spec`` with this config, label map and dataset (e.g. compiled in memory)."""
    steps = train_steps_of(config.decode("utf-8"))
    if steps is None or steps <= 0:
        raise BuildMissingError(f"{build_dir / PIPELINE_CONFIG}: no positive train_config.num_steps",
                                "rebuild it with `odspec build`")
    moment = now or datetime.now(timezone.utc)
    fields = spec.model_dump(mode="json")
    distribution = runtime_distribution(Runtime.model_validate(fields.get("runtime", {})))
    return RunRecord(
        seed=fields.get("train", {}).get("seed"),
        strategy=distribution.describe(),
        replicas=distribution.total_replicas,
        workers=distribution.workers,
        spec_fields=spec_fingerprint(spec),
        pipeline_config_sha256=config_sha256(config),
        label_map_sha256=hashlib.sha256(label_map).hexdigest(),
        dataset_sha256=dataset_sha256,
        train_steps=steps,
        build_dir=str(build_dir),
        versions=versions,
        created=moment,
        updated=moment,
    )


def read_manifest(build_dir: Path) -> dict[str, Any]:
    """``build.json`` of a build; BuildMissingError when there is none or it is unreadable."""
    return _read_manifest(build_dir)


def _read_manifest(build_dir: Path) -> dict[str, Any]:
    path = build_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildMissingError(f"{build_dir}: no build here ({MANIFEST} not found)",
                                "run `odspec build` first") from None
    except (OSError, ValueError) as err:
        raise BuildMissingError(f"{path}: unreadable ({err})", "rebuild with `odspec build`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("dataset_sha256"), str):
        raise BuildMissingError(f"{path}: no dataset_sha256 (written by an older odspec?)",
                                "rebuild with `odspec build`")
    return manifest


def _read_output(build_dir: Path, name: str) -> bytes:
    try:
        return (build_dir / name).read_bytes()
    except OSError:
        raise BuildMissingError(f"{build_dir}: {name} is missing", "rebuild with `odspec build`") from None


def write_run_record(model_dir: Path, record: RunRecord) -> Path:
    """Write ``odspec-run.json`` atomically: a crash leaves the old record or the new one."""
    path = model_dir / RUN_RECORD
    atomic_write(path, (record.model_dump_json(indent=2) + "\n").encode("utf-8"))
    return path


def read_run_record(model_dir: Path) -> RunRecord | None:
    """The record in ``model_dir``; None when there is none, RunRecordError when it cannot be read."""
    path = model_dir / RUN_RECORD
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RunRecordError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        return RunRecord.model_validate_json(data)
    except ValidationError as err:
        raise RunRecordError(f"{path}: not a run record odspec can read ({_first_problem(err)})",
                             _corrupt_hint(data)) from None


def _first_problem(err: ValidationError) -> str:
    problem = err.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    return f"{where}: {problem['msg']}" if where else problem["msg"]


def _corrupt_hint(data: bytes) -> str:
    try:
        written = json.loads(data)
    except ValueError:
        written = None
    if isinstance(written, dict) and isinstance(written.get("format"), int) and written["format"] > 1:
        return "it was written by a newer odspec; upgrade odspec to resume this run"
    return "train into a new model directory (--model-dir) or start over with --restart"
