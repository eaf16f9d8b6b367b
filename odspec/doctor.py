"""``odspec doctor``: what a bug report needs to say about this installation, and what is missing, with its fix.

Package versions come from their metadata and the stack's pins from the
repository's constraints file, so this process never imports TensorFlow;
everything that does (the shims, ``tf.keras``, devices, the CUDA build, the OD
API's imports) is found by ``python -m odspec.odapi.probe`` in a child. The
decisions (which stack, which pins differ, which problems and their fixes) are
pure functions of what was gathered, so they are tested without either.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from odspec import __version__
from odspec.odapi import TENSORFLOW_DISTRIBUTIONS

ODAPI = "tf-models-research-object-detection"
# What a bug report lists, in this order; all but the Keras pair and the two the shims replace are required.
PACKAGES = ("tensorflow", "keras", "tf-keras", "tf-models-official", ODAPI, "tf-slim", "tensorflow-io",
            "protobuf", "numpy", "pillow")
REQUIRED = ("tensorflow", "tf-models-official", ODAPI, "tf-slim", "protobuf", "numpy", "pillow")
NO_TENSORFLOW_IO_FROM = (3, 13)  # no tensorflow-io wheel, so the OD API (which declares it) goes in with --no-deps
PROBE_MODULE = "odspec.odapi.probe"
PROBE_TIMEOUT = 600.0
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stack:
    """A tested set of versions: its TensorFlow minor, its pins, and the command that installs it."""

    name: str
    title: str
    tensorflow: tuple[int, int]
    constraints: str
    setup: str


# Each constraints file pins this TensorFlow minor (a unit test checks that they agree).
STACKS = (
    Stack("tf2.20", "TF 2.20 (the default)", (2, 20), "constraints.txt", "./setup.sh"),
    Stack("tf2.15", "TF 2.15", (2, 15), "constraints-tf2.15.txt", "./setup.sh --stack tf2.15"),
)


@dataclass(frozen=True)
class Finding:
    """A problem (something breaks: exit 1) or a warning (untested, still works), with its fix."""

    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (fix: {self.hint})"


@dataclass(frozen=True)
class Pins:
    """How the installed versions compare with the stack's constraints file."""

    status: str  # "match", "differ", "not available" (no constraints file here), "no stack", "not checked"
    file: str | None = None
    checked: int = 0  # pinned packages that are installed
    differ: tuple[tuple[str, str, str], ...] = ()  # (package, installed, pinned)
    note: str | None = None


@dataclass(frozen=True)
class Report:
    odspec: str
    python: dict[str, str]
    packages: dict[str, str | None]
    protobuf_backend: str | None
    stack: Stack | None
    pins: Pins
    probe: dict[str, Any] | None
    problems: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["shims"] = found["probe"].pop("shims", None) if found["probe"] else None
        found["exit_code"] = self.exit_code
        return found


# --- the decisions (pure) ------------------------------------------------------------------------------------------

def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Pillow``, ``tf_keras`` -> ``pillow``, ``tf-keras``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def minor(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a version string, or None when it is missing or not numeric."""
    found = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(found[1]), int(found[2])) if found else None


def match_stack(tensorflow: str | None) -> Stack | None:
    """The tested stack whose TensorFlow minor this version has."""
    return next((stack for stack in STACKS if stack.tensorflow == minor(tensorflow)), None)


def parse_pins(text: str) -> list[tuple[str, str, str | None]]:
    """(package, version, environment marker or None) for each ``name==version [; marker]`` line."""
    pins = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        requirement, _, marker = line.partition(";")
        name, equals, version = requirement.partition("==")
        if equals and name.strip() and not line.startswith("-"):
            pins.append((canonical(name.strip()), version.strip(), marker.strip() or None))
    return pins


def compare_pins(installed: Mapping[str, str], pinned: Mapping[str, str]) -> tuple[int, list[tuple[str, str, str]]]:
    """How many pinned packages are installed, and those whose installed version differs.

    A pin on a package that is not installed is not a difference: constraints
    limit what is installed, they do not require it (the test extras, say).
    """
    present = sorted(name for name in pinned if name in installed)
    return len(present), [(name, installed[name], pinned[name]) for name in present if installed[name] != pinned[name]]


def declared_version(name: str, requirements: Sequence[str]) -> str | None:
    """The ``==`` version of ``name`` in requirement strings, whatever their markers say."""
    for requirement in requirements:
        found = re.match(r"\s*([A-Za-z0-9._-]+)\s*==\s*([^\s;,]+)", requirement)
        if found and canonical(found[1]) == canonical(name):
            return found[2]
    return None


def _install(name: str, version: str | None, options: str = "") -> str:
    return f"pip install {options}{name}=={version}" if version else f"pip install {options}{name}"


def missing_problems(packages: Mapping[str, str | None], python: tuple[int, int],
                     pinned: Mapping[str, str]) -> list[Finding]:
    """A problem with its fix for each required package that is not installed.

    ``pinned`` gives the versions the fixes name (the stack's pins, else what odspec declares).
    """
    problems = []
    for name in REQUIRED:
        if packages.get(name):
            continue
        if name == "tensorflow":
            default = STACKS[0]
            hint = (f"in an odspec checkout: {' or '.join(s.setup for s in STACKS)}; otherwise "
                    f"pip install 'tensorflow=={default.tensorflow[0]}.{default.tensorflow[1]}.*' "
                    f"'tf-keras=={default.tensorflow[0]}.{default.tensorflow[1]}.*'")
        elif name == ODAPI and python >= NO_TENSORFLOW_IO_FROM:
            hint = (f"{_install(ODAPI, pinned.get(ODAPI), '--no-deps ')} (it declares tensorflow-io, which has "
                    f"no wheel for Python {python[0]}.{python[1]}; odspec requires what it really uses)")
        else:
            hint = _install(name, pinned.get(name))
        problems.append(Finding(f"{name} is not installed", hint))
    return problems


def probe_problems(packages: Mapping[str, str | None], probe: Mapping[str, Any]) -> list[Finding]:
    """Problems the TensorFlow child found: shims that could not apply, imports that fail, the wrong Keras."""
    reinstall = f"reinstall the pinned stack ({' or '.join(s.setup for s in STACKS)})"
    problems = []
    for step, what in (("apply_error", "odspec's OD API shims cannot apply"),
                       ("tensorflow_error", "TensorFlow does not import"),
                       ("odapi_error", "the OD API does not import, even with odspec's shims")):
        failure = probe.get(step)
        if failure:
            problems.append(Finding(f"{what}: {failure['message']}", failure.get("hint") or reinstall))
    applied = {shim["name"] for shim in probe.get("shims") or ()}
    tensorflow, tf_keras = minor(packages.get("tensorflow")), packages.get("tf-keras")
    if "legacy_keras" in applied and tf_keras and minor(tf_keras) != tensorflow and tensorflow:
        problems.append(Finding(f"tf-keras {tf_keras} does not match TensorFlow {packages['tensorflow']}",
                                f"pip install 'tf-keras=={tensorflow[0]}.{tensorflow[1]}.*'"))
    keras = probe.get("tf_keras_is") or {}
    if probe.get("shims") is not None and (minor(keras.get("version")) or (0, 0)) >= (3, 0):
        problems.append(Finding(f"tf.keras is Keras {keras['version']} ({keras['module']}), "
                                "but the OD API needs Keras 2",
                                "pip install tf-keras matching TensorFlow's minor version; odspec then sets "
                                "TF_USE_LEGACY_KERAS=1 in its OD API processes"))
    return problems


def find_problems(packages: Mapping[str, str | None], python: tuple[int, int], pinned: Mapping[str, str],
                  probe: Mapping[str, Any] | None, probe_failure: str | None = None) -> list[Finding]:
    """Every problem, each once: a missing package explains the probe's failures, so those are not repeated."""
    missing = missing_problems(packages, python, pinned)
    if missing:
        return missing
    if probe_failure:
        return [Finding(f"the TensorFlow probe failed: {probe_failure}", "run `python -m odspec.odapi.probe` to see "
                        "its whole output, and report it")]
    return probe_problems(packages, probe or {})


def find_warnings(packages: Mapping[str, str | None], stack: Stack | None, pins: Pins) -> list[Finding]:
    """What works but was not tested together: another TensorFlow, or versions beside the pins."""
    if packages.get("tensorflow") and stack is None:
        tested = ", ".join(s.title for s in STACKS)
        return [Finding(f"TensorFlow {packages['tensorflow']} is not a tested stack ({tested})",
                        f"{STACKS[0].setup} installs the default stack")]
    if pins.status == "differ" and stack is not None:
        shown = ", ".join(f"{name} {installed} (pinned {pinned})" for name, installed, pinned in pins.differ)
        return [Finding(f"installed versions differ from {stack.constraints}: {shown}",
                        f"{stack.setup} installs the pinned versions")]
    return []


# --- what is installed (I/O, TensorFlow-free) ----------------------------------------------------------------------

def installed_versions() -> dict[str, str]:
    """Every installed distribution's version, by canonical name."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version)
    return found


def reported_packages(installed: Mapping[str, str]) -> dict[str, str | None]:
    """The versions a bug report lists; ``tensorflow`` is whichever distribution provides the module."""
    packages = {name: installed.get(name) for name in PACKAGES}
    packages["tensorflow"] = next((installed[d] for d in TENSORFLOW_DISTRIBUTIONS if d in installed), None)
    return packages


def applicable_pins(path: Path) -> dict[str, str] | None:
    """The pins of a constraints file that apply to this interpreter; None without ``packaging`` to judge markers."""
    try:
        from packaging.markers import Marker
    except ImportError:
        return None
    return {name: version for name, version, marker in parse_pins(path.read_text(encoding="utf-8"))
            if marker is None or Marker(marker).evaluate()}


def check_pins(stack: Stack | None, installed: Mapping[str, str], repo: Path = REPO) -> tuple[Pins, dict[str, str]]:
    """The comparison with the stack's pins, and those pins ({} when there are none to read)."""
    if stack is None:
        return Pins("no stack"), {}
    path = repo / stack.constraints
    if not (path.is_file() and (repo / "pyproject.toml").is_file()):
        return Pins("not available", note=f"no {stack.constraints} beside this odspec: an installed package"), {}
    pinned = applicable_pins(path)
    if pinned is None:
        return Pins("not checked", str(path), note="the packaging module is not installed to read its markers"), {}
    checked, differ = compare_pins(installed, pinned)
    return Pins("differ" if differ else "match", str(path), checked, tuple(differ)), pinned


def python_info() -> dict[str, str]:
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "executable": sys.executable}


def protobuf_backend() -> str | None:
    """upb, cpp or python: which protobuf implementation this interpreter uses (TensorFlow-free)."""
    try:
        from google.protobuf.internal import api_implementation
    except ImportError:
        return None
    return str(api_implementation.Type())


def odspec_requirements() -> list[str]:
    try:
        return list(metadata.requires("odspec") or [])
    except metadata.PackageNotFoundError:
        return []


def hint_versions(pinned: Mapping[str, str], repo: Path = REPO) -> dict[str, str]:
    """Versions for the fixes to name: the stack's pins, else odspec's declared ``==`` requirements.

    Markers are ignored for the declared ones: on Python 3.13 the OD API's
    requirement is switched off, yet its version is still the one to install.
    """
    declared = {canonical(name): version for name in (ODAPI,)
                if (version := declared_version(name, odspec_requirements() + _raw_pins(repo)))}
    return {**declared, **pinned}


def _raw_pins(repo: Path) -> list[str]:
    path = repo / STACKS[0].constraints
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


# --- gathering and showing -----------------------------------------------------------------------------------------

def run_probe(timeout: float = PROBE_TIMEOUT) -> tuple[dict[str, Any] | None, str | None]:
    """The probe's findings, or why there are none (the child's failure, with the tail of its output)."""
    from odspec.errors import RunError
    from odspec.odapi.probe import parse_output
    from odspec.runner.process import run_module

    try:
        done = run_module(PROBE_MODULE, [], timeout=timeout, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    except RunError as err:
        return None, str(err)
    found = parse_output(done.lines)
    return (found, None) if found is not None else (None, f"it printed no JSON line:\n{done.output[-2000:]}")


def diagnose(*, probe_timeout: float = PROBE_TIMEOUT) -> Report:
    """Gather everything, run the probe when TensorFlow is installed, and judge."""
    installed = installed_versions()
    packages = reported_packages(installed)
    stack = match_stack(packages["tensorflow"])
    pins, pinned = check_pins(stack, installed)
    probe, failure = run_probe(probe_timeout) if packages["tensorflow"] else (None, None)
    python = minor(platform.python_version()) or (0, 0)
    return Report(
        odspec=__version__, python=python_info(), packages=packages, protobuf_backend=protobuf_backend(),
        stack=stack, pins=pins, probe=probe,
        problems=tuple(find_problems(packages, python, hint_versions(pinned), probe, failure)),
        warnings=tuple(find_warnings(packages, stack, pins)),
    )


def format_report(report: Report) -> str:
    """The report as text, one fact per line: what a bug report should paste."""
    python = report.python
    lines = [f"odspec {report.odspec}",
             f"Python {python['version']} ({python['implementation']}) on {python['platform']}: {python['executable']}",
             "packages:"]
    width = max(map(len, report.packages))
    for name, version in report.packages.items():
        extra = f" (backend: {report.protobuf_backend})" if name == "protobuf" and report.protobuf_backend else ""
        lines.append(f"  {name:<{width}}  {version or 'not installed'}{extra}")
    lines += [f"tf.keras: {_keras_line(report.probe)}", f"stack: {report.stack.title if report.stack else 'none'}",
              f"pins: {_pins_line(report.pins)}"]
    lines += _probe_lines(report.probe)
    for title, findings in (("warning", report.warnings), ("problem", report.problems)):
        lines += [f"{title}: {finding}" for finding in findings]
    lines.append(f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}")
    return "\n".join(lines)


def _keras_line(probe: Mapping[str, Any] | None) -> str:
    if probe is None:
        return "unknown (no TensorFlow probe)"
    keras = probe.get("tf_keras_is")
    if not keras:
        return "unknown (TensorFlow did not import)"
    name = "tf-keras" if keras["module"] == "tf_keras" else keras["module"]
    generation = "Keras 3" if (minor(keras["version"]) or (0, 0)) >= (3, 0) else "Keras 2"
    return f"{name} {keras['version']} ({generation})"


def _pins_line(pins: Pins) -> str:
    if pins.status == "match":
        return f"all {pins.checked} installed packages pinned in {pins.file} match"
    if pins.status == "differ":
        return f"{len(pins.differ)} of {pins.checked} installed packages pinned in {pins.file} differ"
    if pins.status == "no stack":
        return "no tested stack to compare with"
    return f"{pins.status}" + (f" ({pins.note})" if pins.note else "")


def _probe_lines(probe: Mapping[str, Any] | None) -> list[str]:
    if probe is None:
        return ["shims: unknown (no TensorFlow probe)"]
    shims = probe.get("shims")
    lines = ["shims: unknown (they could not apply)" if shims is None else f"shims active: {len(shims)}"]
    lines += [f"  {shim['name']}: {shim['symptom']}" for shim in shims or ()]
    devices = probe.get("devices")
    if devices is not None:
        shown = ", ".join(f"{d['name']} ({d['type']})" for d in devices)
        lines.append(f"GPU/TPU devices: {shown or 'none visible to TensorFlow (CPU only)'}")
    build = probe.get("build_info")
    if build is not None:
        cuda = f"CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}" if build.get("is_cuda_build") \
            else "no CUDA"
        lines.append(f"TensorFlow build: {cuda}" + (", ROCm" if build.get("is_rocm_build") else ""))
    return lines
