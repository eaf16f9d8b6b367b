"""The command line, as a user runs it: exit codes, messages on stderr, and fast paths free of TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import REPO, imported_modules, minimal_spec, write_spec


def odspec(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odspec.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_validate_reports_problems_once_and_exits_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec("ssd_mobilenet_v2_fpnlite_320", train={"batch_size": -4}))
    result = odspec("validate", str(spec))
    assert result.returncode == 2
    assert result.stdout == ""
    line = spec.read_text().splitlines().index("  batch_size: -4") + 1
    assert result.stderr == f"error: {spec}:{line}:15: train.batch_size: expected a positive integer, got -4 (e.g. batch_size: 8)\n"
    assert not (tmp_path / "build").exists()


def test_build_then_validate_ok(tmp_path: Path) -> None:
    from odspec.datasets.synthetic import make_shapes

    make_shapes(tmp_path / "data", 12, size=(96, 96), seed=5)
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["circle", "square"])
    spec_dict["dataset"].update(images="data/images", annotations="data/annotations")
    spec = write_spec(tmp_path, spec_dict)
    built = odspec("build", str(spec))
    assert built.returncode == 0, built.stderr
    assert f"created  {tmp_path / 'build' / 'test' / 'pipeline.config'}" in built.stdout
    assert "class     train  val  test  total" in built.stdout
    again = odspec("build", str(spec))
    assert again.stdout.strip() == "unchanged  10 files (nothing changed)"  # 9 outputs and the lock file
    checked = odspec("validate", str(spec))
    assert checked.stdout == f"{spec}: ok (SSD MobileNet V2 FPNLite 320x320, 2 classes)\n"


def test_version_prints_the_version_alone() -> None:
    from odspec import __version__

    result = odspec("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{__version__}\n", "")


def test_models_lists_every_family() -> None:
    result = odspec("models", "--json")
    rows = json.loads(result.stdout)
    assert {r["family"] for r in rows} == {"ssd", "faster_rcnn", "center_net"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["ssd_mobilenet_v2_fpnlite_320"]["tflite"] == "yes"
    assert by_name["faster_rcnn_resnet50_v1_640"]["tflite"] == "no"
    table = odspec("models").stdout.splitlines()
    assert table[0].split() == ["ARCHITECTURE", "FAMILY", "INPUT", "SPEED", "COCO", "mAP", "TFLITE"]
    assert len(table) == len(rows) + 1


def test_schema_is_json_schema_of_the_spec() -> None:
    schema = json.loads(odspec("schema").stdout)
    assert schema["title"] == "odspec project spec"
    assert set(schema["required"]) == {"project", "dataset", "model"}
    assert schema["additionalProperties"] is False


def test_help_validate_and_build_never_import_tensorflow_nor_optuna(tmp_path: Path) -> None:
    tune = {"space": {"train.batch_size": {"choices": [4, 8]}, "train.learning_rate.base": {"low": 0.01, "high": 0.1}},
            "pruner": "median"}
    spec = write_spec(tmp_path, minimal_spec("efficientdet_d0", train={"learning_rate": {"type": "cosine", "base": 0.04}},
                                             tune=tune))
    for args in (["--help"], ["--version"], ["doctor", "--help"], ["validate", str(spec)], ["build", str(spec)],
                 ["validate", str(spec), "--data"], ["validate", str(spec), "--data", "--json"],
                 ["models"], ["plan", str(spec)], ["plan", str(spec), "--format", "json"], ["deploy", "--help"], ["tune", "--help"],
                 ["deploy", str(spec), "--target", "kubernetes", "--image", "i", "--to", str(tmp_path / "job.yaml")],
                 ["deploy", str(spec), "--target", "vertex", "--image", "i", "--mount-path", "/gcs/b/p", "--to", "-"]):
        modules = imported_modules(*args)
        assert "odspec" in modules and "typer" in modules
        assert not any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules), args
        assert not any(m == "optuna" or m.startswith("optuna.") for m in modules), args


def test_deploy_writes_the_manifest_and_prints_its_path(tmp_path: Path) -> None:
    import yaml

    spec = write_spec(tmp_path, minimal_spec("ssd_mobilenet_v2_fpnlite_320", runtime={"workers": 2, "replicas": 2},
                                             dataset={"shards": 2}))
    written = odspec("deploy", str(spec), "--target", "kubernetes", "--image", "registry.example/odspec:1")
    target = tmp_path / "build" / "test" / "deploy" / "tfjob.yaml"
    assert (written.returncode, written.stdout, written.stderr) == (0, f"{target}\n", "")
    job = yaml.safe_load(target.read_text())
    assert job["kind"] == "TFJob" and job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 1
    shown = odspec("deploy", str(spec), "--target", "kubernetes", "--image", "registry.example/odspec:1", "--to", "-")
    assert shown.returncode == 0 and shown.stdout == target.read_text()
    vertex = odspec("deploy", str(spec), "--target", "vertex", "--image", "i", "--mount-path", "/gcs/b/test",
                    "--gpus-per-worker", "3", "--to", "-")
    assert vertex.returncode == 0
    assert json.loads(vertex.stdout)["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["acceleratorCount"] == 3
    assert vertex.stderr == "warning: --gpus-per-worker 3: each worker trains on runtime.replicas = 2 GPUs, so 1 GPU stays idle on each machine (set runtime.replicas: 3 in the spec to use them)\n"
    refused = odspec("deploy", str(spec), "--target", "vertex")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.startswith("error: --image is required: ")


def shapes_project(tmp_path: Path) -> Path:
    from odspec.datasets.synthetic import make_shapes

    make_shapes(tmp_path / "data", 12, size=(96, 96), seed=5)
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["circle", "square"], train={"steps": 20})
    spec_dict["dataset"].update(images="data/images", annotations="data/annotations")
    return write_spec(tmp_path, spec_dict)


def test_status_of_a_new_project_needs_no_tensorflow(tmp_path: Path) -> None:
    spec = shapes_project(tmp_path)
    assert odspec("build", str(spec)).returncode == 0
    shown = odspec("status", str(spec))
    assert shown.returncode == 0, shown.stderr
    assert f"model directory: {tmp_path / 'runs' / 'test'} (not created yet)" in shown.stdout
    assert "steps: 0 of 20" in shown.stdout and "starts training here" in shown.stdout
    data = json.loads(odspec("status", str(spec), "--json").stdout)
    assert data["verdict"] == "new" and data["num_steps"] == 20 and data["evaluations"] == []
    modules = imported_modules("status", str(spec))
    assert not any(m == "tensorflow" or m.startswith("tensorflow.") for m in modules)


def test_run_refuses_checkpoints_nobody_recorded_before_training(tmp_path: Path) -> None:
    spec = shapes_project(tmp_path)
    model_dir = tmp_path / "runs" / "test"
    model_dir.mkdir(parents=True)
    (model_dir / "ckpt-3.index").write_bytes(b"")
    (model_dir / "ckpt-3.data-00000-of-00001").write_bytes(b"")
    (model_dir / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    result = odspec("run", str(spec), "--output", "plain")
    assert result.returncode == 2
    assert "refusing to resume" in result.stderr and "odspec-run.json" in result.stderr and "--restart" in result.stderr
    assert sorted(p.name for p in model_dir.iterdir()) == ["checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index"]


def test_export_and_predict_say_what_to_do_first(tmp_path: Path) -> None:
    spec = shapes_project(tmp_path)
    exported = odspec("export", str(spec))
    assert exported.returncode == 2 and "no run here to export" in exported.stderr and "odspec run" in exported.stderr
    image = next((tmp_path / "data" / "images").iterdir())
    predicted = odspec("predict", str(spec), str(image))
    assert predicted.returncode == 2 and "no export yet" in predicted.stderr
    bad = odspec("run", str(spec), "--output", "fancy")
    assert bad.returncode == 2 and "expected live, plain or json" in bad.stderr
