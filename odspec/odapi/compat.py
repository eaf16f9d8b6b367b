"""Make the OD API 2.8 usable in this process, on TF 2.15 and on TF 2.16-2.20 (tf-keras), protobuf 4-7, numpy 1-2.

Every compatibility shim odspec has lives here, and only OD API child processes
(training, evaluation, export, decoding, smoke tests, ``odspec doctor``'s probe) call
:func:`apply`; the TensorFlow-free commands never do.

The PyPI ``object_detection`` package was written against older TensorFlow,
tf-slim, Pillow and numpy. Rather than forcing process-wide switches (such as
``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``, ~3x slower), each patch below
fixes one measured symptom, is applied only when the symptom's cause is present,
and is safe to apply twice. Call :func:`apply` before importing anything from
``object_detection``. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy

from odspec.errors import EnvironmentProblem
from odspec.odapi import TENSORFLOW_DISTRIBUTIONS, protos

_INSTALL_HINT = ("reinstall a pinned stack: ./setup.sh (TF 2.20) or ./setup.sh --stack tf2.15; "
                 "`odspec doctor` shows what is installed")
_lock = threading.Lock()
_applied: tuple[str, ...] | None = None


def apply() -> tuple[str, ...]:
    """Patch this process once; returns the names of the patches that were needed.

    Later calls do nothing and return the same names, so every entry point can
    call it without coordinating with the others.
    """
    global _applied  # noqa: PLW0603 (once per process, under _lock)
    with _lock:
        if _applied is None:
            try:
                _applied = tuple(shim.name for shim in SHIMS if shim.patch())
            except ImportError as exc:
                raise EnvironmentProblem(f"cannot prepare the OD API: {exc}", _INSTALL_HINT) from exc
        return _applied


@dataclass(frozen=True)
class Shim:
    """One patch: its name (what :func:`apply` returns) and the function that applies it when needed."""

    name: str
    patch: Callable[[], bool]

    @property
    def symptom(self) -> str:
        """What goes wrong without it: the ``Symptom:`` paragraph of the patch's docstring, on one line."""
        first = inspect.cleandoc(self.patch.__doc__ or "").split("\n\n")[0]
        return " ".join(first.split()).removeprefix("Symptom: ").replace("``", "`")


def symptoms() -> dict[str, str]:
    """Every shim's name and the symptom it fixes, in the order :func:`apply` runs them."""
    return {shim.name: shim.symptom for shim in SHIMS}


def _tensorflow_version() -> tuple[int, int]:
    """TensorFlow's (major, minor) from its metadata, without importing it."""
    for dist in TENSORFLOW_DISTRIBUTIONS:
        try:
            major, minor, *_ = importlib.metadata.version(dist).split(".")
            return int(major), int(minor)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            continue
    raise EnvironmentProblem("TensorFlow is not installed", _INSTALL_HINT)


def _use_legacy_keras() -> bool:
    """Symptom: ``module 'keras._tf_keras.keras.layers' has no attribute 'experimental'`` (TF >= 2.16).

    From TF 2.16 ``tf.keras`` is Keras 3, which the OD API cannot use (its Keras layers
    and regularisers need Keras 2). ``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is
    first imported, with ``tf-keras`` installed, gives ``tf.keras`` Keras 2 again.
    """
    if _tensorflow_version() < (2, 16):
        return False
    if importlib.util.find_spec("tf_keras") is None:
        raise EnvironmentProblem("TensorFlow >= 2.16 needs tf-keras for the OD API, and it is not installed",
                                 "pip install tf-keras matching TensorFlow's minor version (e.g. tf-keras==2.20.*)")
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EnvironmentProblem("TensorFlow was imported before odspec could select legacy Keras "
                                 "(TF_USE_LEGACY_KERAS=1)",
                                 "set TF_USE_LEGACY_KERAS=1 in the environment, or call odspec.odapi.compat.apply() "
                                 "before importing TensorFlow")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    return True


class _ModeKeys:
    """``tf.estimator.ModeKeys``: the only part of the estimator API the OD API's TF2 path touches."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


class _EstimatorStub(types.ModuleType):
    """Stands in for ``tensorflow.compat.v1.estimator`` where TensorFlow no longer ships it."""

    ModeKeys = _ModeKeys

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"tf.estimator.{name} is not available: TensorFlow >= 2.16 has no estimator API "
                             "(odspec's stub provides only ModeKeys, all the OD API's TF2 path needs)")


def _stub_estimator() -> bool:
    """Symptom: ``cannot import name 'estimator' from 'tensorflow.compat.v1'`` on importing ``object_detection.inputs``.

    TF 2.16 removed ``tf.estimator``; ``inputs.py`` and ``model_lib.py`` import it at
    module level but on the TF2 path only compare against ``ModeKeys``.
    """
    if _tensorflow_version() < (2, 16):
        return False
    import tensorflow as tf

    try:
        from tensorflow.compat.v1 import estimator  # noqa: F401
        return False
    except ImportError:
        pass
    stub = _EstimatorStub("tensorflow.compat.v1.estimator")
    sys.modules["tensorflow.compat.v1.estimator"] = stub
    tf.compat.v1.estimator = stub
    return True


class _Missing(types.ModuleType):
    """A module that is not installed, failing clearly when (and only when) something uses it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise EnvironmentProblem(f"{self.__name__}.{name} is needed, but no usable {self.__name__} is installed "
                                 "(none has a wheel for Python 3.13 or is built for TensorFlow >= 2.17; only DeepMAC's "
                                 "colour-consistency loss uses it)",
                                 "use the tf2.15 stack (./setup.sh --stack tf2.15, with tensorflow-io 0.36), or leave "
                                 "color_consistency_loss_weight at 0")


# tensorflow-io releases and the one TensorFlow minor each was built against; a release
# loaded into another TensorFlow warns of undefined symbols on import and its ops fail.
_TENSORFLOW_IO_BUILT_FOR = {"0.36": (2, 15), "0.37": (2, 16)}


def _tensorflow_io_usable() -> bool:
    try:
        version = importlib.metadata.version("tensorflow-io")
    except importlib.metadata.PackageNotFoundError:
        return False
    return _TENSORFLOW_IO_BUILT_FOR.get(".".join(version.split(".")[:2])) == _tensorflow_version()


def _stub_tensorflow_io() -> bool:
    """Symptom: ``No module named 'tensorflow_io'`` (Python 3.13), or ``undefined symbol`` warnings from
    ``libtensorflow_io.so`` (TF >= 2.17), on importing ``object_detection.builders.model_builder``.

    The OD API imports it for DeepMAC's colour-consistency loss alone; it has no wheel for
    Python 3.13 and no release built for TF >= 2.17. Every other architecture builds with a
    placeholder that fails, clearly, only when used.
    """
    if isinstance(sys.modules.get("tensorflow_io"), _Missing):
        return True
    if _tensorflow_io_usable():
        return False
    sys.modules["tensorflow_io"] = _Missing("tensorflow_io")
    return True


def _install_protos_hook() -> bool:
    """Symptom: ``TypeError: Descriptors cannot be created directly`` on any OD API import.

    The shipped ``*_pb2`` modules are old-style generated code that protobuf >= 4
    rejects on its fast backend; the hook serves rebuilt modules instead.
    """
    protos.install_import_hook()
    return True


def _patch_tf_slim_control_flow() -> bool:
    """Symptom: ``module 'tensorflow.python.ops.control_flow_ops' has no attribute 'case'`` while decoding TFRecords.

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
    """Symptom: ``'FreeTypeFont' object has no attribute 'getsize'`` in eval image summaries (Pillow >= 10).

    Pillow 10 removed ``getsize`` from its fonts; ``visualization_utils`` still
    calls it to lay out box labels (on a TrueType font, or the default bitmap one).
    """
    from PIL import ImageFont

    patched = False
    for cls in (ImageFont.FreeTypeFont, ImageFont.ImageFont, ImageFont.TransposedFont):
        if not hasattr(cls, "getsize") and hasattr(cls, "getbbox"):
            setattr(cls, "getsize", _getsize)  # noqa: B010 (a method Pillow 10 removed: no stub declares it)
            patched = True
    return patched


class _NumpyWithAliases(types.ModuleType):
    """numpy plus the builtin-type aliases that numpy 1.24 removed, and ``NAN``, which numpy 2 removed."""

    float = float
    bool = bool
    int = int
    NAN = numpy.nan

    def __getattr__(self, name: str) -> Any:
        return getattr(numpy, name)


def _patch_numpy_aliases_in_od_metrics() -> bool:
    """Symptom: ``module 'numpy' has no attribute 'float'`` when Pascal/Open Images metrics evaluate.

    ``object_detection.utils.metrics`` compares dtypes with ``np.float``/``np.bool``
    (and returns ``np.NAN`` for a class without ground truth). Only that module's
    ``np`` is swapped, so numpy itself stays unchanged for everyone else.
    """
    if all(hasattr(numpy, alias) for alias in ("float", "bool", "int", "NAN")):
        return False
    from object_detection.utils import metrics

    if isinstance(metrics.np, _NumpyWithAliases):
        return False
    metrics.np = _NumpyWithAliases("numpy")
    return True


SHIMS: tuple[Shim, ...] = (
    Shim("legacy_keras", _use_legacy_keras),
    Shim("protos_import_hook", _install_protos_hook),
    Shim("estimator_mode_keys", _stub_estimator),
    Shim("tensorflow_io_absent", _stub_tensorflow_io),
    Shim("tf_slim_control_flow", _patch_tf_slim_control_flow),
    Shim("pillow_getsize", _patch_pillow_getsize),
    Shim("numpy_aliases_in_od_metrics", _patch_numpy_aliases_in_od_metrics),
)



# --- seeded runs -----------------------------------------------------------------------------------------------------
# What TensorFlow's global seed and op determinism do not reach in the OD API. Applied by seeded runs
# only (``launcher.seed_everything``, through :func:`apply_seeded`), so unseeded runs keep the OD API's
# behaviour. No pipeline.config field can do this: the input reader has none that reaches the first
# two, and no field chooses how TensorFlow sums.

def _seed_input_maps() -> bool:
    """Symptom: seeded runs still augment differently; with op determinism, ``Random ops require a seed to be set``.

    The OD API's ``dataset_builder`` maps decoding and preprocessing with
    ``map_with_legacy_function`` whenever the dataset has it, which every
    ``tf.compat.v1`` dataset (the one it builds) does. A legacy function's graph does
    not see TensorFlow's global seed, so the preprocessor's random ops in it stay
    unseeded whatever ``tf.random.set_seed`` says. Plain ``map`` (the builder's own
    branch for datasets without the method: same function, same parallelism) traces
    into a graph that inherits the global seed, so each op takes a seed from it.
    """
    import tensorflow as tf

    dataset_v1 = tf.compat.v1.data.Dataset
    legacy = getattr(dataset_v1, "map_with_legacy_function", None)
    if legacy is None or getattr(legacy, "odspec_seeded", False):
        return False

    def map_with_legacy_function(self: Any, map_func: Any, num_parallel_calls: Any = None,
                                 deterministic: Any = None, use_unbounded_threadpool: bool = False) -> Any:
        return self.map(map_func, num_parallel_calls=num_parallel_calls, deterministic=deterministic)

    map_with_legacy_function.odspec_seeded = True  # type: ignore[attr-defined]
    dataset_v1.map_with_legacy_function = map_with_legacy_function
    return True


def _seed_crop_sampling() -> bool:
    """Symptom: with op determinism, ``sample_distorted_bounding_box requires "seed" or "seed2" to be non-zero``.

    The preprocessor's crops (``ssd_random_crop``, ``random_crop_image`` and the ops
    built on them) draw their window with ``tf.compat.v1.image.sample_distorted_bounding_box``,
    which, unlike every other random op, ignores the global seed when given none: it
    would crop differently in every run. Given no seed, it now takes one from the global
    seed as the other random ops do (``random_seed.get_seed``).
    """
    import tensorflow as tf
    from tensorflow.python.framework import random_seed

    image = tf.compat.v1.image
    base = image.sample_distorted_bounding_box
    if getattr(base, "odspec_seeded", False):
        return False

    def sample_distorted_bounding_box(image_size: Any, bounding_boxes: Any, seed: Any = None, seed2: Any = None,
                                      *args: Any, **kwargs: Any) -> Any:
        if not seed and not seed2:
            seed, seed2 = random_seed.get_seed(None)
        return base(image_size, bounding_boxes, seed, seed2, *args, **kwargs)

    sample_distorted_bounding_box.odspec_seeded = True  # type: ignore[attr-defined]
    image.sample_distorted_bounding_box = sample_distorted_bounding_box
    return True


def _seed_sum_order() -> bool:
    """Symptom: seeded runs on a busy machine differ in the last bits of the total loss, then of the weights.

    TensorFlow's ``AddN`` kernel accumulates into whichever input buffer no other op
    still holds, moved to the front of the sum; which one that is depends on which
    ops have finished, so with three or more inputs the rounding follows the timing
    (``(a + b) + c`` against ``(c + b) + a``). The OD API sums its losses with
    ``add_n``, and the gradient tape sums the gradients of every tensor used three
    or more times (SSD's weight-shared box tower on five levels) with it too. A sum
    over a stacked axis has one order. Two inputs need nothing (``a + b == b + a``);
    integer and variant sums are exact and stay as they are.
    """
    import tensorflow as tf
    from tensorflow.python.ops import gen_math_ops

    base = gen_math_ops.add_n
    if getattr(base, "odspec_seeded", False):
        return False

    def add_n(inputs: Any, name: Any = None) -> Any:
        inputs = list(inputs)
        if len(inputs) < 3 or not all(isinstance(x, tf.Tensor) and x.dtype.is_floating for x in inputs):
            return base(inputs, name=name)
        with tf.name_scope(name or "AddN"):
            return tf.reduce_sum(tf.stack(inputs), axis=0)

    add_n.odspec_seeded = True  # type: ignore[attr-defined]
    gen_math_ops.add_n = add_n
    return True


SEEDED_SHIMS: tuple[Shim, ...] = (
    Shim("seeded_input_maps", _seed_input_maps),
    Shim("seeded_crop_sampling", _seed_crop_sampling),
    Shim("seeded_sum_order", _seed_sum_order),
)


def apply_seeded() -> tuple[str, ...]:
    """Let TensorFlow's global seed reach the OD API's input pipeline and fix the order of its sums; call after
    :func:`apply`, before training.

    Returns the names of the patches applied now (none when already applied).
    """
    with _lock:
        return tuple(shim.name for shim in SEEDED_SHIMS if shim.patch())
