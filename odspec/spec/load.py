"""Read a spec file into a validated :class:`Spec`, or raise one SpecError listing every problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from odspec.errors import Problem, SpecError
from odspec.spec.errors_map import problems_from
from odspec.spec.models import Spec
from odspec.spec.yamlsrc import SourceMap, load_yaml


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with where it came from, so later checks can point into the file."""

    spec: Spec
    path: Path
    source: SourceMap
    data: Any

    @property
    def root(self) -> Path:
        """Folder that relative paths in the spec are relative to."""
        return self.path.resolve().parent

    def problem(self, loc: tuple[str | int, ...], message: str, hint: str | None = None) -> Problem:
        # an override is one dotted key: point at it, not into its (possibly multi-line) value
        line, col = self.source.locate(loc, at_key=loc[:1] == ("overrides",) and len(loc) == 2)
        return Problem(self.source.file, line, col, ".".join(str(p) for p in loc), message, hint)



def default_model_dir(loaded: LoadedSpec) -> Path:
    """Where ``odspec run`` trains when no --model-dir is given: runs/PROJECT beside the spec."""
    return loaded.root / "runs" / loaded.spec.project


def default_out_dir(loaded: LoadedSpec) -> Path:
    """Where ``odspec build`` writes when no --out is given: build/PROJECT beside the spec."""
    return loaded.root / "build" / loaded.spec.project

def load_spec(path: Path, text: str | None = None) -> LoadedSpec:
    """Parse and validate; errors name file, line, column, key, and a fix."""
    data, source = load_yaml(path, text)
    if data is None:
        raise SpecError([Problem(source.file, 1, 1, "", "the spec is empty; a spec is a mapping of sections",
                                 "e.g. project: pets")])
    if not isinstance(data, dict):
        line, col = source.locate(())
        kind = "a list" if isinstance(data, list) else f"the single value {data!r}"
        raise SpecError([Problem(source.file, line, col, "", f"a spec is a mapping of sections, got {kind}",
                                 "e.g. project: pets")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(problems_from(err, Spec, data, source)) from None
    return LoadedSpec(spec, path, source, data)
