"""Every error a user can see, in one module. Each carries what went wrong and how to fix it.

The CLI prints an :class:`OdspecError` once (``error: ...``, with its fix in brackets) and exits
with the error's ``exit_code``. The failure families, by exit code:

- **2, the spec**: :class:`SpecError` (YAML syntax, unknown keys, wrong values, ``--set`` overrides, a
  ``tune.space`` value that would make the spec invalid; every problem located as ``file:line:col: key: message``).
- **2, the dataset**: :class:`DatasetError`; :class:`DatasetCheckError` (annotations the
  ``dataset.on_bad_annotation`` policy cannot act on, all listed), :class:`EmptySplitError` (a split
  training or evaluation reads would hold no image).
- **2, the records**: :class:`RecordError` (a TFRecord file corrupt or truncated).
- **2, the build**: :class:`BuildError`; :class:`SmokeFailure` (the OD API cannot read, build or run
  the compiled config), :class:`LockError` (``build --locked`` found the data, the resolved spec or the
  versions differ from the spec's lock file, all listed; or the lock file is missing or unreadable).
- **2, the environment**: :class:`EnvironmentProblem` (installed packages or the machine).
- **2, a run**: :class:`RunError` (a child process failed or timed out; carries the tail of its
  output), :class:`LaunchError` (the training launcher cannot do what it was asked),
  :class:`ExportError` (exporting or smoke-testing an export).
- **2, a model directory**: :class:`ReconcileError`; :class:`RunRecordError` (``odspec-run.json``
  unreadable), :class:`BuildMissingError` (the build a run needs is missing or incomplete).
- **130, interrupted**: :class:`RunInterrupted` (Ctrl-C or a signal; everything written is kept).
- **2, a deploy manifest**: :class:`DeployError` (``odspec deploy`` cannot write a manifest the platform
  would run as the spec says: a missing image, TPUs, storage the tasks would not share).
- **1, a plan**: :class:`PlanError` (``odspec plan`` cannot read a git revision or a file).

Three are internal and never reach the user as such, so they are not :class:`OdspecError` s;
each is caught where its docstring says and translated: :class:`OverrideError` (an override the
proto refuses) and :class:`CompileFailed` (what only compiling finds) become a located
:class:`SpecError`; :class:`BundleFormatError` (a checkpoint index odspec cannot parse) makes the
checkpoint one whose step is unknown.

Outside this module: ``odspec validate`` and ``odspec doctor`` exit **1** when they found problems
(a report, not an error), and anything that is not an :class:`OdspecError` is a bug: one line,
a traceback file, exit **70** (:mod:`odspec.crash`).
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from odspec.compile.render import CompileProblem
    from odspec.datasets.model import Finding
    from odspec.lock import LockDifference

LISTED_ERRORS = 20  # dataset problems listed in a DatasetCheckError's message; the rest are counted

DID_YOU_MEAN = ", did you mean {!r}?"


def suggest(word: str, choices: Iterable[str]) -> str:
    """``", did you mean 'x'?"`` when one choice is close to ``word``, else ``""``; every message uses it.

    Close: what :func:`difflib.get_close_matches` finds, or else the one choice that
    starts with or contains ``word`` (so ``ssd`` finds nothing among three SSDs).
    """
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close and word:
        close = [c for c in options if c.startswith(word) or word in c]
        close = close if len(close) == 1 else []
    return DID_YOU_MEAN.format(close[0]) if close else ""


class OdspecError(Exception):
    """Base of all errors shown to users; the CLI prints ``str(err)`` once and exits 2."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


@dataclass(frozen=True)
class Problem:
    """One finding about a spec, located in its YAML file."""

    file: str
    line: int
    column: int
    key: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        key = f" {self.key}:" if self.key else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}:{key} {self.message}{hint}"


@dataclass
class SpecError(OdspecError):
    """A spec that does not validate; lists every problem found, in file order."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.problems.sort(key=lambda p: (p.file, p.line, p.column, p.key))
        OdspecError.__init__(self, "\n".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        return self.message


class EnvironmentProblem(OdspecError):
    """Something about the installed packages or the machine, not the spec."""


class DatasetError(OdspecError):
    """The dataset cannot be read as the spec describes it."""


class RecordError(OdspecError):
    """A TFRecord file is corrupt or truncated; ``index`` is the first bad record (0-based)."""

    def __init__(self, path: str, index: int, offset: int, problem: str, hint: str | None = None) -> None:
        self.path = path
        self.index = index
        self.offset = offset
        self.problem = problem
        super().__init__(f"{path}: record {index} (byte {offset}): {problem}", hint)


class BuildError(OdspecError):
    """Compiling or writing the build failed."""


class RunError(OdspecError):
    """A child process failed or timed out; the tail of its output usually names the cause."""

    def __init__(
        self,
        command: list[str] | tuple[str, ...],
        exit_code: int | None,
        tail: list[str] | tuple[str, ...],
        *,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.command = tuple(command)
        self.returncode = exit_code  # the child's; ``exit_code`` stays odspec's own (2) for the CLI
        self.tail = tuple(tail)
        self.timeout = timeout
        shown = shlex.join(self.command)
        if timeout is not None:
            what = f"`{shown}` did not finish within {timeout:g} s and was stopped"
        elif exit_code is not None and exit_code < 0:
            what = f"`{shown}` was killed by signal {-exit_code}"
        else:
            what = f"`{shown}` exited with code {exit_code}"
        body = "".join(f"\n  {line}" for line in self.tail)
        told = f"; last {len(self.tail)} lines of its output:{body}" if self.tail else "; it printed nothing"
        super().__init__(what + told, hint)

    @property
    def timed_out(self) -> bool:
        return self.timeout is not None


class ClusterConfigError(ValueError):
    """TF_CONFIG that does not describe a cluster odspec can train in; the message says what is wrong."""


class OverrideError(ValueError):
    """A path or value that does not fit the proto; the message says which part.

    Internal, never shown as such: it has no location in the spec. ``odspec.compile.overrides``
    raises it and its one caller, ``odspec.compile.render.apply_overrides``, turns each into a
    located problem of :class:`CompileFailed`. A ``ValueError`` because ``overrides._assign``
    catches the ``ValueError`` s protobuf raises and must let its own through.
    """


class CompileFailed(Exception):
    """Problems only compiling can find, each with its spec location but not yet its file, line and column.

    Internal, never shown as such: ``odspec.compile.render.pipeline_message`` raises it and
    ``odspec.project.compile_loaded``, through which every command compiles, locates each problem
    in the YAML and raises a :class:`SpecError`. Anything else calling ``pipeline_message``
    (``compile_spec``, tests) gets it raw.
    """

    def __init__(self, problems: list[CompileProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class DatasetCheckError(DatasetError):
    """Findings the policy cannot act on; ``findings`` holds all of them for the report."""

    def __init__(self, errors: Sequence[Finding], findings: Sequence[Finding]) -> None:
        self.errors = tuple(errors)
        self.findings = tuple(findings)
        super().__init__(_error_listing(self.errors), hint=_error_hint(self.errors))


def _error_listing(errors: Sequence[Finding]) -> str:
    count = len(errors)
    head = f"{count} dataset problem{'s stop' if count != 1 else ' stops'} the build:"
    lines = [f"  {finding}" for finding in errors[:LISTED_ERRORS]]
    if count > LISTED_ERRORS:
        lines.append(f"  ... and {count - LISTED_ERRORS} more")
    return "\n".join([head, *lines])


def _error_hint(errors: Sequence[Finding]) -> str:
    escapes = [f for f in errors if f.what == "image path escapes the dataset root"]
    policy_hint = "set dataset.on_bad_annotation to skip_box, skip_image or repair to build without them"
    escape_hint = (
        "image paths that escape the dataset root (also through a symbolic link) are errors whatever "
        "dataset.on_bad_annotation says: move those files inside dataset.images or remove their entries"
    )
    if not escapes:
        return policy_hint
    if len(escapes) == len(errors):
        return escape_hint
    return f"{policy_hint}; {escape_hint}"


class EmptySplitError(DatasetError):
    """A split that training or evaluation reads would hold no image; ``findings``: the build's, for the report."""

    def __init__(self, message: str, hint: str | None = None, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message, hint)
        self.findings = tuple(findings)


class SmokeFailure(BuildError):
    """The config failed at ``stage``: "read" (parse), "build" (model_builder) or "forward" (loss)."""

    def __init__(self, stage: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.stage = stage


class LaunchError(OdspecError):
    """The launcher cannot do what it was asked (bad arguments, a missing checkpoint, a failed conversion)."""


class ExportError(OdspecError):
    """Exporting or smoke-testing an export failed."""


class RunInterrupted(OdspecError):
    """Ctrl-C or a signal stopped the run; everything written so far is kept."""

    exit_code = 130  # what shells report for a process stopped by Ctrl-C


class ReconcileError(OdspecError):
    """A model directory cannot be trained into as asked."""


class RunRecordError(ReconcileError):
    """``odspec-run.json`` exists but cannot be read as a run record."""


class BuildMissingError(ReconcileError):
    """The build folder a run needs is missing or incomplete."""


class BundleFormatError(ValueError):
    """The index or data file is not what TensorFlow writes (truncated, compressed, other format).

    Internal, never shown as such: a checkpoint whose step cannot be read is not an error but a
    checkpoint without a step. ``odspec.reconcile.bundle`` raises it and both readers of a
    checkpoint's step (``reconcile.state._step``, ``runner.session._pending_step``) catch it.
    """


class LockError(BuildError):
    """The lock file beside the spec is missing or unreadable, or (``differences``) the build would not match it."""

    def __init__(self, message: str, hint: str | None = None, *, differences: Sequence[LockDifference] = ()) -> None:
        super().__init__(message, hint)
        self.differences = tuple(differences)


class PlanError(OdspecError):
    """`odspec plan` cannot compare: a git revision or file it cannot read. Exits 1 (0 and 2 say no-op / changes)."""

    exit_code = 1


class DeployError(OdspecError):
    """`odspec deploy` cannot write a manifest that trains the spec as written; the message names the flag or field."""
