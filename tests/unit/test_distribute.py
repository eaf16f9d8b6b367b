"""odspec.distribute: which tf.distribute strategy a spec's runtime trains under, and how it is described."""

from __future__ import annotations

import json
from pathlib import Path, PurePath

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.distribute import ClusterTask, Distribution, cluster_task, distribution_of, too_few_devices
from odspec.errors import ClusterConfigError, OdspecError, SpecError
from odspec.runner.launcher import build_parser


@pytest.mark.parametrize(
    ("runtime", "kind"),
    [
        (("cpu", 1, 1), "default"),
        (("gpu", 1, 1), "default"),
        (("cpu", 2, 1), "mirrored"),
        (("gpu", 4, 1), "mirrored"),
        (("gpu", 1, 2), "multi_worker"),
        (("cpu", 2, 3), "multi_worker"),
        (("tpu", 1, 1), "tpu"),
        (("tpu", 8, 2), "tpu"),
    ],
)
def test_the_strategy_follows_accelerator_replicas_and_workers(runtime: tuple[str, int, int], kind: str) -> None:
    assert distribution_of(*runtime).kind == kind  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("runtime", "batch", "text"),
    [
        (("cpu", 1, 1), 4, "the default strategy on the CPU (batch 4)"),
        (("gpu", 1, 1), 8, "the default strategy on one GPU (batch 8)"),
        (("cpu", 2, 1), 8, "MirroredStrategy over 2 logical CPU devices: 2 replicas, global batch 8, 4 per replica"),
        (("gpu", 4, 1), 32, "MirroredStrategy over 4 GPUs: 4 replicas, global batch 32, 8 per replica"),
        (("gpu", 2, 3), 24,
         "MultiWorkerMirroredStrategy over 2 GPUs on each of 3 workers: 6 replicas, global batch 24, 4 per replica"),
        (("tpu", 1, 1), 64, "TPUStrategy on the TPU's cores (global batch 64, split over the TPU's replicas)"),
        (("cpu", 2, 1), None, "MirroredStrategy over 2 logical CPU devices: 2 replicas"),
    ],
)
def test_the_description_names_strategy_devices_and_the_batch_split(runtime: tuple[str, int, int], batch: int | None,
                                                                    text: str) -> None:
    assert distribution_of(*runtime).describe(batch) == text  # type: ignore[arg-type]


def test_only_a_split_cpu_asks_for_logical_devices() -> None:
    assert distribution_of("cpu", 3).logical_cpus == 3
    assert distribution_of("cpu", 1).logical_cpus == 0
    assert distribution_of("gpu", 3).logical_cpus == 0


def test_too_few_gpus_is_refused_with_the_count_found_but_one_missing_gpu_is_not() -> None:
    assert too_few_devices(distribution_of("gpu", 4), 2) == "runtime.replicas is 4, but TensorFlow sees 2 GPUs on " \
                                                           "this machine"
    assert too_few_devices(distribution_of("gpu", 2), 1) == "runtime.replicas is 2, but TensorFlow sees 1 GPU on " \
                                                           "this machine"
    assert too_few_devices(distribution_of("gpu", 2), 0) == "runtime.replicas is 2, but TensorFlow sees 0 GPUs on " \
                                                           "this machine"
    assert too_few_devices(distribution_of("gpu", 2), 2) is None
    assert too_few_devices(distribution_of("gpu", 1), 0) is None  # warned about, trains on the CPU
    assert too_few_devices(distribution_of("cpu", 4), 0) is None  # logical devices are made, not found


def test_the_launcher_parses_what_argv_spells() -> None:
    for distribution in (distribution_of("cpu", 2), distribution_of("gpu", 2, 3), distribution_of("tpu", 1)):
        args = build_parser().parse_args(["train", "--pipeline-config", "p", "--model-dir", "m", "--num-steps", "1",
                                          "--checkpoint-every", "1", "--keep", "1", *distribution.argv()])
        assert Distribution(args.strategy, args.accelerator, args.replicas, args.workers) == distribution


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_counts_must_be_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        Distribution("mirrored", "cpu", bad)  # type: ignore[arg-type]


def _two_workers(folder: Path, **runtime: object) -> Path:
    return write_spec(folder, minimal_spec("ssd_mobilenet_v2_fpnlite_320", runtime={"accelerator": "cpu",
                                                                                    "workers": 2, **runtime},
                                           train={"batch_size": 4}, dataset={"shards": 2}))


def _tf_config(workers: int = 2, kind: str = "worker", index: int = 0, chief: bool = False) -> str:
    cluster: dict[str, list[str]] = {"worker": [f"10.0.0.{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["10.0.0.9:2222"]
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


def test_several_workers_without_tf_config_are_refused_at_the_spec_line_before_building(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    spec = _two_workers(tmp_path)
    with pytest.raises(SpecError) as refused:
        api.run(spec, model_dir=tmp_path / "runs")
    line = spec.read_text().splitlines().index("  workers: 2") + 1
    assert str(refused.value) == (
        f"{spec}:{line}:12: runtime.workers: asks for 2 machines, but TF_CONFIG is not set, so this process has no "
        "cluster to train in (run odspec run on every machine with TF_CONFIG set (odspec deploy writes a Kubernetes "
        "or Vertex AI job that does), or set workers: 1 (runtime.replicas spreads training over this machine's "
        "devices))")
    assert not (tmp_path / "build").exists() and not (tmp_path / "runs").exists()


def test_a_cluster_of_another_size_is_refused_at_the_spec_line(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", _tf_config(workers=2, chief=True))
    spec = _two_workers(tmp_path)
    with pytest.raises(SpecError) as refused:
        api.run(spec, model_dir=tmp_path / "runs")
    assert "runtime.workers: is 2, but TF_CONFIG's cluster has 3 training tasks (chief and workers) (set " \
           "workers: 3, or start the cluster with 2 training tasks)" in str(refused.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        ("{", "TF_CONFIG is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ('{"cluster": {}}', 'TF_CONFIG needs "cluster" and "task" objects'),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 0}}',
         "TF_CONFIG lists parameter servers (ps); odspec trains with MultiWorkerMirroredStrategy, which has none"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "master", "index": 0}}',
         "TF_CONFIG's task type is 'master'; expected chief, worker or evaluator"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
         "TF_CONFIG's task is worker 2, but its cluster lists 2 worker addresses"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": -1}}',
         "TF_CONFIG's task index must be a non-negative integer, got -1"),
        ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
         'TF_CONFIG\'s cluster "worker" must be a list of "host:port" addresses'),
        ('{"cluster": {"evaluator": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
         "TF_CONFIG's task is chief 0, but its cluster lists 0 chief addresses"),
    ],
)
def test_a_tf_config_that_is_not_a_cluster_says_what_is_wrong(tf_config: str, expected: str) -> None:
    with pytest.raises(ClusterConfigError) as caught:
        cluster_task(tf_config)
    assert str(caught.value).startswith(expected)


def test_the_chief_is_the_chief_task_or_else_worker_0() -> None:
    assert cluster_task(None) is None and cluster_task("  ") is None
    first = cluster_task(_tf_config(3, index=0))
    assert first == ClusterTask("worker", 0, 3, False) and first.is_chief
    assert not cluster_task(_tf_config(3, index=2)).is_chief  # type: ignore[union-attr]
    with_chief = cluster_task(_tf_config(2, kind="chief", chief=True))
    assert with_chief is not None and with_chief.is_chief and with_chief.workers == 3
    worker0 = cluster_task(_tf_config(2, index=0, chief=True))
    assert worker0 is not None and not worker0.is_chief
    assert worker0.role() == "worker 0 of 3 workers: trains beside the chief"
    assert with_chief.role().startswith("chief 0, the chief of 3 workers: writes the checkpoints")


def test_an_evaluator_task_needs_the_spec_to_ask_for_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"], "evaluator": ["c:1"]},
                                                "task": {"type": "evaluator", "index": 0}}))
    with pytest.raises(SpecError) as refused:
        api.run(_two_workers(tmp_path), model_dir=tmp_path / "runs")
    assert "runtime.evaluator: is chief (the chief evaluates every checkpoint), but TF_CONFIG makes this process " \
           "the cluster's evaluator task" in str(refused.value)
    assert "set evaluator: task" in str(refused.value)


def test_the_evaluator_task_in_tf_config() -> None:
    listed = cluster_task(json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"], "evaluator": ["c:1"]},
                                      "task": {"type": "evaluator", "index": 0}}))
    assert listed == ClusterTask("evaluator", 0, 2, True) and not listed.is_chief
    assert listed.role().startswith("the evaluator of 2 workers: evaluates every checkpoint the chief asks for")
    alone = cluster_task(json.dumps({"cluster": {"evaluator": ["c:1"]}, "task": {"type": "evaluator"}}))
    assert alone == ClusterTask("evaluator", 0, 0, False)  # TensorFlow lets an evaluator's cluster list only it
    chief = cluster_task(json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"], "evaluator": ["c:1"]},
                                     "task": {"type": "chief", "index": 0}}))
    assert chief is not None and "has the evaluator task evaluate them" in chief.role(separate_evaluator=True)


def test_a_separate_evaluator_needs_several_workers(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec("ssd_mobilenet_v2_fpnlite_320",
                                             runtime={"accelerator": "cpu", "evaluator": "task"}))
    with pytest.raises(SpecError) as refused:
        api.validate(spec)
    assert "runtime.evaluator: a separate evaluator task is part of a cluster of several workers" in str(refused.value)


def test_a_bad_tf_config_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", "{")
    with pytest.raises(OdspecError) as refused:
        api.run(_two_workers(tmp_path), model_dir=tmp_path / "runs")
    assert str(refused.value).startswith("TF_CONFIG is not JSON (") and "unset it to train on one machine" in \
        str(refused.value)


def test_the_compiled_config_says_which_strategy_trains_it() -> None:
    from odspec.compile.context import Paths
    from odspec.compile.render import compile_spec
    from odspec.spec.models import Spec

    spec = Spec.model_validate(minimal_spec("ssd_mobilenet_v2_fpnlite_320", runtime={"accelerator": "gpu",
                                                                                     "replicas": 4},
                                            train={"batch_size": 32}))
    text = compile_spec(spec, Paths(PurePath("/build")))["pipeline.config"].decode()
    assert "# Trains under MirroredStrategy over 4 GPUs: 4 replicas, global batch 32, 8 per replica, as the spec's " \
           "runtime asks.\n" in text
