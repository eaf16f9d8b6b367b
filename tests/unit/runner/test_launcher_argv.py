"""Launcher argv builders and the launcher's pure decisions: fast, without TensorFlow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from odspec.distribute import Distribution, distribution_of
from odspec.errors import LaunchError
from odspec.procs import json_lines
from odspec.runner.argv import (
    LAUNCHER_MODULE,
    EvalOptions,
    EvalServeOptions,
    ExportOptions,
    PredictOptions,
    TrainOptions,
    eval_argv,
    export_argv,
    launcher_argv,
    launcher_env,
    train_argv,
)
from odspec.runner.launcher import _staged, build_parser, main, should_checkpoint, steps_per_iteration

P = Path("build/shapes/pipeline.config")
D = Path("runs/shapes")


def test_train_argv_spells_every_option() -> None:
    options = TrainOptions(P, D, num_steps=300, checkpoint_every=100, keep=10)
    assert train_argv(options) == ["train", "--pipeline-config", "build/shapes/pipeline.config",
                                   "--model-dir", "runs/shapes", "--num-steps", "300",
                                   "--checkpoint-every", "100", "--keep", "10",
                                   "--strategy", "default", "--accelerator", "cpu", "--replicas", "1"]
    explicit = TrainOptions(P, D, num_steps=300, checkpoint_every=100, keep=10, steps_per_iteration=50,
                            distribution=distribution_of("gpu", 2, 3))
    assert train_argv(explicit)[11:] == ["--steps-per-iteration", "50", "--strategy", "multi_worker",
                                         "--accelerator", "gpu", "--replicas", "2", "--workers", "3"]


def test_a_seed_is_passed_only_when_set() -> None:
    assert train_argv(TrainOptions(P, D, num_steps=300, checkpoint_every=100, keep=10, seed=0))[-2:] == ["--seed", "0"]
    assert "--seed" not in train_argv(TrainOptions(P, D, num_steps=300, checkpoint_every=100, keep=10))
    assert eval_argv(EvalOptions(P, D, "ckpt-7", seed=5))[-2:] == ["--seed", "5"]
    assert launcher_argv(EvalServeOptions(P, D, seed=9))[-2:] == ["--seed", "9"]
    assert launcher_env(3) == {"PYTHONHASHSEED": "3", "TF_NUM_INTEROP_THREADS": "1"} and launcher_env(None) == {}


@pytest.mark.parametrize("seed", [-1, 2**32, True, 1.5])
def test_a_seed_must_fit_numpys(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 4294967295 or None, got "):
        TrainOptions(P, D, num_steps=300, checkpoint_every=100, keep=10, seed=seed)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"seed must be an integer"):
        EvalServeOptions(P, D, seed=seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["-1", "4294967296", "x"])
def test_the_launcher_refuses_a_seed_out_of_range(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval-serve", "--pipeline-config", "p", "--model-dir", "d", "--seed", text])
    assert f"expected an integer from 0 to 4294967295, got {text!r}" in capsys.readouterr().err


def test_eval_and_export_argv() -> None:
    assert eval_argv(EvalOptions(P, D, "ckpt-7")) == [
        "eval", "--pipeline-config", "build/shapes/pipeline.config", "--model-dir", "runs/shapes",
        "--checkpoint", "ckpt-7"]
    assert export_argv(ExportOptions(P, D / "ckpt-7", Path("exported"))) == [
        "export", "--pipeline-config", "build/shapes/pipeline.config", "--checkpoint", "runs/shapes/ckpt-7",
        "--output", "exported"]
    assert export_argv(ExportOptions(P, D / "ckpt-7", Path("exported"), tflite=True))[-1] == "--tflite"


@pytest.mark.parametrize("options", [
    TrainOptions(P, D, num_steps=120, checkpoint_every=50, keep=3),
    TrainOptions(Path("/abs/p.config"), Path("/abs/run dir"), num_steps=5, checkpoint_every=5, keep=1,
                 steps_per_iteration=5),
    TrainOptions(P, D, num_steps=120, checkpoint_every=50, keep=3, seed=0),
    TrainOptions(P, D, num_steps=120, checkpoint_every=50, keep=3, seed=4294967295),
    TrainOptions(P, D, num_steps=120, checkpoint_every=50, keep=3, distribution=distribution_of("cpu", 2)),
    TrainOptions(P, D, num_steps=120, checkpoint_every=50, keep=3, distribution=distribution_of("gpu", 4, 2)),
    EvalOptions(P, D, "ckpt-12"),
    EvalOptions(P, D, "ckpt-12", seed=7),
    ExportOptions(P, D / "ckpt-3", Path("out"), tflite=True),
    ExportOptions(P, D / "ckpt-3", Path("out")),
])
def test_the_launcher_parses_back_what_the_builders_write(options: TrainOptions | EvalOptions | ExportOptions) -> None:
    parsed = vars(build_parser().parse_args(launcher_argv(options)))
    command = parsed.pop("command")
    assert command == {TrainOptions: "train", EvalOptions: "eval", ExportOptions: "export"}[type(options)]
    if isinstance(options, TrainOptions):
        parsed["distribution"] = Distribution(*(parsed.pop(k) for k in ("strategy", "accelerator", "replicas",
                                                                         "workers")))
    assert parsed == vars(options)  # argparse's dest names are the option fields


@pytest.mark.parametrize("options", [
    EvalServeOptions(P, D),
    EvalServeOptions(P, D, seed=42),
    PredictOptions(Path("export/saved_model"), (Path("a.jpg"), Path("-starts-with-dash.png")), Path("d.json"), 0.3),
])
def test_the_new_commands_parse_back(options: EvalServeOptions | PredictOptions) -> None:
    parsed = vars(build_parser().parse_args(launcher_argv(options)))
    command = parsed.pop("command")
    assert command == {EvalServeOptions: "eval-serve", PredictOptions: "predict"}[type(options)]
    if "images" in parsed:
        parsed["images"] = tuple(parsed["images"])
    assert parsed == vars(options)


@pytest.mark.parametrize(("images", "score", "message"), [((), 0.5, "at least one image"),
                                                          ((Path("a.jpg"),), 1.5, "within")])
def test_predict_options_are_checked(images: tuple[Path, ...], score: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PredictOptions(Path("m"), images, Path("o.json"), score)


def test_launcher_argv_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="not launcher options: str"):
        launcher_argv("train")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["num_steps", "checkpoint_every", "keep", "steps_per_iteration"])
@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_train_options_need_positive_integers(field: str, bad: object) -> None:
    values: dict[str, object] = {"num_steps": 10, "checkpoint_every": 5, "keep": 2, field: bad}
    with pytest.raises(ValueError, match=f"{field} must be a positive integer, got {bad!r}"):
        TrainOptions(P, D, **values)  # type: ignore[arg-type]


def test_eval_options_need_a_checkpoint() -> None:
    with pytest.raises(ValueError, match=re.escape("e.g. ckpt-7")):
        EvalOptions(P, D, "")


TRAIN = ["train", "--pipeline-config", "p", "--model-dir", "d", "--checkpoint-every", "5", "--keep", "1"]


@pytest.mark.parametrize("argv", [
    [*TRAIN, "--num-steps", "0"],
    [*TRAIN, "--num-steps", "x"],
    [*TRAIN, "--num-steps", "10", "--steps-per-iteration", "-5"],
    TRAIN,
    ["eval", "--pipeline-config", "p", "--model-dir", "d"],
    ["export", "--pipeline-config", "p", "--output", "o"],
])
def test_the_parser_rejects_bad_command_lines(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


@pytest.mark.parametrize(("start", "num_steps", "every", "expected"), [
    (0, 300, 100, 100),   # model_main_tf2's 100 when everything lines up
    (0, 100, 50, 50),
    (0, 120, 50, 10),     # the final partial stretch of 20 steps needs iterations of 10
    (0, 1000, 500, 100),  # never more than 100: summaries and checkpoints only land between iterations
    (0, 1000, 300, 100),
    (120, 300, 50, 10),   # resumed off the checkpoint grid
    (0, 301, 100, 1),     # still correct, only slower
    (0, 7, 1000, 7),      # no checkpoint step before the end
    (0, 120, 100, 20),
    (7, 20, 1000, 1),     # train summaries are only written at multiples of the size
])
def test_steps_per_iteration_lands_on_checkpoints_and_the_end(start: int, num_steps: int, every: int,
                                                              expected: int) -> None:
    chosen = steps_per_iteration(start, num_steps, every)
    assert chosen == expected
    ends = range(start + chosen, num_steps + 1, chosen)
    assert ends[-1] == num_steps
    assert all(step in ends for step in range(start + 1, num_steps + 1) if step % every == 0)
    assert start % chosen == 0


def test_a_requested_steps_per_iteration_must_fit() -> None:
    assert steps_per_iteration(0, 300, 100, requested=25) == 25
    with pytest.raises(LaunchError) as caught:
        steps_per_iteration(0, 120, 50, requested=50)
    assert str(caught.value) == (
        "--steps-per-iteration 50 does not fit: training runs from step 0 to 120 with a checkpoint every 50 steps "
        "(e.g. --steps-per-iteration 10, a divisor of 10; or leave it out)")


def test_checkpoints_land_on_the_grid_and_at_the_end() -> None:
    saved = [step for step in range(0, 121, 10) if should_checkpoint(step, every=50, num_steps=120)]
    assert saved == [0, 50, 100, 120]


def test_json_lines_skips_logging_and_broken_lines() -> None:
    lines = ["I1125 something {", '{"checkpoint": "ckpt-2", "step": 50}', "{not json", "[1, 2]", '{"trained_to": 50}']
    assert json_lines(lines) == [{"checkpoint": "ckpt-2", "step": 50}, {"trained_to": 50}]


def test_staged_checkpoint_is_the_only_one_its_index_names(tmp_path: Path) -> None:
    for name in ("ckpt-7.index", "ckpt-7.data-00000-of-00001", "ckpt-70.index", "ckpt-8.index", "checkpoint"):
        (tmp_path / name).write_text(name)
    with _staged(tmp_path / "ckpt-7") as staged:
        assert sorted(p.name for p in staged.iterdir()) == ["checkpoint", "ckpt-7.data-00000-of-00001", "ckpt-7.index"]
        assert (staged / "checkpoint").read_text().startswith('model_checkpoint_path: "ckpt-7"\n')
        assert (staged / "ckpt-7.index").read_text() == "ckpt-7.index"
    assert not staged.exists()
    assert (tmp_path / "ckpt-7.index").exists()


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict]:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    code = main(argv)
    return code, json.loads(capsys.readouterr().out.splitlines()[-1])


def test_a_missing_checkpoint_is_named_with_the_ones_that_exist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pipeline.config"
    config.write_text("")
    for name in ("ckpt-2.index", "ckpt-3.index"):
        (tmp_path / name).write_text("")
    code, result = _run_main(["eval", "--pipeline-config", str(config), "--model-dir", str(tmp_path),
                              "--checkpoint", "ckpt-9"], capsys, monkeypatch)
    assert code == 1
    assert result == {"command": "eval", "error": f"{tmp_path / 'ckpt-9'}: no such checkpoint (no ckpt-9.index in "
                                                  f"{tmp_path}) (checkpoints there: ckpt-2, ckpt-3)"}
    code, result = _run_main(["export", "--pipeline-config", str(config), "--checkpoint", str(tmp_path / "ckpt-1"),
                              "--output", str(tmp_path / "out")], capsys, monkeypatch)
    assert code == 1
    assert "no such checkpoint" in result["error"]
    assert not (tmp_path / "out").exists()


def test_a_missing_pipeline_config_fails_before_anything_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, result = _run_main(["train", "--pipeline-config", str(tmp_path / "nope.config"), "--model-dir",
                              str(tmp_path / "run"), "--num-steps", "10", "--checkpoint-every", "5", "--keep", "2"],
                             capsys, monkeypatch)
    assert code == 1
    assert result["error"] == f"{tmp_path / 'nope.config'}: no such pipeline config (run `odspec build` first)"
    assert not (tmp_path / "run").exists()


def test_importing_the_launcher_does_not_import_tensorflow() -> None:
    code = f"import sys, {LAUNCHER_MODULE}, odspec.runner.argv; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
