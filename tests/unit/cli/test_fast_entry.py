"""The console entry point answers a no-op build before typer loads, and passes everything else to the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, minimal_spec, write_spec

from odspec.build import unchanged_line
from odspec.fast import build_arguments


@pytest.mark.parametrize(("argv", "expected"), [
    (["build", "s.yaml"], (Path("s.yaml"), None)),
    (["build", "s.yaml", "--out", "o"], (Path("s.yaml"), Path("o"))),
    (["build", "s.yaml", "-o", "o"], (Path("s.yaml"), Path("o"))),
    (["build", "s.yaml", "--out=o"], (Path("s.yaml"), Path("o"))),
    (["build", "s.yaml", "--dry-run"], None),
    (["build", "s.yaml", "-v"], None),
    (["build", "--help"], None),
    (["build", "s.yaml", "--out"], None),
    (["validate", "s.yaml"], None),
    ([], None),
])
def test_only_a_plain_build_takes_the_fast_path(argv: list[str], expected: tuple[Path, Path | None] | None) -> None:
    assert build_arguments(argv) == expected


def test_a_no_op_build_never_imports_typer_and_says_what_the_cli_says(tmp_path: Path) -> None:
    from odspec.datasets.synthetic import make_shapes

    make_shapes(tmp_path / "data", 6, size=(64, 64), seed=1)
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["circle", "square"])
    spec_dict["dataset"].update(images="data/images", annotations="data/annotations")
    spec = write_spec(tmp_path, spec_dict)
    first = subprocess.run([sys.executable, "-m", "odspec", "build", str(spec)], capture_output=True, text=True,
                           cwd=REPO, timeout=300)
    assert first.returncode == 0, first.stderr
    code = ("import sys, runpy; sys.argv = ['odspec', 'build', sys.argv[1]]\n"
            "runpy.run_module('odspec', run_name='__main__')\nprint('TYPER', 'typer' in sys.modules)")
    again = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.stdout.splitlines() == [unchanged_line(10), "TYPER False"]
    via_cli = subprocess.run([sys.executable, "-m", "odspec.cli", "build", str(spec)], capture_output=True, text=True,
                             cwd=REPO, timeout=120)
    assert via_cli.stdout.splitlines() == [unchanged_line(10)]
