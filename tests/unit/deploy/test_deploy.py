"""`odspec deploy`'s manifests, validated against the TFJob CRD and the Vertex AI API's fields; every refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from support import REPO, minimal_spec, write_spec

from odspec import api
from odspec.deploy import DeployOptions
from odspec.deploy.common import job_name
from odspec.errors import DeployError

SCHEMAS = REPO / "tests" / "data" / "schemas"


def closed(node: Any) -> Any:
    """The CRD schema with every object that lists its properties closed (kubectl --validate=strict)."""
    if isinstance(node, list):
        return [closed(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: closed(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


TFJOB_SCHEMA = closed(yaml.safe_load((SCHEMAS / "tfjob-openapi-v3.yaml").read_text()))
VERTEX_SCHEMA = json.loads((SCHEMAS / "vertex-custom-job.schema.json").read_text())


def project(tmp_path: Path, **runtime: Any) -> Path:
    runtime = {"accelerator": "gpu", "replicas": 1, "workers": 1, **runtime}
    batch = 4 * runtime["replicas"] * runtime["workers"]
    return write_spec(tmp_path, minimal_spec("ssd_mobilenet_v2_fpnlite_320", runtime=runtime, train={"batch_size": batch},
                                             dataset={"shards": runtime["workers"]}))


def deploy(spec: Path, target: str = "kubernetes", **options: Any) -> api.DeployResult:
    options.setdefault("image", "registry.example/odspec:0.1.0")
    return api.deploy(spec, DeployOptions(target, **options), write=False)


def tfjob(spec: Path, **options: Any) -> dict[str, Any]:
    manifest = deploy(spec, **options).deployment.manifest
    jsonschema.validate(manifest, TFJOB_SCHEMA)
    check_pods(manifest)
    return manifest


def check_pods(manifest: dict[str, Any]) -> None:
    """What the CRD cannot say: the container TFJob needs, the GPU key, mounts that name a volume, the command."""
    for kind, replica in manifest["spec"]["tfReplicaSpecs"].items():
        assert kind in {"Chief", "Worker", "Evaluator"} and replica["replicas"] >= 1
        pod = replica["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == "tensorflow"
        assert container["command"] == ["odspec"] and container["args"][:1] == ["run"]
        assert container["args"][2:4] == ["--output", "plain"]
        assert set(container.get("resources", {}).get("limits", {})) <= {"nvidia.com/gpu"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for mount in container["volumeMounts"]:
            assert "persistentVolumeClaim" in volumes[mount["name"]]
            assert container["args"][1].startswith(mount["mountPath"] + "/")


def gpus(replica: dict[str, Any]) -> int | None:
    limits = replica["template"]["spec"]["containers"][0].get("resources", {}).get("limits", {})
    return limits.get("nvidia.com/gpu")


def vertex(spec: Path, **options: Any) -> dict[str, Any]:
    options.setdefault("mount_path", "/gcs/bucket/pets")
    manifest = deploy(spec, "vertex", **options).deployment.manifest
    jsonschema.validate(manifest, VERTEX_SCHEMA)
    return manifest


def test_one_gpu_worker_is_a_chief_alone(tmp_path: Path) -> None:
    manifest = tfjob(project(tmp_path))
    assert manifest["apiVersion"] == "kubeflow.org/v1" and manifest["kind"] == "TFJob"
    assert manifest["metadata"] == {"name": "test"}
    assert manifest["spec"]["runPolicy"] == {"cleanPodPolicy": "Running"}
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief"]  # it evaluates beside training (runtime.evaluator: chief, the default)
    assert replicas["Chief"]["replicas"] == 1 and replicas["Chief"]["restartPolicy"] == "ExitCode"
    assert gpus(replicas["Chief"]) == 1
    container = replicas["Chief"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["run", "/workspace/spec.yaml", "--output", "plain"]
    assert replicas["Chief"]["template"]["spec"]["volumes"] == [{"name": "workspace", "persistentVolumeClaim": {"claimName": "test-workspace"}}]


def test_three_workers_of_two_gpus(tmp_path: Path) -> None:
    manifest = tfjob(project(tmp_path, replicas=2, workers=3), cpu="8", memory="32Gi",
                     model_dir="/workspace/runs/big", volume_claim="shared")
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief", "Worker"] and replicas["Worker"]["replicas"] == 2
    assert gpus(replicas["Chief"]) == 2 and gpus(replicas["Worker"]) == 2
    container = replicas["Worker"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "8", "memory": "32Gi"}, "limits": {"nvidia.com/gpu": 2}}
    assert container["args"] == ["run", "/workspace/spec.yaml", "--output", "plain", "--model-dir", "/workspace/runs/big"]


def test_cpu_workers_ask_for_no_gpu(tmp_path: Path) -> None:
    manifest = tfjob(project(tmp_path, accelerator="cpu", workers=2))
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief", "Worker"]
    assert [gpus(r) for r in replicas.values()] == [None, None]


def test_an_evaluator_task_is_one_evaluator_replica_on_at_most_one_gpu(tmp_path: Path) -> None:
    manifest = tfjob(project(tmp_path, replicas=2, workers=2, evaluator="task"))
    replicas = manifest["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief", "Worker", "Evaluator"]
    assert replicas["Evaluator"]["replicas"] == 1 and replicas["Evaluator"]["restartPolicy"] == "ExitCode"
    assert [gpus(r) for r in replicas.values()] == [2, 2, 1]
    assert replicas["Evaluator"]["template"] == replicas["Chief"]["template"] | {"spec": replicas["Evaluator"]["template"]["spec"]}
    cpu = tfjob(project(tmp_path / "cpu", accelerator="cpu", workers=2, evaluator="task"))["spec"]["tfReplicaSpecs"]
    assert [gpus(r) for r in cpu.values()] == [None, None, None]


def test_vertex_evaluator_is_pool_3_after_an_empty_pool_2(tmp_path: Path) -> None:
    pools = vertex(project(tmp_path, replicas=2, workers=3, evaluator="task"))["jobSpec"]["workerPoolSpecs"]
    assert [p.get("replicaCount") for p in pools] == [1, 2, None, 1] and pools[2] == {}
    assert pools[3]["machineSpec"]["acceleratorCount"] == 1 and pools[3]["containerSpec"] == pools[0]["containerSpec"]


def test_vertex_pools_by_position(tmp_path: Path) -> None:
    pools = vertex(project(tmp_path))["jobSpec"]["workerPoolSpecs"]
    assert len(pools) == 1 and pools[0]["replicaCount"] == 1  # one machine: the chief, which also evaluates
    assert pools[0]["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    assert pools[0]["containerSpec"] == {"imageUri": "registry.example/odspec:0.1.0", "command": ["odspec"],
                                         "args": ["run", "/gcs/bucket/pets/spec.yaml", "--output", "plain"]}


def test_vertex_three_workers_restart_the_job_together(tmp_path: Path) -> None:
    job = vertex(project(tmp_path, replicas=2, workers=3), machine_type="a2-highgpu-2g",
                 accelerator_type="NVIDIA_TESLA_A100")
    assert job["displayName"] == "test"
    assert job["jobSpec"]["scheduling"] == {"restartJobOnWorkerRestart": True}
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert [p.get("replicaCount") for p in pools] == [1, 2]
    assert pools[1]["machineSpec"] == {"machineType": "a2-highgpu-2g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 2}


def test_vertex_cpu_workers(tmp_path: Path) -> None:
    job = vertex(project(tmp_path, accelerator="cpu", workers=2), model_dir="/gcs/bucket/runs")
    pools = job["jobSpec"]["workerPoolSpecs"]
    assert len(pools) == 2 and [p["machineSpec"] for p in pools] == [{"machineType": "n1-standard-8"}] * 2
    assert pools[1]["containerSpec"]["args"][-2:] == ["--model-dir", "/gcs/bucket/runs"]
    assert len(vertex(project(tmp_path / "one", accelerator="cpu"))["jobSpec"]["workerPoolSpecs"]) == 1


def test_the_schemas_catch_what_they_should(tmp_path: Path) -> None:
    manifest = tfjob(project(tmp_path))
    manifest["spec"]["tfReplicaSpec"] = manifest["spec"].pop("tfReplicaSpecs")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, TFJOB_SCHEMA)
    job = vertex(project(tmp_path / "v"))
    job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorType"] = "NVIDIA_T4"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(job, VERTEX_SCHEMA)


def test_same_input_same_bytes_and_default_path(tmp_path: Path) -> None:
    spec = project(tmp_path, workers=2)
    options = DeployOptions("kubernetes", image="registry.example/odspec:0.1.0")
    first = api.deploy(spec, options)
    assert first.path == tmp_path / "build" / "test" / "deploy" / "tfjob.yaml"
    assert first.path.read_bytes() == first.content == api.deploy(spec, options, write=False).content
    assert first.content.startswith(b"# A Kubeflow TFJob written by `odspec deploy` from spec.yaml; submit it with\n")
    assert yaml.safe_load(first.content) == first.deployment.manifest
    target = tmp_path / "out" / "job.json"
    written = api.deploy(spec, DeployOptions("vertex", image="i", mount_path="/gcs/b/p"), output=target)
    assert written.path == target and json.loads(target.read_text()) == written.deployment.manifest


@pytest.mark.parametrize(("project_name", "expected"), [
    ("pets", "pets"), ("My_Pets.v2", "my-pets-v2-"), ("2024", "odspec-2024-"), ("a" * 100, "a" * 43 + "-")])
def test_job_names_are_dns_labels(project_name: str, expected: str) -> None:
    name = job_name(project_name, None)
    assert name.startswith(expected) and len(name) <= 50
    assert len(name) == len(expected) + (6 if expected.endswith("-") else 0)


def test_gpus_beyond_the_replicas_warn(tmp_path: Path) -> None:
    result = deploy(project(tmp_path, replicas=2), gpus_per_worker=4)
    assert result.deployment.warnings == ("--gpus-per-worker 4: each worker trains on runtime.replicas = 2 GPUs, so 2 GPUs stay idle on each machine (set runtime.replicas: 4 in the spec to use them)",)


def refusal(spec: Path, target: str = "kubernetes", **options: Any) -> str:
    with pytest.raises(DeployError) as caught:
        deploy(spec, target, **options)
    return str(caught.value)


def test_refusals(tmp_path: Path) -> None:
    spec = project(tmp_path, replicas=2)
    assert refusal(spec, image=None) == "--image is required: the container image every task runs `odspec run` in (e.g. --image us-docker.pkg.dev/my-project/odspec/odspec:0.1.0, an image with odspec and its TensorFlow stack installed)"
    assert refusal(spec, "k8s") == "--target k8s: expected kubernetes or vertex (e.g. --target kubernetes (a Kubeflow TFJob) or --target vertex (a Vertex AI CustomJob))"
    assert refusal(spec, gpus_per_worker=1) == "--gpus-per-worker 1: each worker trains on runtime.replicas = 2 GPUs, so it needs at least 2 (give --gpus-per-worker 2, or set runtime.replicas: 1 in the spec (the global batch is split over workers x replicas))"
    assert refusal(spec, machine_type="n1-standard-4") == "--machine-type applies to --target vertex only (drop --machine-type, or choose that target)"
    assert refusal(spec, "vertex", volume_claim="x") == "--volume-claim applies to --target kubernetes only (drop --volume-claim, or choose that target)"
    assert refusal(spec, "vertex") == "--mount-path is required with --target vertex: where every task sees the project folder (e.g. --mount-path /gcs/my-bucket/test, the project folder copied to a Cloud Storage bucket)"
    assert refusal(spec, "vertex", mount_path="/data/p") == "--mount-path /data/p: not on storage every Vertex AI task sees (the chief writes the model directory, the workers read it) (use Cloud Storage FUSE (/gcs/BUCKET/...) or an NFS mount (/mnt/nfs/...))"
    assert refusal(spec, "vertex", mount_path="/gcs/b", accelerator_type="T4") == "--accelerator-type T4: not a Vertex AI GPU type, did you mean 'NVIDIA_TESLA_T4'? (one of NVIDIA_TESLA_P100, NVIDIA_TESLA_V100, NVIDIA_TESLA_P4, NVIDIA_TESLA_T4, NVIDIA_TESLA_A100, NVIDIA_A100_80GB, NVIDIA_L4, NVIDIA_H100_80GB)"
    assert refusal(spec, model_dir="/tmp/runs") == "--model-dir /tmp/runs: not on the volume every pod mounts at /workspace (the chief writes checkpoints there, the workers read them) (put it under /workspace, e.g. --model-dir /workspace/runs/test)"
    assert refusal(spec, mount_path="workspace") == "--mount-path workspace: expected an absolute path inside the container, without '..' (e.g. --mount-path /workspace)"
    assert refusal(spec, name="Pets") == "--name Pets: expected a DNS-1035 label of at most 50 characters (lowercase letters, digits and '-', starting with a letter and not ending with '-') (e.g. --name pets-train)"
    assert refusal(spec, memory="32GB") == "--memory 32GB: not a Kubernetes quantity (e.g. --memory 32Gi)"
    assert refusal(spec, restart_policy="onfailure") == "--restart-policy onfailure: expected ExitCode, OnFailure, Never or Always, did you mean 'OnFailure'? (e.g. --restart-policy ExitCode)"


def test_refusals_about_the_spec(tmp_path: Path) -> None:
    cpu = project(tmp_path / "cpu", accelerator="cpu")
    assert refusal(cpu, gpus_per_worker=1) == "--gpus-per-worker 1: the spec's runtime.accelerator is cpu, so no task gets a GPU (drop --gpus-per-worker, or set runtime.accelerator: gpu)"
    tpu = project(tmp_path / "tpu", accelerator="tpu")
    line = tpu.read_text().splitlines().index("  accelerator: tpu") + 1
    assert refusal(tpu) == f"{tpu}:{line}:16: runtime.accelerator: tpu: the TFJob runs GPU or CPU machines under MultiWorkerMirroredStrategy; TPU pods are not supported (set runtime.accelerator: gpu (or cpu), or write the TPU job by hand)"
    assert refusal(tpu, "vertex", mount_path="/gcs/b") == f"{tpu}:{line}:16: runtime.accelerator: tpu: the Vertex AI job odspec writes has GPU or CPU worker pools under MultiWorkerMirroredStrategy; a Cloud TPU pool (machineType cloud-tpu, or a TPU VM type with tpuTopology) is not generated (set runtime.accelerator: gpu (or cpu), or write the TPU job by hand)"


def test_data_outside_the_project_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "annotations").mkdir()
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320")
    spec_dict["dataset"].update(images="../data/images", annotations="../data/annotations")
    (tmp_path / "specs").mkdir()
    spec = write_spec(tmp_path / "specs", spec_dict)
    line = spec.read_text().splitlines().index("  images: ../data/images") + 1
    assert refusal(spec) == f"{spec}:{line}:11: dataset.images: {tmp_path / 'data' / 'images'} is outside the project folder {tmp_path / 'specs'}, which the tasks see at /workspace, so they cannot read it (move it into the project folder, or give --project-root a folder that holds both the spec and its data)"
    result = api.deploy(spec, DeployOptions("kubernetes", image="i"), project_root=tmp_path, write=False)
    assert result.deployment.manifest["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]["args"][1] == "/workspace/specs/spec.yaml"
    with pytest.raises(DeployError) as caught:
        api.deploy(spec, DeployOptions("kubernetes", image="i"), project_root=tmp_path / "data", write=False)
    assert str(caught.value) == f"{spec}: not inside the project folder {tmp_path / 'data'} (give --project-root a folder that holds the spec and its data)"
