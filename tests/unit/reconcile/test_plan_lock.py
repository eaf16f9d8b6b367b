"""`odspec plan`'s lock section: the lock file (or the lock at --base) against what building now would lock,
in the three formats; `plan --locked` exits 1 on any difference; `--exit-zero` keeps changes from failing.

Same setup as test_plan_command.py: the bundled example in a real git repository, the real command in a child.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from test_plan_command import Repo, _repo, git

LOCK_FIX = "run `odspec build` without --locked and commit example.lock, or restore what differs"
IMAGE = "shapes/images/shape_0007.jpg"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return _repo(tmp_path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def repaint(repo: Repo) -> tuple[str, str]:
    """Turn the image upside down; its sha256 before and after."""
    image = repo.root / IMAGE
    old = sha(image)
    Image.open(image).rotate(180).save(image)
    return old, sha(image)


def test_a_changed_image_shows_in_the_lock_section_of_every_format(repo: Repo) -> None:
    repo.build()
    old, new = repaint(repo)
    text = f"input {IMAGE}: changed (sha256 {old[:12]} -> {new[:12]})"
    code, out, err = repo.plan()
    assert code == 2, err
    lines = out.splitlines()
    at = lines.index("lock (example.lock): 1 difference")
    assert lines[at + 1] == f"  ~ {text}"
    code, plan = repo.plan_json()
    assert plan["lock"] == {"compared": True, "baseline": "example.lock", "note": None, "differences": [
        {"kind": "input", "path": IMAGE, "old": old, "new": new, "text": text}]}
    code, markdown, err = repo.plan("--format", "markdown")
    assert code == 2, err
    assert "#### Lock file\n\n`example.lock` against what building now would lock:\n" in markdown
    assert f"| input | {IMAGE} | changed (sha256 {old[:12]} -> {new[:12]}) |" in markdown


def test_plan_locked_exits_1_on_a_stale_lock_and_0_on_a_current_one(repo: Repo) -> None:
    repo.build()
    assert repo.plan("--locked")[0] == 0
    old, new = repaint(repo)
    code, out, err = repo.plan("--locked")
    assert (code, out) == (1, "")
    assert err == ("error:\n--locked: the build differs from example.lock (1 difference):\n"
                   f"  input {IMAGE}: changed (sha256 {old[:12]} -> {new[:12]}) ({LOCK_FIX})\n")
    repo.build()
    assert repo.plan("--locked")[0] == 0


def test_exit_zero_keeps_changes_from_failing(repo: Repo) -> None:
    repo.build()
    repo.edit("tflite: true", "tflite: false")
    assert repo.plan()[0] == 2
    assert repo.plan("--exit-zero")[0] == 0
    code, _, err = repo.plan("--exit-zero", "--locked")  # the lock is the build's, not the edited spec's
    assert code == 1 and "  spec export.tflite: true -> false" in err


def test_without_a_lock_file_the_section_says_so_and_locked_refuses(repo: Repo) -> None:
    repo.build()
    (repo.root / "example.lock").unlink()
    code, out, _ = repo.plan()
    assert code == 0
    assert "lock: not compared (no lock file example.lock: `odspec build` writes it beside the spec)" in out
    code, _, err = repo.plan("--locked")
    assert code == 1
    assert err == ("error: --locked: there is no lock file example.lock "
                   "(run `odspec build` without --locked to write it, and commit it)\n")


def test_with_base_the_lock_section_is_what_the_branch_changes_in_the_lock(repo: Repo) -> None:
    repo.build()
    repo.commit("the lock")
    git(repo.root, "branch", "-f", "main", "HEAD")  # main's lock
    old, new = repaint(repo)
    repo.build()
    repo.commit("an image repainted, and its lock")
    code, plan = repo.plan_json("--base", "main")
    assert code == 0  # the spec is main's, and the images are compared with the build folder: this branch's
    assert plan["lock"]["baseline"] == "main:example.lock"
    assert [d["text"] for d in plan["lock"]["differences"]] == [
        f"input {IMAGE}: changed (sha256 {old[:12]} -> {new[:12]})"]
    assert repo.plan("--base", "main", "--locked", "--exit-zero")[0] == 0  # the committed lock is current
    locked = json.loads((repo.root / "example.lock").read_text())
    assert locked["inputs"][IMAGE] == new
