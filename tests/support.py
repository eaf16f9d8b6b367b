"""Helpers shared by tests (and benchmarks): the repo root, the zoo configs, specs built from dicts, runs of the
example, a cluster on loopback."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odspec import api
from odspec.runner.run_events import event_dict

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "specs" / "example.yaml"
MAP = "DetectionBoxes_Precision/mAP"


def variant(folder: Path, name: str, changes: dict[str, Any], base: Path = EXAMPLE) -> Path:
    """The example spec with ``changes`` merged in (dotted keys), its dataset paths made absolute, in ``folder``."""
    spec = yaml.safe_load(base.read_text())
    for key in ("images", "annotations"):
        spec["dataset"][key] = str((base.parent / spec["dataset"][key]).resolve())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = spec
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@dataclass
class Ran:
    spec: Path
    model_dir: Path
    result: api.RunResult
    events: list[dict[str, Any]]

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == kind]


def run(spec: Path, model_dir: Path, **options: Any) -> Ran:
    events: list[dict[str, Any]] = []
    result = api.run(spec, model_dir=model_dir, on_event=lambda e: events.append(event_dict(e)), **options)
    return Ran(spec, model_dir, result, events)


def stack_constraints() -> Path | None:
    """The constraints file pinning the TensorFlow this interpreter runs (constraints.txt or constraints-tf2.15.txt).

    Read from the installed distribution's metadata, so TensorFlow is not imported.
    """
    import re
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("tensorflow")
    except PackageNotFoundError:
        return None
    for path in sorted(REPO.glob("constraints*.txt")):
        if installed in re.findall(r"^tensorflow==([^\s;]+)", path.read_text(), re.MULTILINE):
            return path
    return None


def zoo_configs_dir() -> Path | None:
    """The published TF2 zoo configs, if this machine has them (../shared in CI)."""
    candidates = [os.environ.get("ODSPEC_ZOO_CONFIGS"), REPO.parent / "shared" / "odapi-zoo-configs"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def minimal_spec(architecture: str, classes: list[str] | None = None, **sections: Any) -> dict[str, Any]:
    """A spec dict with only what is required; ``sections`` merge into its top level."""
    spec: dict[str, Any] = {
        "project": "test",
        "dataset": {"format": "voc", "images": "images", "annotations": "annotations", "classes": classes or ["a", "b"]},
        "model": {"architecture": architecture},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def write_spec(folder: Path, spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    """Write ``spec`` as YAML in ``folder``, with the (empty) dataset folders it names."""
    import yaml

    for key in ("images", "annotations"):
        value = spec.get("dataset", {}).get(key)
        if isinstance(value, str) and not (folder / value).exists():
            (folder / value).mkdir(parents=True)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def compiled_config(architecture: str, **sections: Any) -> Any:
    """The compiled TrainEvalPipelineConfig of a minimal spec (no files written)."""
    from pathlib import PurePath

    from odspec.compile.context import Paths
    from odspec.compile.render import pipeline_message
    from odspec.spec.models import Spec

    config, _ = pipeline_message(Spec.model_validate(minimal_spec(architecture, **sections)), Paths(PurePath("/build")))
    return config


def tree_digest(folder: Path) -> dict[str, str]:
    """``{relative path: sha256 or kind}`` of everything below ``folder``: compare before and after to prove
    that nothing was created, changed or removed there (symlinks by target, folders and specials by kind)."""
    import hashlib
    import stat

    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[rel] = "link:" + os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "dir" if stat.S_ISDIR(info.st_mode) else f"special:{stat.S_IFMT(info.st_mode)}"
    return found


GOOD_SPEC = """\
project: pets
dataset:
  format: voc
  images: images
  annotations: annotations
  classes: [cat, dog]
model:
  architecture: ssd_mobilenet_v2_fpnlite_320
"""


def load_errors(text: str) -> list[str]:
    """The problems ``load_spec`` reports for ``text`` (read as ``spec.yaml``), as printed."""
    import pytest

    from odspec.errors import SpecError
    from odspec.spec.load import load_spec

    with pytest.raises(SpecError) as caught:
        load_spec(Path("spec.yaml"), text)
    return [str(p) for p in caught.value.problems]


def imported_modules(*args: str) -> set[str]:
    """The modules loaded by ``odspec ARGS...`` run in a fresh interpreter (to check what a command imports)."""
    import subprocess
    import sys

    code = "import sys, runpy; sys.argv = ['odspec', *sys.argv[1:]]\ntry:\n    runpy.run_module('odspec.cli', run_name='__main__')\nexcept SystemExit:\n    pass\nprint('MODULES', ' '.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    line = [x for x in result.stdout.splitlines() if x.startswith("MODULES ")][-1]
    return set(line.split()[1:])


def loopback_tf_configs(workers: int, evaluator: bool = False) -> list[str]:
    """The ``TF_CONFIG`` of each task of a cluster of ``workers`` ``worker`` tasks on 127.0.0.1 (free ports), as a
    TFJob or Vertex AI sets it: worker 0 is the chief. Several workers on one machine, for tests and benchmarks.

    ``evaluator``: one ``evaluator`` task too, listed in every task's cluster as Kubeflow's training operator
    lists it (its TF_CONFIG comes last)."""
    sockets = [socket.socket() for _ in range(workers + evaluator)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    cluster = {"worker": addresses[:workers], **({"evaluator": addresses[workers:]} if evaluator else {})}
    tasks = [("worker", index) for index in range(workers)] + ([("evaluator", 0)] if evaluator else [])
    return [json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}) for kind, index in tasks]
