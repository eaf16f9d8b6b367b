"""The pre-commit hooks (.pre-commit-hooks.yaml) and the GitHub Actions recipe (docs/ci/odspec-plan.yml) work.

Both files are parsed as their tools read them; every command they run is an odspec command that exists with
the options they give, and the workflow's steps run here, in order, against a real git repository with a
pull-request branch (the GitHub expressions substituted, `odspec` on PATH being this checkout's).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from support import REPO
from typer.testing import CliRunner

from odspec import api
from odspec.cli import app

HOOKS = REPO / ".pre-commit-hooks.yaml"
WORKFLOW = REPO / "docs" / "ci" / "odspec-plan.yml"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env,
                          check=True).stdout


def odspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "odspec", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, check=False)


def assert_command_exists(command: list[str]) -> None:
    """``odspec SUB --opt ...``: SUB is a command and every option it gives is in its --help."""
    assert command[0] == "odspec", command
    shown = CliRunner().invoke(app, [command[1], "--help"])
    assert shown.exit_code == 0, shown.output
    for option in (word.split("=")[0] for word in command[2:] if word.startswith("--")):
        assert option in shown.output, f"{option} is not an option of `odspec {command[1]}`"


# --- pre-commit ----------------------------------------------------------------------------------------------------

def hooks() -> dict[str, dict[str, Any]]:
    found = yaml.safe_load(HOOKS.read_text())
    assert isinstance(found, list)
    return {hook["id"]: hook for hook in found}


def test_the_hook_manifest_follows_pre_commits_format_and_names_real_commands() -> None:
    found = hooks()
    assert sorted(found) == ["odspec-plan-locked", "odspec-validate"]
    for hook in found.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert set(hook) <= {"id", "name", "description", "entry", "language", "files", "exclude", "types",
                             "types_or", "exclude_types", "always_run", "pass_filenames", "require_serial", "args",
                             "stages", "minimum_pre_commit_version", "verbose", "fail_fast"}
        assert hook["language"] == "python"  # pre-commit installs this repository: its `odspec` script
        assert_command_exists(shlex.split(hook["entry"]))
    validate, plan = found["odspec-validate"], found["odspec-plan-locked"]
    assert validate["pass_filenames"] is True and plan["pass_filenames"] is False and plan["always_run"] is True
    files = re.compile(validate["files"])
    assert files.search("specs/example.yaml") and files.search("specs/pets.yml")
    assert not files.search("README.md") and not files.search(".github/workflows/ci.yml")


@needs_git
def test_the_hooks_run_as_pre_commit_runs_them(tmp_path: Path) -> None:
    project = tmp_path / "specs"
    api.example(project)
    (project / "other.yaml").write_text((project / "example.yaml").read_text().replace("shapes", "other", 1))
    validate = shlex.split(hooks()["odspec-validate"]["entry"])[1:]
    checked = odspec(*validate, "specs/example.yaml", "specs/other.yaml", cwd=tmp_path)  # pass_filenames
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        "specs/example.yaml: ok (SSD MobileNet V2 FPNLite 320x320, 2 classes)",
        "specs/other.yaml: ok (SSD MobileNet V2 FPNLite 320x320, 2 classes)"]
    (project / "bad.yaml").write_text("version: 1\nproject: bad\n")
    some_bad = odspec(*validate, "specs/example.yaml", "specs/bad.yaml", "specs/other.yaml", cwd=tmp_path)
    assert some_bad.returncode == 2  # every spec checked, every error shown once
    assert some_bad.stdout == checked.stdout
    assert some_bad.stderr == ("error:\nspecs/bad.yaml:1:1: dataset: required key is missing\n"
                               "specs/bad.yaml:1:1: model: required key is missing\n")
    plan = [*shlex.split(hooks()["odspec-plan-locked"]["entry"])[1:], "specs/example.yaml"]  # args: [spec]
    api.build(project / "example.yaml", workers=1)
    assert odspec(*plan, cwd=tmp_path).returncode == 0
    (project / "example.yaml").write_text((project / "example.yaml").read_text().replace("steps: 1000", "steps: 600"))
    stale = odspec(*plan, cwd=tmp_path)
    assert stale.returncode == 1
    assert "  spec train.steps: 1000 -> 600\n" in stale.stderr


# --- GitHub Actions ------------------------------------------------------------------------------------------------

def workflow() -> dict[Any, Any]:
    found = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(found, dict)
    return found


def steps() -> list[dict[str, Any]]:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["plan"]
    return list(jobs["plan"]["steps"])


def odspec_commands(script: str) -> list[list[str]]:
    """Every ``odspec ...`` command of a step's script, up to a redirection or an operator.

    A GitHub expression ``${{ a.b }}`` reads as one word, ``@a.b@``.
    """
    found = []
    for line in re.sub(r"\$\{\{\s*(.+?)\s*\}\}", r"@\1@", script).splitlines():
        at = line.find("odspec ")
        if at == -1 or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line[at:], posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        end = next((i for i, w in enumerate(words) if w.strip("<>|&;") == ""), len(words))
        found.append(words[:end])
    return found


def test_the_workflow_runs_on_pull_requests_and_posts_the_markdown_plan() -> None:
    found = workflow()
    assert "pull_request" in found[True]  # YAML 1.1 reads the key `on` as true, as PyYAML does
    assert found["permissions"]["pull-requests"] == "write"
    scripts = [step["run"] for step in steps() if "run" in step]
    commands = [command for script in scripts for command in odspec_commands(script)]
    assert [c[:2] for c in commands] == [["odspec", "build"], ["odspec", "plan"], ["odspec", "build"]]
    for command in commands:
        assert_command_exists(command)
    assert commands[1][2:] == ["$SPEC", "--base", "origin/@github.base_ref@", "--format", "markdown"]
    assert commands[0][2:] == commands[2][2:-1] == ["$SPEC"]
    assert commands[2][-1] == "--locked"
    post = [step for step in steps() if "gh pr comment" in step.get("run", "")]
    assert len(post) == 1 and "--body-file plan.md" in post[0]["run"]
    assert post[0]["env"]["GH_TOKEN"] == "${{ github.token }}"


def pull_request(tmp_path: Path, *, update_lock: bool) -> tuple[Path, str]:
    """A repository like a user's: the example in specs/, main with its lock; a branch that repaints an image."""
    root = tmp_path / "repo"
    api.example(root / "specs")
    (root / ".gitignore").write_text("specs/build/\nplan.md\n")
    api.build(root / "specs" / "example.yaml", workers=1)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the example and its lock")
    git(root, "checkout", "-q", "-b", "change")
    image = root / "specs" / "shapes" / "images" / "shape_0007.jpg"
    Image.open(image).rotate(180).save(image)
    if update_lock:
        api.build(root / "specs" / "example.yaml", workers=1)
    git(root, "commit", "-q", "-am", "an image repainted")
    git(root, "remote", "add", "origin", str(root))
    git(root, "fetch", "-q", "origin")
    shutil.rmtree(root / "specs" / "build")  # a fresh clone in CI
    return root, git(root, "rev-parse", "HEAD").strip()


def run_steps(root: Path, head: str, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    """The workflow's own steps, but installing and commenting, in order, as GitHub runs them (bash -e)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "odspec").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m odspec "$@"\n')
    (bin_dir / "odspec").chmod(0o755)
    env = {**os.environ, **workflow()["env"], "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO), "NO_COLOR": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    expressions = {"${{ github.base_ref }}": "main", "${{ github.event.pull_request.head.sha }}": head}
    done = []
    for step in steps():
        script = step.get("run")
        if script is None or "pip install" in script or "gh pr comment" in script:
            continue
        for expression, value in expressions.items():
            script = script.replace(expression, value)
        assert "${{" not in script, script
        done.append(subprocess.run(["bash", "-e", "-c", script], cwd=root, env=env, capture_output=True, text=True,
                                   check=False))
        if done[-1].returncode != 0:
            break
    return done


@needs_git
def test_the_workflow_plans_the_pull_request_and_checks_its_lock(tmp_path: Path) -> None:
    root, head = pull_request(tmp_path, update_lock=True)
    done = run_steps(root, head, tmp_path)
    assert [d.returncode for d in done] == [0, 0, 0], [d.stderr for d in done]
    plan = (root / "plan.md").read_text()
    assert plan.startswith("### odspec plan: `specs/example.yaml`: **rebuild-records**\n")
    assert "| 60 | 60 | 0 | 0 | 1 | 0 | 0 |" in plan  # the image, against the base branch's build
    assert "#### Lock file\n\n`origin/main:specs/example.lock` against what building now would lock:" in plan
    assert "| input | shapes/images/shape_0007.jpg | changed (sha256 " in plan  # relative to the spec
    assert git(root, "status", "--porcelain") == ""  # the lock the pull request committed is the build's


@needs_git
def test_the_workflow_fails_a_pull_request_whose_lock_is_stale(tmp_path: Path) -> None:
    root, head = pull_request(tmp_path, update_lock=False)
    done = run_steps(root, head, tmp_path)
    assert [d.returncode for d in done] == [0, 0, 2]
    assert done[-1].stderr.startswith("error:\n--locked: the build differs from example.lock (1 difference):\n"
                                      "  input shapes/images/shape_0007.jpg: changed (sha256 ")
    plan = (root / "plan.md").read_text()
    assert "| input | shapes/images/shape_0007.jpg | changed (sha256 " in plan
    assert ("- example.lock differs from what building now would lock (1 difference): run `odspec build` and "
            "commit it\n") in plan
