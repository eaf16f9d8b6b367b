"""A Kubeflow TFJob (``kubeflow.org/v1``) that trains a spec on a Kubernetes cluster.

Replicas: ``Chief`` (it trains, writes the checkpoints, the run record and the metrics, evaluates every
checkpoint beside training and keeps the best) and ``Worker`` (runtime.workers - 1, left out at 0; they train
beside the chief); with ``runtime.evaluator: task`` one ``Evaluator`` too (it evaluates every checkpoint the
chief asks for, on at most one GPU, and the chief only trains). The training operator sets TF_CONFIG in the
container named ``tensorflow``, which every replica runs with the image.

Every pod mounts one PersistentVolumeClaim holding the project folder (spec, data, build, runs) at the mount
path: the chief writes the model directory there and the others read it, so the claim must be ReadWriteMany.

``restartPolicy: ExitCode`` by default: the operator restarts a pod whose container exited 128-255 (killed by
a signal: preempted, drained, out of memory; ``odspec run`` resumes from its last checkpoint) and fails the job
on 1-127, which is how odspec exits on an error that a restart cannot fix (2: the spec, the data, a failed run;
70: a bug). ``cleanPodPolicy: Running`` deletes the pods still running when the job ends (the job ends when the
chief does) and keeps finished ones for their logs.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from odspec.deploy.common import (
    Deployment,
    DeployOptions,
    check_quantity,
    check_volume_claim,
    container_path,
    gpus_per_worker,
    job_name,
    refuse_tpu,
    run_command,
    under,
)
from odspec.errors import DeployError, suggest
from odspec.spec.load import LoadedSpec

API_VERSION = "kubeflow.org/v1"
CONTAINER = "tensorflow"  # the training operator sets TF_CONFIG in the container of this name only
VOLUME = "workspace"
DEFAULT_MOUNT = "/workspace"
GPU_RESOURCE = "nvidia.com/gpu"
RESTART_POLICIES = ("ExitCode", "OnFailure", "Never", "Always")
CLEAN_POD_POLICIES = ("Running", "All", "None")


def tfjob(loaded: LoadedSpec, spec_in_project: PurePosixPath, options: DeployOptions,
          warnings: list[str]) -> Deployment:
    """The TFJob as plain data (``spec_in_project``: the spec's path inside the project folder)."""
    refuse_tpu(loaded, "the TFJob runs GPU or CPU machines under MultiWorkerMirroredStrategy; TPU pods are not "
                       "supported")
    name = job_name(loaded.spec.project, options.name)
    mount = container_path("--mount-path", options.mount_path or DEFAULT_MOUNT)
    model_dir = None if options.model_dir is None else container_path("--model-dir", options.model_dir)
    if model_dir is not None and not under(model_dir, (mount,)):
        raise DeployError(f"--model-dir {model_dir}: not on the volume every pod mounts at {mount} (the chief "
                          f"writes checkpoints there, the workers read them)",
                          f"put it under {mount}, e.g. --model-dir {mount / 'runs' / loaded.spec.project}")
    claim = check_volume_claim(options.volume_claim or f"{name}-workspace")
    restart = _choice("--restart-policy", options.restart_policy or "ExitCode", RESTART_POLICIES)
    clean = _choice("--clean-pod-policy", options.clean_pod_policy or "Running", CLEAN_POD_POLICIES)
    requests = {k: v for k, v in (("cpu", options.cpu and check_quantity("--cpu", options.cpu, "8")),
                                  ("memory", options.memory and check_quantity("--memory", options.memory, "32Gi")))
                if v}
    assert options.image is not None  # checked by check_common
    pod = _Pod(options.image, run_command(mount / spec_in_project, model_dir), mount, claim, requests)
    gpus, workers = gpus_per_worker(loaded, options), loaded.spec.runtime.workers
    replicas: dict[str, Any] = {"Chief": _replica(1, restart, pod.template(gpus))}
    if workers > 1:
        replicas["Worker"] = _replica(workers - 1, restart, pod.template(gpus))
    if loaded.spec.runtime.evaluator == "task":
        replicas["Evaluator"] = _replica(1, restart, pod.template(min(gpus, 1)))
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "TFJob",
        "metadata": {"name": name},
        "spec": {"runPolicy": {"cleanPodPolicy": clean}, "tfReplicaSpecs": replicas},
    }
    return Deployment("kubernetes", manifest, "tfjob.yaml", tuple(warnings))


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DeployError(f"{flag} {value}: expected {', '.join(choices[:-1])} or {choices[-1]}"
                          f"{suggest(value, choices)}", f"e.g. {flag} {choices[0]}")
    return value


def _replica(count: int, restart: str, template: dict[str, Any]) -> dict[str, Any]:
    return {"replicas": count, "restartPolicy": restart, "template": template}


class _Pod:
    """The pod template every replica shares; only the GPU count differs."""

    def __init__(self, image: str, command: list[str], mount: PurePosixPath, claim: str,
                 requests: dict[str, str]) -> None:
        self.image, self.command, self.mount, self.claim, self.requests = image, command, mount, claim, requests

    def template(self, gpus: int) -> dict[str, Any]:
        resources: dict[str, Any] = {}
        if self.requests:
            resources["requests"] = dict(self.requests)
        if gpus:  # an extended resource: limits only (requests default to them)
            resources["limits"] = {GPU_RESOURCE: gpus}
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": self.image,
            "command": self.command[:1],
            "args": self.command[1:],
            "workingDir": str(self.mount),
            "volumeMounts": [{"name": VOLUME, "mountPath": str(self.mount)}],
        }
        if resources:
            container["resources"] = resources
        return {"spec": {"containers": [container],
                         "volumes": [{"name": VOLUME, "persistentVolumeClaim": {"claimName": self.claim}}]}}
