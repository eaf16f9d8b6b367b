"""What ``odspec doctor`` can only learn by importing TensorFlow, found in a child process.

``python -m odspec.odapi.probe`` applies odspec's compatibility shims (see
``compat``), imports TensorFlow and the OD API as training does, and prints one
JSON line: the shims that were needed (with the symptom each fixes), what
``tf.keras`` is, the GPU/TPU devices TensorFlow sees, its CUDA/cuDNN build, and
any step that failed (with a fix when odspec knows one). It exits 0 whenever it
could print that line, so a broken stack is reported rather than crashing.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from odspec.errors import OdspecError


def _failure(exc: BaseException) -> dict[str, str | None]:
    """A failed step as JSON: odspec's own errors keep their fix, anything else names its type."""
    if isinstance(exc, OdspecError):
        return {"message": exc.message, "hint": exc.hint}
    return {"message": f"{type(exc).__name__}: {exc}", "hint": None}


def _shims(found: dict[str, Any]) -> bool:
    from odspec.odapi import compat

    try:
        applied = compat.apply()
    except Exception as exc:  # noqa: BLE001 - reported, so the rest of the probe still runs
        found["apply_error"] = _failure(exc)
        return False
    symptoms = compat.symptoms()
    found["shims"] = [{"name": name, "symptom": symptoms[name]} for name in applied]
    return True


def _tensorflow(found: dict[str, Any]) -> None:
    import tensorflow as tf

    keras_package = tf.keras.__name__.partition(".")[0]  # tf_keras (Keras 2) or keras (2.15's, or Keras 3)
    found["tensorflow"] = tf.__version__
    found["tf_keras_is"] = {"module": keras_package, "version": str(sys.modules[keras_package].__version__)}
    found["devices"] = [{"name": d.name, "type": d.device_type} for d in tf.config.list_physical_devices()
                        if d.device_type in ("GPU", "TPU")]
    found["build_info"] = {k: v for k, v in dict(tf.sysconfig.get_build_info()).items()
                           if isinstance(v, (str, bool, int, float, list))}


def _odapi(found: dict[str, Any]) -> None:
    """Import what training, evaluation and the model builder import, so a missing piece shows here."""
    from object_detection import model_lib_v2  # noqa: F401
    from object_detection.builders import model_builder  # noqa: F401

    found["odapi_imports"] = True


def probe() -> dict[str, Any]:
    """Everything the probe found; each step that fails is recorded under ``<step>_error``."""
    found: dict[str, Any] = {"shims": None, "apply_error": None, "tensorflow": None, "tensorflow_error": None,
                             "tf_keras_is": None, "devices": None, "build_info": None, "odapi_imports": False,
                             "odapi_error": None}
    applied = _shims(found)
    try:
        _tensorflow(found)
    except Exception as exc:  # noqa: BLE001
        found["tensorflow_error"] = _failure(exc)
        return found
    if applied:
        try:
            _odapi(found)
        except Exception as exc:  # noqa: BLE001
            found["odapi_error"] = _failure(exc)
    return found


def parse_output(lines: list[str] | tuple[str, ...]) -> dict[str, Any] | None:
    """The probe's JSON object (its last line that is one), or None if it printed none."""
    from odspec.procs import json_lines

    found = json_lines(lines)
    return found[-1] if found else None


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(probe(), sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
