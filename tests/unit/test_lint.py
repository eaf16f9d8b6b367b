"""Lint and types are part of the tests: ruff on the whole repository (odspec/, tests/, benchmarks/, scripts/) and
mypy (strict, pydantic plugin) on odspec/, with pyproject.toml's settings, fail the suite with their own output. Neither imports TensorFlow, so these run on every stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"

pytestmark = pytest.mark.lint


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=600)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_ruff_finds_nothing_in_the_repository() -> None:
    done = _run("ruff", "check", "--no-cache", ".")  # the other stacks' venvs (.venv-*) are excluded in pyproject
    assert done.returncode == 0, _output(done)


def test_mypy_strict_finds_nothing_in_odspec() -> None:
    done = _run("mypy")  # pyproject.toml: files = ["odspec"], strict, the pydantic plugin
    assert done.returncode == 0, _output(done)
    assert done.stdout.startswith("Success: no issues found"), _output(done)


def test_ruff_enforces_the_rule_set_written_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from typing import Optional\n\n\n"
        "def pairs(a: list[int], b: list[int], c: Optional[int]) -> list[tuple[int, int]]:\n"
        "    return list(zip(a, b))\n",
        encoding="utf-8",
    )
    done = _run("ruff", "check", "--no-cache", "--config", str(CONFIG), "--output-format", "concise", "bad.py",
                cwd=tmp_path)
    assert done.returncode == 1, _output(done)
    assert "B905" in done.stdout and "UP045" in done.stdout, _output(done)


def test_mypy_is_strict_and_runs_the_pydantic_plugin(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from pydantic import BaseModel, Field\n\n"
        'NAME = "learning_rate"\n\n\n'
        "class Train(BaseModel):\n"
        "    rate: float = Field(alias=NAME)\n\n\n"
        "def untyped(x):\n"
        "    return x\n",
        encoding="utf-8",
    )
    cache = ROOT / ".mypy_cache"  # the same settings as the run above, so pydantic's analysis is reused
    done = _run("mypy", "--config-file", str(CONFIG), "--cache-dir", str(cache), "bad.py", cwd=tmp_path)
    assert done.returncode == 1, _output(done)
    assert "[no-untyped-def]" in done.stdout, _output(done)  # strict
    assert "Required dynamic aliases disallowed  [pydantic-alias]" in done.stdout, _output(done)  # the plugin
