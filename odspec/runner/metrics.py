"""``metrics.jsonl``: one line per evaluated checkpoint, the run's memory of its evaluations.

Event files hold the same numbers, but they are per-process files meant for
TensorBoard; this file is what resuming, early stopping and ``best/`` read. A line
counts once its newline is on disk: each line goes out in one write followed by
fsync, so a crash can leave at most an incomplete last line, which reading
ignores and the next append cuts off. Non-finite values (a diverged loss) are
written as ``null`` to keep the file strict JSON, and read back as NaN.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from odspec.errors import OdspecError

METRICS_FILE = "metrics.jsonl"
_EDITED_HINT = "the file was edited or damaged; fix or delete that line"


@dataclass(frozen=True)
class MetricsRow:
    """The metrics of one evaluated checkpoint: ``checkpoint`` is its prefix name, e.g. ``ckpt-4``."""

    step: int
    checkpoint: str
    metrics: Mapping[str, float]


def metrics_path(model_dir: str | Path) -> Path:
    return Path(model_dir) / METRICS_FILE


def append_metrics(model_dir: str | Path, step: int, metrics: Mapping[str, float], *, checkpoint: str) -> MetricsRow:
    """Append one evaluation to ``model_dir/metrics.jsonl`` durably; return the row as it will read back.

    Values may be any real numbers (numpy scalars included); keys are sorted so
    equal metrics give equal lines.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if not isinstance(checkpoint, str):
        raise TypeError(f"checkpoint must be a checkpoint prefix name such as 'ckpt-4', got {checkpoint!r}")
    values = {str(key): float(value) for key, value in metrics.items()}
    finite = {key: value if math.isfinite(value) else None for key, value in values.items()}
    line = json.dumps({"step": step, "checkpoint": checkpoint, "metrics": finite}, sort_keys=True, allow_nan=False)
    path = metrics_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b", buffering=0) as handle:
        _drop_incomplete_line(handle)
        _write_all(handle, f"{line}\n".encode())
        os.fsync(handle.fileno())
    return _parse_line(line.encode())


def _drop_incomplete_line(handle: BinaryIO) -> None:
    """Cut a last line with no newline (left by a crash), so the next line does not join it."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    handle.seek(0)
    handle.truncate(handle.read().rfind(b"\n") + 1)


def _write_all(handle: BinaryIO, data: bytes) -> None:
    """One write call for the line; the loop only matters if the OS ever writes part of it."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]


def read_metrics(model_dir: str | Path) -> list[MetricsRow]:
    """Every evaluation in ``model_dir/metrics.jsonl``, by step; for a step written twice, the later line.

    No file yet means no evaluations. An incomplete last line is ignored; any
    other line that is not a metrics row raises :class:`OdspecError` with its
    line number.
    """
    path = metrics_path(model_dir)
    if not path.exists():
        return []
    *complete, _incomplete = path.read_bytes().split(b"\n")
    rows: dict[int, MetricsRow] = {}
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            row = _parse_line(line)
        except ValueError as err:
            raise OdspecError(f"{path}:{number}: not a metrics row: {err}", _EDITED_HINT) from None
        rows[row.step] = row
    return [rows[step] for step in sorted(rows)]


def _parse_line(line: bytes) -> MetricsRow:
    data = json.loads(line)
    if not isinstance(data, dict) or set(data) != {"step", "checkpoint", "metrics"}:
        raise ValueError('expected an object with the keys "checkpoint", "metrics" and "step"')
    step, checkpoint, metrics = data["step"], data["checkpoint"], data["metrics"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f'"step" must be a non-negative integer, got {step!r}')
    if not isinstance(checkpoint, str):
        raise ValueError(f'"checkpoint" must be a string, got {checkpoint!r}')  # noqa: TRY004 (bad content, not a bug)
    if not isinstance(metrics, dict) or not all(_is_number(value) for value in metrics.values()):
        raise ValueError(f'"metrics" must map names to numbers or null, got {metrics!r}')
    values = {key: math.nan if value is None else float(value) for key, value in metrics.items()}
    return MetricsRow(step=step, checkpoint=checkpoint, metrics=values)


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
