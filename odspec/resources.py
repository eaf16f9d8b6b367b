"""The one place that finds odspec's package data: the Jinja templates and the bundled example.

Both live inside the package (``odspec/templates``, ``odspec/example``), so an
editable install, a wheel, an sdist install and a plain checkout on ``sys.path``
all find them the same way, through :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from odspec.errors import EnvironmentProblem

TEMPLATES = "templates"
EXAMPLE = "example"


def package_root() -> Path:
    """The folder the imported ``odspec`` package lives in."""
    root = resources.files("odspec")
    if not isinstance(root, Path):  # a zip or some other non-file loader: the templates need a real folder
        raise EnvironmentProblem(f"odspec is imported from {root}, not from a folder on disk",
                                 "install odspec as a wheel: pip install odspec")
    return root


def package_folder(name: str) -> Path:
    """``odspec/<name>``, which every install carries; an install without it is broken, and says how to fix it."""
    folder = package_root() / name
    if not folder.is_dir():
        raise EnvironmentProblem(f"this odspec installation has no {name} folder (looked for {folder})",
                                 "reinstall odspec from a wheel or an sdist: pip install --force-reinstall odspec")
    return folder


def templates_folder() -> Path:
    return package_folder(TEMPLATES)


def example_folder() -> Path:
    return package_folder(EXAMPLE)
