"""Which tf.distribute strategy a spec's ``runtime`` trains under. Pure: no TensorFlow.

The one place that turns ``runtime: {accelerator, replicas, workers}`` into a strategy: the compiled
config's header, ``odspec run``'s first lines and the launcher's ``--strategy`` arguments all describe what
:func:`distribution_of` returns. The launcher (:mod:`odspec.runner.launcher`) builds the
TensorFlow object from it, as ``model_main_tf2.py`` does:

- one device: TensorFlow's default strategy (what ``model_main_tf2`` gets from a one-device MirroredStrategy);
- ``replicas: N`` on one machine: ``MirroredStrategy`` over N GPUs, or over N logical devices split from the
  CPU (``accelerator: cpu``; a testing aid: it exercises the multi-replica path, it does not train faster);
- ``workers: M``: ``MultiWorkerMirroredStrategy``, each task started with a ``TF_CONFIG``;
- ``accelerator: tpu``: ``TPUStrategy`` on the TPU found by ``TPUClusterResolver``.

The global batch is ``train.batch_size``; each replica takes ``batch_size / total replicas`` of it (the OD
API's input function asks ``input_context.get_per_replica_batch_size``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from odspec.errors import ClusterConfigError

if TYPE_CHECKING:
    from odspec.spec.models import Runtime

Accelerator = Literal["cpu", "gpu", "tpu"]
StrategyKind = Literal["default", "mirrored", "multi_worker", "tpu"]
STRATEGY_NAMES: dict[StrategyKind, str] = {
    "default": "the default strategy",
    "mirrored": "MirroredStrategy",
    "multi_worker": "MultiWorkerMirroredStrategy",
    "tpu": "TPUStrategy",
}


@dataclass(frozen=True)
class Distribution:
    """How training is spread: the strategy, the device kind, devices per worker and workers."""

    kind: StrategyKind
    accelerator: Accelerator
    replicas: int  # devices per worker (one machine: all of them)
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("replicas", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def total_replicas(self) -> int:
        return self.replicas * self.workers

    @property
    def logical_cpus(self) -> int:
        """How many logical devices the launcher splits the CPU into (0: leave it whole)."""
        return self.replicas if self.accelerator == "cpu" and self.replicas > 1 else 0

    def devices(self) -> str:
        """The devices of one worker, as a user reads them: ``2 logical CPU devices``, ``4 GPUs``, ``one GPU``."""
        if self.kind == "tpu":
            return "the TPU's cores"
        kind = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU"}[self.accelerator]
        if self.replicas == 1:
            return f"one {kind}" if self.accelerator != "cpu" else "the CPU"
        if self.accelerator == "cpu":
            return f"{self.replicas} logical CPU devices"
        return f"{self.replicas} {kind}s"

    def describe(self, batch_size: int | None = None) -> str:
        """One line: the strategy, the devices and how the global batch (when given) splits over them."""
        name = STRATEGY_NAMES[self.kind]
        where = self.devices() + (f" on each of {self.workers} workers" if self.workers > 1 else "")
        if self.kind == "tpu":
            batch = f" (global batch {batch_size}, split over the TPU's replicas)" if batch_size else ""
            return f"{name} on {where}{batch}"
        if self.total_replicas == 1:
            return f"{name} on {where}" + (f" (batch {batch_size})" if batch_size else "")
        batch = f", global batch {batch_size}, {batch_size // self.total_replicas} per replica" if batch_size else ""
        return f"{name} over {where}: {self.total_replicas} replicas{batch}"

    def argv(self) -> list[str]:
        """The launcher's ``train`` options that select this distribution."""
        argv = ["--strategy", self.kind, "--accelerator", self.accelerator, "--replicas", str(self.replicas)]
        return argv + (["--workers", str(self.workers)] if self.workers > 1 else [])


def distribution_of(accelerator: Accelerator, replicas: int, workers: int = 1) -> Distribution:
    """The strategy ``runtime: {accelerator, replicas, workers}`` trains under (the one rule)."""
    kind: StrategyKind
    if accelerator == "tpu":
        kind = "tpu"
    elif workers > 1:
        kind = "multi_worker"
    elif replicas > 1:
        kind = "mirrored"
    else:
        kind = "default"
    return Distribution(kind, accelerator, replicas, workers)


def runtime_distribution(runtime: Runtime) -> Distribution:
    """The strategy a spec's ``runtime`` block trains under."""
    return distribution_of(runtime.accelerator, runtime.replicas, runtime.workers)


ONE_CPU = distribution_of("cpu", 1)  # what the launcher and its options assume when told nothing


def too_few_devices(distribution: Distribution, found: int) -> str | None:
    """Why this machine cannot train ``distribution`` when it sees ``found`` devices of its kind; None: it can.

    One GPU asked for and none visible is not refused here: the caller warns and TensorFlow trains on the CPU
    (``accelerator: gpu`` is the default, and a laptop without one should still run the example).
    """
    if distribution.accelerator != "gpu" or found >= distribution.replicas or distribution.replicas == 1:
        return None
    return (f"runtime.replicas is {distribution.replicas}, but TensorFlow sees {found} "
            f"GPU{'' if found == 1 else 's'} on this machine")


# --- the cluster a task is part of (TF_CONFIG) ---------------------------------------------------------------------

TaskKind = Literal["chief", "worker", "evaluator"]
TRAINING_TASKS = ("chief", "worker")


@dataclass(frozen=True)
class ClusterTask:
    """This process's part of a cluster, as ``TF_CONFIG`` says (what Kubeflow's TFJob and Vertex AI set).

    The chief is the ``chief`` task, or ``worker`` 0 when the cluster has no chief (TensorFlow's rule): it writes
    the checkpoints, the run record, the metrics and ``best/``; the other workers train beside it.
    """

    kind: TaskKind
    index: int
    workers: int  # tasks that train: chief and workers (0: an evaluator whose TF_CONFIG lists only itself)
    has_chief: bool

    @property
    def is_chief(self) -> bool:
        return self.kind == "chief" or (self.kind == "worker" and self.index == 0 and not self.has_chief)

    @property
    def name(self) -> str:
        return f"{self.kind} {self.index}"

    def role(self, separate_evaluator: bool = False) -> str:
        """What this task does, for ``odspec run``'s first lines (``runtime.evaluator: task``: a separate one)."""
        if self.kind == "evaluator":
            return (f"the evaluator of {self.workers} workers: evaluates every checkpoint the chief asks for, "
                    "until the chief's run ends")
        if self.is_chief:
            evaluates = "has the evaluator task evaluate them" if separate_evaluator else "evaluates them"
            return (f"{self.name}, the chief of {self.workers} workers: writes the checkpoints, {evaluates}, "
                    "keeps the best and exports it")
        return f"{self.name} of {self.workers} workers: trains beside the chief"


def cluster_task(tf_config: str | None) -> ClusterTask | None:
    """This task's place in the cluster ``tf_config`` (the ``TF_CONFIG`` value) describes; None: not set or empty.

    Raises ClusterConfigError for JSON that is not a TF_CONFIG, a task the cluster does not list, or a
    parameter-server cluster (MultiWorkerMirroredStrategy has no parameter servers).
    """
    import json

    if tf_config is None or not tf_config.strip():
        return None
    try:
        config = json.loads(tf_config)
    except ValueError as err:
        raise ClusterConfigError(f"TF_CONFIG is not JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or \
            not isinstance(config.get("task"), dict):
        raise ClusterConfigError('TF_CONFIG needs "cluster" and "task" objects, e.g. {"cluster": {"worker": '
                                 '["host0:2222", "host1:2222"]}, "task": {"type": "worker", "index": 0}}')
    cluster, task = config["cluster"], config["task"]
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and a for a in addresses):
            raise ClusterConfigError(f'TF_CONFIG\'s cluster "{kind}" must be a list of "host:port" addresses')
    if cluster.get("ps"):
        raise ClusterConfigError("TF_CONFIG lists parameter servers (ps); odspec trains with "
                                 "MultiWorkerMirroredStrategy, which has none")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("chief", "worker", "evaluator"):
        raise ClusterConfigError(f"TF_CONFIG's task type is {kind!r}; expected chief, worker or evaluator")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ClusterConfigError(f"TF_CONFIG's task index must be a non-negative integer, got {index!r}")
    listed = cluster.get(kind, [])
    if kind != "evaluator" and index >= len(listed):
        raise ClusterConfigError(f"TF_CONFIG's task is {kind} {index}, but its cluster lists "
                                 f"{len(listed)} {kind} address{'' if len(listed) == 1 else 'es'}")
    if len(cluster.get("chief", [])) > 1:
        raise ClusterConfigError("TF_CONFIG lists more than one chief")
    # a chief or worker is listed (checked above); an evaluator's cluster may list only itself (TensorFlow allows it)
    workers = sum(len(cluster.get(name, [])) for name in TRAINING_TASKS)
    return ClusterTask(kind, index, workers, bool(cluster.get("chief")))
