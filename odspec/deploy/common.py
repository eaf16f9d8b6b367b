"""What both deploy targets share: the options, the checks every manifest needs, and the command each task runs.

Pure: paths are compared as given (the API resolves them first), nothing is read or written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from odspec.errors import DeployError, suggest
from odspec.spec.load import LoadedSpec

Target = Literal["kubernetes", "vertex"]
TARGETS: tuple[Target, ...] = ("kubernetes", "vertex")
MANIFEST_NAMES: dict[Target, str] = {"kubernetes": "tfjob.yaml", "vertex": "vertex-job.json"}

# A TFJob's name becomes its Services' names, "<name>-evaluator-0" or "<name>-worker-<i>": DNS-1035 labels of at
# most 63 characters (the training operator's webhook refuses other names), so 50 leaves room for the suffix.
MAX_JOB_NAME = 50
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Kubernetes' resource.Quantity, as the TFJob CRD's schema writes it (without a sign: requests are positive)
_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
_QUANTITY = re.compile(rf"{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_NUMBER}))?")


@dataclass(frozen=True)
class DeployOptions:
    """``odspec deploy``'s flags; None means "not given" (so a flag of the other target can be refused)."""

    target: str
    image: str | None = None
    gpus_per_worker: int | None = None
    name: str | None = None
    mount_path: str | None = None  # the project folder's path inside every container
    model_dir: str | None = None  # a path inside the container; default: odspec run's (runs/<project> beside the spec)
    # kubernetes
    volume_claim: str | None = None
    cpu: str | None = None
    memory: str | None = None
    restart_policy: str | None = None
    clean_pod_policy: str | None = None
    # vertex
    machine_type: str | None = None
    accelerator_type: str | None = None


KUBERNETES_ONLY = {"volume_claim": "--volume-claim", "cpu": "--cpu", "memory": "--memory",
                   "restart_policy": "--restart-policy", "clean_pod_policy": "--clean-pod-policy"}
VERTEX_ONLY = {"machine_type": "--machine-type", "accelerator_type": "--accelerator-type"}


@dataclass(frozen=True)
class Deployment:
    """A manifest as plain data, what it is called, and what the user should know about it."""

    target: Target
    manifest: dict[str, Any]
    filename: str
    warnings: tuple[str, ...] = ()
    source: str = ""  # the spec's path inside the project folder, for the YAML's header


def check_target(target: str) -> Target:
    for known in TARGETS:
        if target == known:
            return known
    raise DeployError(f"--target {target}: expected kubernetes or vertex{suggest(target, TARGETS)}",
                      "e.g. --target kubernetes (a Kubeflow TFJob) or --target vertex (a Vertex AI CustomJob)")


def check_common(loaded: LoadedSpec, options: DeployOptions, target: Target) -> list[str]:
    """Refusals both targets share; returns the warnings."""
    other = VERTEX_ONLY if target == "kubernetes" else KUBERNETES_ONLY
    for field, flag in other.items():
        if getattr(options, field) is not None:
            raise DeployError(f"{flag} applies to --target {'vertex' if target == 'kubernetes' else 'kubernetes'} "
                              f"only", f"drop {flag}, or choose that target")
    image = options.image
    if not image:
        raise DeployError("--image is required: the container image every task runs `odspec run` in",
                          "e.g. --image us-docker.pkg.dev/my-project/odspec/odspec:0.1.0, an image with odspec "
                          "and its TensorFlow stack installed")
    if any(c.isspace() for c in image):
        raise DeployError(f"--image {image!r}: an image reference has no spaces",
                          "e.g. --image us-docker.pkg.dev/my-project/odspec/odspec:0.1.0")
    return check_gpus(loaded, options)


def check_gpus(loaded: LoadedSpec, options: DeployOptions) -> list[str]:
    runtime, gpus = loaded.spec.runtime, options.gpus_per_worker
    if gpus is None:
        return []
    if runtime.accelerator != "gpu":
        raise DeployError(f"--gpus-per-worker {gpus}: the spec's runtime.accelerator is {runtime.accelerator}, "
                          f"so no task gets a GPU", "drop --gpus-per-worker, or set runtime.accelerator: gpu")
    if gpus < runtime.replicas:
        raise DeployError(f"--gpus-per-worker {gpus}: each worker trains on runtime.replicas = {runtime.replicas} "
                          f"GPUs, so it needs at least {runtime.replicas}",
                          f"give --gpus-per-worker {runtime.replicas}, or set runtime.replicas: {gpus} in the spec "
                          f"(the global batch is split over workers x replicas)")
    if gpus > runtime.replicas:
        idle = gpus - runtime.replicas
        return [f"--gpus-per-worker {gpus}: each worker trains on runtime.replicas = {runtime.replicas} GPUs, so "
                f"{idle} GPU{'s stay' if idle != 1 else ' stays'} idle on each machine "
                f"(set runtime.replicas: {gpus} in the spec to use them)"]
    return []


def refuse_tpu(loaded: LoadedSpec, message: str) -> None:
    if loaded.spec.runtime.accelerator == "tpu":
        problem = loaded.problem(("runtime", "accelerator"), f"tpu: {message}")
        raise DeployError(str(problem), "set runtime.accelerator: gpu (or cpu), or write the TPU job by hand")


def gpus_per_worker(loaded: LoadedSpec, options: DeployOptions) -> int:
    """GPUs of the chief and of each worker: ``--gpus-per-worker``, or runtime.replicas (0 off a GPU)."""
    runtime = loaded.spec.runtime
    if runtime.accelerator != "gpu":
        return 0
    return options.gpus_per_worker or runtime.replicas


def job_name(project: str, given: str | None) -> str:
    """``--name``, checked; or the project name as a DNS-1035 label (lowercase, '-' for others, hashed if changed)."""
    if given is not None:
        if len(given) > MAX_JOB_NAME or not _DNS1035.fullmatch(given):
            raise DeployError(f"--name {given}: expected a DNS-1035 label of at most {MAX_JOB_NAME} characters "
                              f"(lowercase letters, digits and '-', starting with a letter and not ending with '-')",
                              "e.g. --name pets-train")
        return given
    name = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", project.lower())).strip("-")
    if not name or not name[0].isalpha():
        name = f"odspec-{name}".rstrip("-")
    if name != project or len(name) > MAX_JOB_NAME:
        digest = hashlib.sha256(project.encode()).hexdigest()[:6]  # "My.Pets" and "my-pets" stay apart
        name = f"{name[:MAX_JOB_NAME - 7].rstrip('-')}-{digest}"
    return name


def check_volume_claim(claim: str) -> str:
    if len(claim) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(claim):
        raise DeployError(f"--volume-claim {claim}: expected a Kubernetes object name (lowercase letters, digits, "
                          f"'-' and '.', at most 253 characters)", "e.g. --volume-claim pets-workspace")
    return claim


def check_quantity(flag: str, value: str, example: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise DeployError(f"{flag} {value}: not a Kubernetes quantity", f"e.g. {flag} {example}")
    return value


def container_path(flag: str, value: str) -> PurePosixPath:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts:
        raise DeployError(f"{flag} {value}: expected an absolute path inside the container, without '..'",
                          f"e.g. {flag} /workspace")
    return path


def under(path: PurePosixPath, roots: tuple[PurePosixPath, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def project_relative(spec_file: Path, project_root: Path) -> PurePosixPath:
    """The spec's path inside the project folder (both resolved), which the tasks see at the mount path."""
    try:
        return PurePosixPath(spec_file.relative_to(project_root).as_posix())
    except ValueError:
        raise DeployError(f"{spec_file}: not inside the project folder {project_root}",
                          "give --project-root a folder that holds the spec and its data") from None


def outside_project(loaded: LoadedSpec, project_root: Path) -> Iterator[tuple[tuple[str | int, ...], Path]]:
    """Every path the spec reads that the tasks would not see: not inside the project folder (resolved)."""
    spec, root = loaded.spec, loaded.root
    dataset = spec.dataset
    named: list[tuple[tuple[str | int, ...], str | None]] = [
        (("dataset", "path"), dataset.path), (("dataset", "images"), dataset.images),
        (("dataset", "names"), dataset.names)]
    if isinstance(dataset.annotations, str):
        named.append((("dataset", "annotations"), dataset.annotations))
    elif dataset.annotations is not None:
        named += [(("dataset", "annotations", i), a) for i, a in enumerate(dataset.annotations)]
    if spec.model.pretrained is not None:
        named.append((("model", "pretrained", "checkpoint"), spec.model.pretrained.checkpoint))
    for loc, value in named:
        if value is None:
            continue
        path = (root / value).resolve()
        if path != project_root and project_root not in path.parents:
            yield loc, path


def check_inside_project(loaded: LoadedSpec, project_root: Path, mount: PurePosixPath) -> None:
    found = list(outside_project(loaded, project_root))
    if found:
        loc, path = found[0]
        problem = loaded.problem(loc, f"{path} is outside the project folder {project_root}, which the tasks see "
                                      f"at {mount}, so they cannot read it")
        raise DeployError(str(problem), "move it into the project folder, or give --project-root a folder that "
                                        "holds both the spec and its data")


def run_command(spec_in_container: PurePosixPath, model_dir: PurePosixPath | None) -> list[str]:
    """What every task runs; TF_CONFIG (set by the platform) tells each one its part."""
    command = ["odspec", "run", str(spec_in_container), "--output", "plain"]
    return command + (["--model-dir", str(model_dir)] if model_dir is not None else [])
