"""What a model directory holds, observed without TensorFlow.

TensorFlow finds the checkpoint to restore through the ``checkpoint`` index file (a
text-format ``CheckpointState``), and restores it only if its ``.index`` file exists;
a checkpoint whose ``.data-*`` shard is missing then fails mid-restore. So here a
checkpoint counts only when its index and every data shard are on disk, and the latest
one is the one the index names, as TensorFlow sees it, not the highest number.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from odspec.errors import BundleFormatError, ReconcileError
from odspec.reconcile.bundle import read_int_variable
from odspec.reconcile.record import RUN_RECORD, RunRecord, read_run_record

CHECKPOINT_INDEX = "checkpoint"
BEST_INFO = PurePath("best", "info.json")
# What odspec and the OD API put in a model directory; anything else is someone else's.
# The runner extends this when it writes more (a directory holding only these may be trained into).
OWN_ENTRIES = frozenset({RUN_RECORD, CHECKPOINT_INDEX, "train", "eval", "best", "metrics.jsonl", "pipeline.config",
                         "export", "logs", "report", "predictions",
                         "evaluator"})  # the chief's and the evaluator task's files (runner/mailbox.py)
# checkpoints; what odspec keeps aside (.pending, .best-*) and its temporary files (.odspec.*); a non-chief
# worker's checkpoints under MultiWorkerMirroredStrategy (the OD API's temp_worker_NNN, removed when it ends)
OWN_PREFIXES = ("ckpt-", ".pending", ".best-", ".odspec.", "temp_worker_")


def own_entry(name: str) -> bool:
    """Whether odspec or the OD API writes an entry of this name in a model directory."""
    return name in OWN_ENTRIES or name.startswith(OWN_PREFIXES)


_INDEX_FILE = re.compile(r"ckpt-(\d+)\.index")
_DATA_FILE = re.compile(r"ckpt-(\d+)\.data-(\d{5})-of-(\d{5})")
_INDEX_LINE = re.compile(r"(\w+)\s*:\s*(.*)")
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"v": b"\v"}


@dataclass(frozen=True)
class Checkpoint:
    number: int
    prefix: Path
    step: int | None  # the checkpoint's own step variable; None when it cannot be read

    @property
    def name(self) -> str:
        return self.prefix.name


@dataclass(frozen=True)
class Best:
    """``best/info.json``: which checkpoint ``best/`` holds and why; the runner writes it when an evaluation improves.

    Declared once, here, because the runner writes it and everything that reads a model
    directory (status, export, the report) reads it. The first four fields are required:
    without them ``best/`` cannot be used. The rest came in later odspec versions, or tell
    what the checkpoint was trained from; missing, they are None (or no metrics).
    """

    step: int
    checkpoint: str  # ckpt-N, a prefix inside best/
    metric: str  # the metric checkpoints are compared by
    value: float  # of that metric
    mode: Literal["max", "min"] | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)  # as evaluated (None: not a number)
    spec_sha256: str | None = None
    pipeline_config_sha256: str | None = None
    label_map_sha256: str | None = None
    dataset_sha256: str | None = None
    saved: str | None = None  # when, ISO 8601 UTC

    def to_json(self) -> dict[str, Any]:
        """The object ``info.json`` holds (and ``odspec status --json`` prints)."""
        return dataclasses.asdict(self)


_BEST = TypeAdapter(Best)


@dataclass(frozen=True)
class CheckpointIndex:
    """The ``checkpoint`` file: the path TensorFlow restores from, and the ones it keeps."""

    latest: str | None
    all: tuple[str, ...]


@dataclass(frozen=True)
class ModelDirState:
    model_dir: Path
    entries: tuple[str, ...]  # names directly in model_dir, sorted; () when it does not exist
    record: RunRecord | None
    index: CheckpointIndex | None
    checkpoints: tuple[Checkpoint, ...]  # complete ones, by number
    incomplete: tuple[str, ...]  # ckpt-N with an index or data file on disk, but not all of them
    latest: Checkpoint | None  # what TensorFlow would restore: the complete checkpoint the index names
    best: Best | None  # best/info.json

    @property
    def is_new(self) -> bool:
        """Absent or empty: nothing here to resume or to lose."""
        return not self.entries

    @property
    def foreign(self) -> tuple[str, ...]:
        """Entries neither odspec nor the OD API writes (hidden files aside)."""
        return tuple(e for e in self.entries if not own_entry(e) and not e.startswith("."))


def observe(model_dir: Path) -> ModelDirState:
    """Read ``model_dir`` as it is now; raises ReconcileError when something there cannot be read."""
    if model_dir.exists() and not model_dir.is_dir():
        raise ReconcileError(f"{model_dir}: is a file, not a model directory", "give a directory with --model-dir")
    entries = tuple(sorted(p.name for p in model_dir.iterdir())) if model_dir.is_dir() else ()
    complete, incomplete = _checkpoint_files(model_dir, entries)
    checkpoints = tuple(Checkpoint(n, model_dir / f"ckpt-{n}", _step(model_dir / f"ckpt-{n}")) for n in complete)
    index = read_checkpoint_index(model_dir / CHECKPOINT_INDEX) if CHECKPOINT_INDEX in entries else None
    named = _local_name(index.latest, model_dir) if index and index.latest else None
    return ModelDirState(
        model_dir=model_dir,
        entries=entries,
        record=read_run_record(model_dir) if RUN_RECORD in entries else None,
        index=index,
        checkpoints=checkpoints,
        incomplete=tuple(f"ckpt-{n}" for n in incomplete),
        latest=next((c for c in checkpoints if c.name == named), None),
        best=_read_best(model_dir / BEST_INFO),
    )


def _checkpoint_files(model_dir: Path, entries: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """Checkpoint numbers with every file present, and those with only some."""
    indexed = {int(m.group(1)) for m in map(_INDEX_FILE.fullmatch, entries) if m}
    shards: dict[int, set[tuple[int, int]]] = {}
    for match in filter(None, map(_DATA_FILE.fullmatch, entries)):
        shards.setdefault(int(match.group(1)), set()).add((int(match.group(2)), int(match.group(3))))
    complete = sorted(n for n in indexed if _all_shards(shards.get(n, set())))
    incomplete = sorted((indexed | set(shards)) - set(complete))
    return complete, incomplete


def _all_shards(found: set[tuple[int, int]]) -> bool:
    counts = {count for _, count in found}
    return len(counts) == 1 and {shard for shard, _ in found} == set(range(counts.pop()))


def _step(prefix: Path) -> int | None:
    try:
        return read_int_variable(prefix)
    except (OSError, BundleFormatError):
        return None


def _local_name(path: str, model_dir: Path) -> str | None:
    """``ckpt-N`` for a path the index gives (relative, or absolute inside ``model_dir``)."""
    pure = PurePath(path)
    if not pure.is_absolute():
        return path if len(pure.parts) == 1 else None
    return pure.name if Path(pure.parent).resolve() == model_dir.resolve() else None


def read_checkpoint_index(path: Path) -> CheckpointIndex:
    """Parse a text-format ``CheckpointState``; fields other than the two paths are ignored."""
    latest: str | None = None
    kept: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _INDEX_LINE.fullmatch(stripped)
        if match is None:
            raise ReconcileError(f"{path}:{number}: not a checkpoint index line: {stripped!r}", _INDEX_HINT)
        key, value = match.groups()
        if key in ("model_checkpoint_path", "all_model_checkpoint_paths"):
            text = _unquote(value.strip())
            if text is None:
                raise ReconcileError(f"{path}:{number}: {key}: expected a quoted path, got {value.strip()}",
                                     _INDEX_HINT)
            if key == "model_checkpoint_path":
                latest = text
            else:
                kept.append(text)
    return CheckpointIndex(latest, tuple(kept))


_INDEX_HINT = "it is TensorFlow's list of checkpoints; start over with --restart if it was damaged"


def _unquote(value: str) -> str | None:
    """A protobuf text-format string literal (C escapes, octal for non-ASCII bytes) as text."""
    if len(value) < 2 or value[0] not in "\"'" or value[-1] != value[0]:
        return None
    raw = value[1:-1].encode("utf-8", errors="surrogateescape")
    return _ESCAPE.sub(_unescape_one, raw).decode("utf-8", errors="replace")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    octal, hexa, char = match.groups()
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    return _SIMPLE_ESCAPES.get(char, char)


_BEST_HINT = "delete the best/ folder; the next evaluation refills it"


def _read_best(path: Path) -> Best | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ReconcileError(f"{path}: cannot be read ({err})", _BEST_HINT) from None
    if not isinstance(info, dict):
        raise ReconcileError(f"{path}: expected a JSON object", _BEST_HINT)
    try:
        return _BEST.validate_python(info)
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ReconcileError(f"{path}: not a best checkpoint's info ({where}: {problem['msg']})", _BEST_HINT) from None
