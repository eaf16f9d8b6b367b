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
