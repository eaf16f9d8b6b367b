"""odspec.distribute: which tf.distribute strategy a spec's runtime trains under, and how it is described."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest
from support import minimal_spec, write_spec

from odspec import api
from odspec.distribute import Distribution, distribution_of, too_few_devices
from odspec.errors import SpecError
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


def test_run_refuses_several_workers_at_the_spec_line_before_building(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, minimal_spec("ssd_mobilenet_v2_fpnlite_320", runtime={"accelerator": "cpu",
                                                                                      "workers": 2},
                                             train={"batch_size": 4}))
    with pytest.raises(SpecError) as refused:
        api.run(spec, model_dir=tmp_path / "runs")
    line = spec.read_text().splitlines().index("  workers: 2") + 1
    assert str(refused.value) == (
        f"{spec}:{line}:12: runtime.workers: odspec run trains on one machine so far, and this spec asks for 2 (set "
        "workers: 1 (runtime.replicas spreads training over this machine's devices))")
    assert not (tmp_path / "build").exists() and not (tmp_path / "runs").exists()


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
