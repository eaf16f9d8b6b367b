"""Package data is found inside the imported package, and a broken install says how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

import odspec
from odspec import resources
from odspec.errors import EnvironmentProblem


def test_templates_and_example_live_in_the_imported_package() -> None:
    package = Path(odspec.__file__).parent
    assert resources.package_root() == package
    assert (resources.templates_folder() / "pipeline.config.j2").is_file()
    assert resources.templates_folder().parent == package == resources.example_folder().parent


def test_an_install_without_its_data_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "package_root", lambda: tmp_path)
    with pytest.raises(EnvironmentProblem) as missing:
        resources.templates_folder()
    assert str(missing.value) == (f"this odspec installation has no templates folder (looked for {tmp_path / 'templates'}) "
                                  "(reinstall odspec from a wheel or an sdist: pip install --force-reinstall odspec)")
