"""The OD API's message classes, rebuilt so they work on protobuf's fast backend.

The PyPI build of ``object_detection`` ships old-style ``*_pb2.py`` modules that
protobuf >= 4 refuses to import unless the whole process switches to the slow
pure-Python backend. Each of those modules carries its ``FileDescriptorProto``
as a bytes literal; we read that literal without executing the module, add it to
the default descriptor pool and build the classes the way modern generated code
does. Importing this module never imports TensorFlow.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from functools import cache
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.internal import builder

from odspec.errors import EnvironmentProblem

PACKAGE = "object_detection.protos"
_SERIALIZED = re.compile(rb"serialized_pb=(b'(?:[^'\\]|\\.)*')", re.S)
_lock = threading.RLock()
_install_hint = (
    'install the OD API: pip install "tf-models-research-object-detection==2.8.0.post1" '
    "(or run ./setup.sh)"
)


@cache
def is_repeated(field: FieldDescriptor) -> bool:
    """Whether a field is repeated, on protobuf 4-7 (protobuf 7 removed ``FieldDescriptor.label``)."""
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    label: int = field.label  # type: ignore[attr-defined]  # protobuf < 7 only; the stubs follow protobuf 7
    return label == FieldDescriptor.LABEL_REPEATED


def protos_dir() -> Path:
    """Folder of the installed ``object_detection/protos`` package."""
    spec = importlib.util.find_spec("object_detection")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem("the OD API package `object_detection` is not installed", _install_hint)
    folder = Path(next(iter(spec.submodule_search_locations))) / "protos"
    if not folder.is_dir():
        raise EnvironmentProblem(f"{folder} is missing from the OD API install", _install_hint)
    return folder


def _read_descriptor(path: Path) -> descriptor_pb2.FileDescriptorProto:
    match = _SERIALIZED.search(path.read_bytes())
    if match is None:
        raise EnvironmentProblem(f"{path} carries no serialized descriptor", _install_hint)
    proto = descriptor_pb2.FileDescriptorProto()
    proto.ParseFromString(ast.literal_eval(match.group(1).decode("latin-1")))
    return proto


@cache
def _descriptors() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Every OD API proto file, by its proto path (``object_detection/protos/x.proto``)."""
    found = {}
    for path in sorted(protos_dir().glob("*_pb2.py")):
        proto = _read_descriptor(path)
        found[proto.name] = proto
    return found


def _add_to_pool(name: str, seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    pool = descriptor_pool.Default()
    proto = _descriptors()[name]
    for dep in proto.dependency:
        if dep in _descriptors():
            _add_to_pool(dep, seen)
    try:
        pool.FindFileByName(name)
    except KeyError:
        pool.Add(proto)


def _module_name(proto_name: str) -> str:
    return PACKAGE + "." + Path(proto_name).stem + "_pb2"


@cache
def _build_module(short: str) -> types.ModuleType:
    """``short`` is e.g. ``pipeline_pb2``; returns a module equivalent to the generated one."""
    proto_name = f"object_detection/protos/{short[: -len('_pb2')]}.proto"
    if proto_name not in _descriptors():
        raise ImportError(f"no OD API proto named {proto_name}")
    with _lock:
        for dep in _descriptors()[proto_name].dependency:
            if dep in _descriptors():
                load(Path(dep).stem + "_pb2")
        _add_to_pool(proto_name, set())
        file_descriptor = descriptor_pool.Default().FindFileByName(proto_name)
        module = types.ModuleType(_module_name(proto_name))
        namespace = module.__dict__
        namespace["DESCRIPTOR"] = file_descriptor
        builder.BuildMessageAndEnumDescriptors(file_descriptor, namespace)
        builder.BuildTopDescriptorsAndMessages(file_descriptor, module.__name__, namespace)
    return module


def load(short: str) -> types.ModuleType:
    """The OD API module ``object_detection.protos.<short>``, e.g. ``load("pipeline_pb2")``."""
    full = f"{PACKAGE}.{short}"
    existing = sys.modules.get(full)
    if existing is not None and hasattr(existing, "DESCRIPTOR"):
        return existing
    module = _build_module(short)
    sys.modules[full] = module
    return module


class _ProtoFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``object_detection.protos.*_pb2`` imports from :func:`load`."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname.startswith(PACKAGE + ".") and fullname.endswith("_pb2"):
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return _build_module(spec.name.rsplit(".", 1)[1])

    def exec_module(self, module):  # type: ignore[no-untyped-def]
        return None


def install_import_hook() -> None:
    """Make the OD API's own ``import ..._pb2`` statements use the rebuilt modules."""
    if not any(isinstance(f, _ProtoFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ProtoFinder())
