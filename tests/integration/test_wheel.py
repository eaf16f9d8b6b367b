"""odspec as a user gets it: the wheel built from this checkout's sdist, installed into a fresh venv, run elsewhere.

Building goes through the sdist (``uv build`` makes the sdist, then the wheel
from it), so a file the sdist forgets is missing from the wheel too. The venv
uses this interpreter's base Python and the constraints file of the running
stack, and every command runs from a folder outside the checkout, with no
PYTHONPATH: only the installed package can answer. TensorFlow is never imported
here; the checkout's own compile (``api.validate``) is the reference config.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, stack_constraints

from odspec import api
from odspec.resources import example_folder, package_root, templates_folder

pytestmark = pytest.mark.wheel

OD_API = "tf-models-research-object-detection"
SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    work: Path  # a folder outside the checkout, the cwd of every command

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], cwd=self.work, env=clean_env(),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        return done


def clean_env() -> dict[str, str]:
    """This process's environment without what would let the checkout (or another venv) leak in."""
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED}


def uv(*args: str | Path, cwd: Path) -> None:
    """The uv binary of the ``uv`` package this interpreter has (run directly: the clean env has no PYTHONPATH)."""
    from uv import find_uv_bin

    done = subprocess.run([find_uv_bin(), *map(str, args)], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"uv {' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def base_python() -> str:
    """The interpreter this venv was made from: the new venv gets the same Python, not a copy of this venv."""
    return getattr(sys, "_base_executable", None) or sys.executable


def pin(constraints: Path, name: str) -> str:
    found = re.findall(rf"^{re.escape(name)}==([^\s;]+)", constraints.read_text(), re.MULTILINE)
    assert found, f"{constraints.name} pins no {name}"
    return found[0]


def package_files(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """``odspec/...`` names of the checkout's files below ``folder``, as a wheel lists them."""
    return sorted(f"odspec/{p.relative_to(package_root()).as_posix()}" for p in folder.rglob("*") if p.suffix in suffixes)


def source_copy(target: Path) -> Path:
    """The checkout's files as a fresh clone would have them (plus new files not yet committed).

    Building in the checkout itself would let a stale ``odspec.egg-info/SOURCES.txt``
    add files to the sdist that its configuration no longer names.
    """
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip(f"the wheel is built from the files git tracks, and git cannot list them: {listed.stderr.strip()}")
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():  # a file deleted but not yet committed is gone from the clone too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if importlib.util.find_spec("uv") is None:
        pytest.skip("uv is not installed in this venv (it is in the test extra: pip install -e '.[test]' -c constraints.txt)")
    constraints = stack_constraints()
    assert constraints is not None, "no constraints file pins the installed tensorflow"
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents, "the venv must live outside the checkout"
    dist, venv, work = root / "dist", root / "venv", root / "work"
    work.mkdir()
    uv("build", "--out-dir", dist, source_copy(root / "src"), cwd=root)  # the sdist, then the wheel from the sdist
    (wheel,) = dist.glob("odspec-*.whl")
    (sdist,) = dist.glob("odspec-*.tar.gz")
    uv("venv", "--python", base_python(), venv, cwd=root)
    python = venv / "bin" / "python"
    uv("pip", "install", "--python", python, wheel, "-c", constraints, cwd=root)
    if sys.version_info >= (3, 13):  # the OD API declares tensorflow-io, which has no cp313 wheel
        uv("pip", "install", "--python", python, "--no-deps", f"{OD_API}=={pin(constraints, OD_API)}", cwd=root)
    return Installed(wheel, sdist, venv, work)


def test_wheel_and_sdist_carry_the_templates_and_the_example(installed: Installed) -> None:
    wanted = package_files(templates_folder(), (".j2",)) + package_files(example_folder(), (".yaml", ".jpg", ".xml", ".md"))
    assert len(wanted) > 120 and "odspec/templates/pipeline.config.j2" in wanted
    assert "odspec/example/shapes/images/shape_0000.jpg" in wanted
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    assert [name for name in wanted if name not in in_wheel] == []
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert [name for name in wanted if name not in in_sdist] == []
    assert {"constraints.txt", "constraints-tf2.15.txt", "pyproject.toml"} <= in_sdist


def test_installed_odspec_is_the_venvs_not_the_checkout(installed: Installed) -> None:
    shown = installed.run("python", "-c", "import odspec, odspec.resources as r; "
                                          "print(odspec.__file__); print(r.templates_folder())").stdout.split()
    for path in map(Path, shown):
        assert installed.venv in path.parents, f"{path} is not inside the venv {installed.venv}"
        assert REPO not in path.resolve().parents, f"{path} comes from the checkout"


def test_example_validates_and_builds_as_the_checkout_compiles_it(installed: Installed) -> None:
    assert "example" in installed.run("odspec", "--help").stdout
    said = installed.run("odspec", "example", "shapes").stdout
    assert "odspec build shapes/example.yaml" in said and "odspec run shapes/example.yaml" in said
    spec = installed.work / "shapes" / "example.yaml"
    assert spec.read_bytes() == (example_folder() / "example.yaml").read_bytes()
    assert "ok" in installed.run("odspec", "validate", "shapes/example.yaml").stdout
    installed.run("odspec", "build", "shapes/example.yaml")
    out = installed.work / "shapes" / "build" / "shapes"
    for split in ("train", "val", "test"):
        shards = list(out.glob(f"{split}-*-of-*.tfrecord"))
        assert shards and all(s.stat().st_size > 0 for s in shards), f"no {split} shards in {out}"
    expected = api.validate(spec, out).files  # the checkout's compile of the same spec, same build folder
    for name in ("pipeline.config", "label_map.pbtxt"):
        assert (out / name).read_bytes() == expected[name], f"the installed odspec wrote a different {name}"
