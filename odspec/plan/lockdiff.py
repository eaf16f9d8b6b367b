"""The plan's lock section: the spec's lock file against what building now would lock. Reads; writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odspec.plan.model import LockDiff


def lock_diff(spec_path: Path, validated: Any, inputs: Any, base: str | None, *, locked: bool) -> LockDiff:
    """Compare with the lock beside the spec, or (``base``) the lock at that git revision.

    ``inputs`` (:class:`odspec.lock.LockInputs`) None: the dataset was not read, so its files are not compared.
    ``locked``: LockError (plan exits 1) when the lock beside the spec differs, whatever ``base`` is.
    """
    from odspec.lock import COMPILED, LockInputs, compare, lock_content, lock_path, parse_lock, read_lock, refuse_drift
    from odspec.plan.baseline import lock_at

    read = inputs is not None
    new = lock_content(validated.loaded, validated.files, validated.out_dir, inputs or LockInputs({}, {}), {})
    here = lock_path(spec_path)
    if locked:
        refuse_drift(here, new, inputs=read)
    stale = ""
    if base is not None:
        where, data = lock_at(spec_path, base)
        old = None if data is None else parse_lock(data, where)
        stale = _stale(here, new, read)
    else:
        where, old = here.name, read_lock(here)
    if old is None:
        return LockDiff(False, where, note=f"no lock file {where}: `odspec build` writes it beside the spec",
                        stale=stale)
    found = compare(old, new, outputs=COMPILED, inputs=read)
    note = "" if read else "the dataset was not read: its files are not compared"
    return LockDiff(True, where, tuple(found), note, stale)


def _stale(here: Path, new: Any, read: bool) -> str:
    """With ``--base``, a plan note when the branch's own lock file is not what building it would lock."""
    from odspec.lock import COMPILED, compare, read_lock

    current = read_lock(here)
    if current is None:
        return f"{here.name} is missing: run `odspec build` and commit it"
    count = len(compare(current, new, outputs=COMPILED, inputs=read))
    if not count:
        return ""
    return (f"{here.name} differs from what building now would lock ({count} difference{'s' if count != 1 else ''})"
            ": run `odspec build` and commit it")
