"""Checkpoint files the run must not lose: ``.pending/`` until evaluated, ``best/`` once the best.

The OD API's rotation deletes all but the newest ``keep`` checkpoints, and evaluation
runs behind training, so the moment a checkpoint is announced its files are
hard-linked into ``.pending/`` (same file system: instant, no copy). Rotation then
only removes the model directory's names; the evaluator reads the pending ones.
When an evaluation makes a checkpoint the best, its files are linked into a new
folder with ``info.json`` and a ``checkpoint`` index naming it, and that folder
replaces ``best/`` with renames, so ``best/`` is always one complete checkpoint.
No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from odspec.io import atomic_write, replace_dir

if TYPE_CHECKING:  # the launcher imports this module in the children: it needs nothing of the reconciler
    from odspec.reconcile.state import Best

PENDING = ".pending"
BEST = "best"
BEST_INFO = "info.json"
_NEW_BEST = ".best-new-"
_OLD_BEST = ".best-old-"
_CHECKPOINT_PART = re.compile(r"(ckpt-\d+)\.(index|data-\d{5}-of-\d{5})")


def checkpoint_files(prefix: Path) -> list[Path]:
    """``prefix.index`` and its ``prefix.data-*`` shards, as they are on disk now."""
    return sorted(p for p in prefix.parent.glob(f"{prefix.name}.*") if _CHECKPOINT_PART.fullmatch(p.name))


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError:
        if not os.path.samefile(source, target):
            target.unlink()
            link_or_copy(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def write_checkpoint_index(folder: Path, name: str) -> None:
    """A ``checkpoint`` index in ``folder`` naming only ``name``, so TensorFlow's "latest" is that checkpoint."""
    (folder / "checkpoint").write_text(
        f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n', encoding="utf-8")


def protect(model_dir: Path, name: str) -> Path:
    """Link checkpoint ``name`` (``ckpt-7``) into ``.pending/``; the pending prefix, for the evaluator."""
    pending = model_dir / PENDING
    pending.mkdir(exist_ok=True)
    files = checkpoint_files(model_dir / name)
    if not any(f.name.endswith(".index") for f in files):
        raise FileNotFoundError(f"{model_dir / name}: no such checkpoint to protect (rotated away already?)")
    for source in files:
        link_or_copy(source, pending / source.name)
    return pending / name


def pending_checkpoints(model_dir: Path) -> list[str]:
    """Names in ``.pending/`` with an index file, by number."""
    names = {m.group(1) for p in (model_dir / PENDING).glob("ckpt-*.index")
             if (m := _CHECKPOINT_PART.fullmatch(p.name))}
    return sorted(names, key=lambda n: int(n.split("-")[1]))


def release(model_dir: Path, name: str) -> None:
    """Forget the pending copy of ``name`` once it has been evaluated (and kept as best if it was)."""
    for path in checkpoint_files(model_dir / PENDING / name):
        path.unlink(missing_ok=True)


def save_best(model_dir: Path, source: Path, info: Best) -> Path:
    """Make ``best/`` the checkpoint at prefix ``source``, with ``info`` as its ``info.json``; returns ``best/``."""
    fresh = Path(tempfile.mkdtemp(prefix=_NEW_BEST, dir=model_dir))
    files = checkpoint_files(source)
    if not any(f.name.endswith(".index") for f in files):
        shutil.rmtree(fresh)
        raise FileNotFoundError(f"{source}: no such checkpoint")
    for path in files:
        link_or_copy(path, fresh / path.name)
    write_checkpoint_index(fresh, source.name)
    atomic_write(fresh / BEST_INFO, (json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8"))
    os.chmod(fresh, 0o755)  # mkdtemp's 0700 would stay on best/
    replace_dir(fresh, model_dir / BEST, _OLD_BEST)
    return model_dir / BEST


def recover(model_dir: Path) -> None:
    """Finish or undo a ``best/`` swap a crash interrupted: a complete new folder wins, else the old one is back."""
    if not model_dir.is_dir():
        return
    best = model_dir / BEST
    for fresh in sorted(model_dir.glob(f"{_NEW_BEST}*")):
        if not best.exists() and (fresh / BEST_INFO).is_file():
            fresh.rename(best)
        else:
            shutil.rmtree(fresh, ignore_errors=True)
    for old in sorted(model_dir.glob(f"{_OLD_BEST}*")):
        inner = old / BEST
        if not best.exists() and (inner / BEST_INFO).is_file():
            inner.rename(best)
        shutil.rmtree(old, ignore_errors=True)


def best_prefix(model_dir: Path, info: Best | None) -> Path | None:
    """The checkpoint prefix inside ``best/`` that ``info`` names, if its files are there."""
    if info is None:
        return None
    prefix = model_dir / BEST / info.checkpoint
    return prefix if Path(f"{prefix}.index").is_file() else None
