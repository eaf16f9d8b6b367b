"""Make the OD API 2.8 usable in this process on TF 2.15, protobuf 4 and numpy 1.26.

The PyPI ``object_detection`` package was written against older TensorFlow,
tf-slim, Pillow and numpy. Rather than forcing process-wide switches (such as
``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``, ~3x slower), each patch below
fixes one measured symptom, is applied only when the symptom's cause is present,
and is safe to apply twice. Call :func:`apply` before importing anything from
``object_detection``. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy

from odspec.errors import EnvironmentProblem
from odspec.odapi import protos

_INSTALL_HINT = "reinstall the pinned stack: ./setup.sh, or pip install -e . in a Python 3.9-3.11 venv"
_lock = threading.Lock()
_applied: tuple[str, ...] | None = None


def apply() -> tuple[str, ...]:
    """Patch this process once; returns the names of the patches that were needed.

    Later calls do nothing and return the same names, so every entry point can
    call it without coordinating with the others.
    """
    global _applied
    with _lock:
        if _applied is None:
            steps: list[tuple[str, Callable[[], bool]]] = [
                ("protos_import_hook", _install_protos_hook),
                ("tf_slim_control_flow", _patch_tf_slim_control_flow),
                ("pillow_getsize", _patch_pillow_getsize),
                ("numpy_aliases_in_od_metrics", _patch_numpy_aliases_in_od_metrics),
            ]
            try:
                _applied = tuple(name for name, step in steps if step())
            except ImportError as exc:
                raise EnvironmentProblem(f"cannot prepare the OD API: {exc}", _INSTALL_HINT) from exc
        return _applied


def _install_protos_hook() -> bool:
    """Symptom: ``TypeError: Descriptors cannot be created directly`` on any OD API import.

    The shipped ``*_pb2`` modules are old-style generated code that protobuf >= 4
    rejects on its fast backend; the hook serves rebuilt modules instead.
    """
    protos.install_import_hook()
    return True


def _patch_tf_slim_control_flow() -> bool:
    """Symptom: ``module 'control_flow_ops' has no attribute 'case'`` while decoding TFRecords.

    tf-slim 1.1.0 (its tfexample_decoder, used by the OD API's decoder, and its
    metrics/layers) calls ``control_flow_ops.case`` and ``.cond``, which TF moved
    to ``control_flow_case`` and ``cond``. tf-slim looks them up at call time, so
    setting the module attributes is enough, whatever was imported first.
    """
    from tensorflow.python.ops import control_flow_ops

    homes = {"case": ("tensorflow.python.ops.control_flow_case", "case"),
             "cond": ("tensorflow.python.ops.cond", "cond")}
    patched = False
    for name, (module, attr) in homes.items():
        if not hasattr(control_flow_ops, name):
            setattr(control_flow_ops, name, getattr(importlib.import_module(module), attr))
            patched = True
    return patched


def _getsize(font: Any, text: str, *args: Any, **kwargs: Any) -> tuple[int, int]:
    """Pillow < 10's ``getsize`` rebuilt from ``getbbox``; matches it on Pillow 9.5's fonts."""
    left, _top, right, bottom = font.getbbox(text, *args, **kwargs)
    return int(right - min(left, 0)), int(bottom)


def _patch_pillow_getsize() -> bool:
    """Symptom: ``FreeTypeFont has no attribute getsize`` in eval image summaries.

    Pillow 10 removed ``getsize`` from its fonts; ``visualization_utils`` still
    calls it to lay out box labels (on a TrueType font, or the default bitmap one).
    """
    from PIL import ImageFont

    patched = False
    for cls in (ImageFont.FreeTypeFont, ImageFont.ImageFont, ImageFont.TransposedFont):
        if not hasattr(cls, "getsize") and hasattr(cls, "getbbox"):
            cls.getsize = _getsize  # type: ignore[attr-defined]
            patched = True
    return patched


class _NumpyWithAliases(types.ModuleType):
    """numpy plus the builtin-type aliases that numpy 1.24 removed."""

    float = float
    bool = bool
    int = int

    def __getattr__(self, name: str) -> Any:
        return getattr(numpy, name)


def _patch_numpy_aliases_in_od_metrics() -> bool:
    """Symptom: ``module 'numpy' has no attribute 'float'`` when Pascal/Open Images metrics evaluate.

    ``object_detection.utils.metrics`` compares dtypes with ``np.float``/``np.bool``.
    Only that module's ``np`` is swapped, so numpy itself stays unchanged for
    everyone else.
    """
    if hasattr(numpy, "float") and hasattr(numpy, "bool"):
        return False
    from object_detection.utils import metrics

    if isinstance(metrics.np, _NumpyWithAliases):
        return False
    metrics.np = _NumpyWithAliases("numpy")
    return True
