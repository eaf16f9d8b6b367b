"""The body of a Vertex AI CustomJob (``projects.locations.customJobs.create``) that trains a spec.

Worker pools by position, as Vertex AI reads them: 0 the chief (one replica; it also evaluates every
checkpoint and keeps the best, unless an evaluator does), 1 the workers (runtime.workers - 1), 2 the parameter
servers, left empty (MultiWorkerMirroredStrategy has none), and 3, with ``runtime.evaluator: task``, one
evaluator (at most one GPU) that evaluates every checkpoint the chief asks for. Vertex AI sets TF_CONFIG in every
container.

Every task must see the project folder (spec, data, build, runs) at the same path: Cloud Storage FUSE mounts each
bucket the job may read at ``/gcs/<bucket>``, and an NFS mount lands under ``/mnt/nfs/``. The chief writes the
model directory there and the others read it, so ``--mount-path`` (and ``--model-dir``) must be on one of them.

With several workers, ``scheduling.restartJobOnWorkerRestart`` is on: MultiWorkerMirroredStrategy cannot take a
worker back mid-step, so a restarted worker restarts the job, and ``odspec run`` resumes from the last checkpoint.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from odspec.deploy.common import (
    Deployment,
    DeployOptions,
    container_path,
    gpus_per_worker,
    refuse_tpu,
    run_command,
    under,
)
from odspec.errors import DeployError, suggest
from odspec.spec.load import LoadedSpec

SHARED_ROOTS = (PurePosixPath("/gcs"), PurePosixPath("/mnt/nfs"))
SHARED_HINT = "Cloud Storage FUSE (/gcs/BUCKET/...) or an NFS mount (/mnt/nfs/...)"
DEFAULT_MACHINE = "n1-standard-8"
DEFAULT_GPU = "NVIDIA_TESLA_T4"
# The GPUs of google.cloud.aiplatform.v1.AcceleratorType (K80 is deprecated there; TPUs are refused before)
GPU_TYPES = ("NVIDIA_TESLA_P100", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_T4", "NVIDIA_TESLA_A100",
             "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB")
CHIEF, WORKERS, PARAMETER_SERVERS, EVALUATOR = range(4)


def custom_job(loaded: LoadedSpec, spec_in_project: PurePosixPath, options: DeployOptions,
               warnings: list[str]) -> Deployment:
    """The CustomJob as plain data (``spec_in_project``: the spec's path inside the project folder)."""
    refuse_tpu(loaded, "the Vertex AI job odspec writes has GPU or CPU worker pools under "
                       "MultiWorkerMirroredStrategy; a Cloud TPU pool (machineType cloud-tpu, or a TPU VM type with "
                       "tpuTopology) is not generated")
    if options.name is not None:
        raise DeployError("--name applies to --target kubernetes only (a Vertex AI job is named by the project)",
                          "drop --name")
    if options.mount_path is None:
        raise DeployError("--mount-path is required with --target vertex: where every task sees the project folder",
                          f"e.g. --mount-path /gcs/my-bucket/{loaded.spec.project}, the project folder copied to a "
                          f"Cloud Storage bucket")
    mount = _shared("--mount-path", options.mount_path)
    model_dir = None if options.model_dir is None else _shared("--model-dir", options.model_dir)
    accelerator = options.accelerator_type or DEFAULT_GPU
    if accelerator not in GPU_TYPES:
        raise DeployError(f"--accelerator-type {accelerator}: not a Vertex AI GPU type"
                          f"{suggest(accelerator, GPU_TYPES)}",
                          f"one of {', '.join(GPU_TYPES)}")
    if options.accelerator_type is not None and loaded.spec.runtime.accelerator != "gpu":
        raise DeployError(f"--accelerator-type {accelerator}: the spec's runtime.accelerator is "
                          f"{loaded.spec.runtime.accelerator}, so no task gets a GPU",
                          "drop --accelerator-type, or set runtime.accelerator: gpu")
    assert options.image is not None  # checked by check_common
    container = {"imageUri": options.image, **_command(run_command(mount / spec_in_project, model_dir))}
    machine = options.machine_type or DEFAULT_MACHINE

    def pool(count: int, gpus: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"machineType": machine}
        if gpus:
            spec |= {"acceleratorType": accelerator, "acceleratorCount": gpus}
        return {"machineSpec": spec, "replicaCount": count, "containerSpec": dict(container)}

    workers = loaded.spec.runtime.workers
    pools: list[dict[str, Any]] = [pool(1, gpus_per_worker(loaded, options))]
    if workers > 1:
        pools.append(pool(workers - 1, gpus_per_worker(loaded, options)))
    if loaded.spec.runtime.evaluator == "task":  # pools go by position: an empty one holds the place of pool 2
        pools += [{}, pool(1, min(gpus_per_worker(loaded, options), 1))]
    job_spec: dict[str, Any] = {"workerPoolSpecs": pools}
    if workers > 1:
        job_spec["scheduling"] = {"restartJobOnWorkerRestart": True}
    return Deployment("vertex", {"displayName": loaded.spec.project, "jobSpec": job_spec}, "vertex-job.json",
                      tuple(warnings))


def _shared(flag: str, value: str) -> PurePosixPath:
    path = container_path(flag, value)
    if not under(path, SHARED_ROOTS) or path in SHARED_ROOTS:
        raise DeployError(f"{flag} {value}: not on storage every Vertex AI task sees (the chief writes the model "
                          f"directory, the workers read it)", f"use {SHARED_HINT}")
    return path


def _command(command: list[str]) -> dict[str, list[str]]:
    return {"command": command[:1], "args": command[1:]}
