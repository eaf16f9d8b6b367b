"""Every error a user can see. Each carries what went wrong and how to fix it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


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


class PlanError(OdspecError):
    """`odspec plan` cannot compare: a git revision or file it cannot read. Exits 1 (0 and 2 say no-op / changes)."""

    exit_code = 1
