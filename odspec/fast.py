"""The console entry point, and the one command answered before the CLI framework is imported.

A no-op ``odspec build SPEC [--out DIR]`` (nothing changed since the last build) is
answered from the build's input signature; importing typer (and through it
pydantic) would cost more than the answer, so :func:`main` tries that first and
only then loads :mod:`odspec.cli`. A no-op ``odspec plan SPEC [--format F]`` is answered
the same way (:mod:`odspec.plan.fast`). Anything else goes to the CLI unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from odspec.io import url_scheme


def build_arguments(argv: list[str]) -> tuple[Path, Path | None] | None:
    """(spec, out) for exactly ``build SPEC [--out DIR | -o DIR | --out=DIR]``; None for anything else."""
    if len(argv) < 2 or argv[0] != "build" or argv[1].startswith("-"):
        return None
    rest = argv[2:]
    if not rest:
        return Path(argv[1]), None
    if len(rest) == 2 and rest[0] in ("--out", "-o") and not rest[1].startswith("-"):
        return Path(argv[1]), Path(rest[1])
    if len(rest) == 1 and rest[0].startswith("--out=") and len(rest[0]) > len("--out="):
        return Path(argv[1]), Path(rest[0][len("--out="):])
    return None


def no_op_build(argv: list[str]) -> bool:
    """Print the no-op answer and return True when ``argv`` is a build with nothing to do."""
    arguments = build_arguments(argv)
    if arguments is None or any(url_scheme(path) for path in arguments if path is not None):
        return False  # the CLI refuses a URL
    from odspec.build import unchanged_line, up_to_date_for

    fresh = up_to_date_for(*arguments)
    if fresh is None:
        return False
    print(unchanged_line(len(fresh[1])))
    return True


def main() -> None:
    try:
        if no_op_build(sys.argv[1:]):
            return
        from odspec.plan.fast import no_op_plan

        if no_op_plan(sys.argv[1:]):
            return
    except Exception as err:  # noqa: BLE001 - the CLI's guarantee holds on the fast path too
        from odspec.errors import OdspecError

        if isinstance(err, OdspecError):
            print(f"error: {err}" if "\n" not in str(err) else f"error:\n{err}", file=sys.stderr)
            sys.exit(err.exit_code)
        from odspec.crash import report_crash

        report_crash(err)
    from odspec.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
