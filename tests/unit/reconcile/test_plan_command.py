"""`odspec plan`: one test per classification, the config and dataset diffs, --base, the three formats, exit codes.

Every test works in a git repository it makes (real git, a `main` branch and a `change` branch), on a copy of
the bundled example, and runs the real command in a child process (no TensorFlow there either).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from reconcile_support import write_checkpoint, write_index

from odspec import api
from odspec.catalogue import CATALOGUE
from odspec.reconcile.record import new_run_record, write_run_record
from odspec.runner.session import versions

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
ARCH = "ssd_mobilenet_v2_fpnlite_320"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout


class Repo:
    """The bundled example in a git repository: ``main`` as written, ``change`` checked out for the edits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = root / "example.yaml"

    def edit(self, old: str, new: str) -> None:
        text = self.spec.read_text()
        assert old in text, old
        self.spec.write_text(text.replace(old, new, 1))

    def commit(self, message: str) -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)

    def build(self) -> None:
        api.build(self.spec, workers=1)

    def plan(self, *args: str) -> tuple[int, str, str]:
        done = subprocess.run([sys.executable, "-m", "odspec", "plan", "example.yaml", *args], cwd=self.root, check=False,
                              capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        return done.returncode, done.stdout, done.stderr

    def plan_json(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out, err = self.plan("--format", "json", *args)
        assert code in (0, 2), err
        return code, json.loads(out)

    def trained(self, step: int) -> Path:
        """A model directory as `odspec run` leaves it after ``step`` steps of the current build."""
        model_dir = self.root / "runs" / "shapes"
        model_dir.mkdir(parents=True)
        loaded = api.validate(self.spec, check_data=False)
        write_run_record(model_dir, new_run_record(loaded.loaded.spec, loaded.out_dir, versions()))
        write_checkpoint(model_dir, 2, step)
        write_index(model_dir, "ckpt-2", ["ckpt-2"])
        return model_dir


def _repo(tmp_path: Path, *, without: tuple[str, ...] = ()) -> Repo:
    repo = Repo(tmp_path / "repo")
    api.example(repo.root)
    for line in without:
        repo.edit(line, "")
    git(repo.root, "init", "-q", "-b", "main")
    repo.commit("the example")
    git(repo.root, "checkout", "-q", "-b", "change")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return _repo(tmp_path)


def spec_paths(plan: dict[str, Any]) -> dict[str, tuple[Any, Any, str]]:
    return {row["path"]: (row["old"], row["new"], row["effect"]) for row in plan["spec_fields"]}


def config_paths(plan: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {row["path"]: (row["old"], row["new"]) for row in plan["pipeline_config"]}


def test_nothing_changed_is_a_no_op_exit_0(repo: Repo) -> None:
    repo.build()
    code, plan = repo.plan_json()
    assert code == 0
    assert plan["format"] == "odspec-plan-1"
    assert plan["classification"] == {"kind": "no-op", "fields": [], "reason": "nothing changed",
                                      "resume_step": None, "checkpoints": "none"}
    assert (plan["spec_fields"], plan["pipeline_config"], plan["summary"]) == ([], [], "no changes")
    assert plan["dataset"]["counts"] == {"added": 0, "removed": 0, "changed": 0, "boxes": 0, "moved": 0}


def test_the_fast_no_op_prints_what_the_full_plan_prints(repo: Repo) -> None:
    repo.build()
    fast = repo.plan()
    full = repo.plan("--model-dir", "runs/shapes")  # any other option goes through the CLI
    assert fast == full
    assert fast[0] == 0
    assert fast[1].splitlines()[-3:] == ["classification: no-op", "  nothing changed", "summary: no changes"]
    imported = subprocess.run([sys.executable, "-X", "importtime", "-m", "odspec", "plan", "example.yaml"],
                              cwd=repo.root, capture_output=True, text=True, check=False).stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in imported.splitlines() if "|" in line}
    assert "odspec.plan.fast" in modules
    assert not modules & {"typer", "pydantic", "odspec.compile.render"}  # answered before any of them


def test_an_export_change_is_export_only(repo: Repo) -> None:
    repo.build()
    repo.edit("tflite: true", "tflite: false")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "export-only"
    assert plan["classification"]["fields"] == ["export.tflite"]
    assert spec_paths(plan) == {"export.tflite": (True, False, "safe")}
    assert plan["pipeline_config"] == []
    assert plan["summary"] == "1 safe change"


def test_an_eval_change_is_eval_only_and_shows_its_config_field(repo: Repo) -> None:
    repo.build()
    repo.edit("  split: val\n", "  split: val\n  visualizations: 4\n")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "eval-only"
    assert plan["classification"]["fields"] == ["eval.visualizations"]
    assert spec_paths(plan) == {"eval.visualizations": (10, 4, "safe")}
    assert config_paths(plan) == {"eval_config.num_visualizations": (10, 4)}


def test_more_steps_on_a_trained_model_dir_resume_from_its_step(repo: Repo) -> None:
    repo.build()
    repo.trained(step=200)
    repo.edit("steps: 1000", "steps: 1200")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"] == {
        "kind": "resume", "fields": ["train.steps"], "resume_step": 200, "checkpoints": "valid",
        "reason": "safe for trained checkpoints: `odspec run` resumes from step 200"}
    assert spec_paths(plan) == {"train.steps": (1000, 1200, "safe")}
    assert config_paths(plan)["train_config.num_steps"] == (1000, 1200)
    assert plan["baseline"]["model_dir"] == str((repo.root / "runs" / "shapes").resolve())


def test_a_batch_size_change_retrains_and_scales_the_learning_rate(tmp_path: Path) -> None:
    repo = _repo(tmp_path, without=("  learning_rate: {type: cosine, base: 0.04, warmup_rate: 0.01, warmup_steps: 50}\n",))
    repo.build()
    repo.trained(step=100)
    repo.edit("batch_size: 4", "batch_size: 8")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "retrain"
    assert plan["classification"]["fields"] == ["train.batch_size"]
    assert plan["classification"]["checkpoints"] == "invalid"
    assert spec_paths(plan) == {"train.batch_size": (4, 8, "retrain")}
    configs = config_paths(plan)
    assert configs["train_config.batch_size"] == (4, 8)
    rate = [(old, new) for path, (old, new) in configs.items() if path.endswith(".learning_rate_base")]
    assert len(rate) == 1 and rate[0][1] == pytest.approx(2 * rate[0][0])
    assert plan["summary"] == "1 retrain-forcing change"


def test_a_field_left_to_the_catalogue_default_shows_the_default_in_the_config(repo: Repo) -> None:
    repo.build()
    repo.edit("  batch_size: 4\n", "")
    code, plan = repo.plan_json()
    assert code == 2
    default = CATALOGUE[ARCH].train.batch_size
    assert default != 4
    assert spec_paths(plan) == {"train.batch_size": (4, None, "retrain")}
    assert config_paths(plan)["train_config.batch_size"] == (4, default)
    assert plan["classification"]["kind"] == "retrain"
    assert plan["classification"]["fields"] == ["train.batch_size"]


def _copy_image(repo: Repo, source: str, name: str) -> None:
    """A new image (the source with a corner painted, so not a duplicate) and its annotation."""
    from PIL import Image

    shapes = repo.root / "shapes"
    with Image.open(shapes / "images" / f"{source}.jpg") as image:
        copy = image.convert("RGB")
    shade = int(hashlib.sha256(name.encode()).hexdigest()[:2], 16)
    copy.paste((shade, 255 - shade, 128), (0, 0, 24, 24))
    copy.save(shapes / "images" / f"{name}.jpg", quality=95)
    xml = (shapes / "annotations" / f"{source}.xml").read_text().replace(f"{source}.jpg", f"{name}.jpg")
    (shapes / "annotations" / f"{name}.xml").write_text(xml)


def test_added_images_rebuild_the_records_and_move_no_image(repo: Repo) -> None:
    repo.build()
    for n in range(3):
        _copy_image(repo, "shape_0000", f"shape_new_{n}")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "rebuild-records"
    assert plan["classification"]["fields"] == ["dataset (records)"]
    assert plan["classification"]["checkpoints"] == "none"
    images = plan["dataset"]["images"]
    assert sorted(i["image"] for i in images) == ["shape_new_0.jpg", "shape_new_1.jpg", "shape_new_2.jpg"]
    assert {i["what"] for i in images} == {"added"}
    assert plan["dataset"]["counts"]["moved"] == 0
    assert (plan["dataset"]["old_images"], plan["dataset"]["new_images"]) == (60, 63)
    assert plan["spec_fields"] == []
    code, text, _ = repo.plan()
    assert "  no image moves between splits" in text.splitlines()


def test_an_edited_box_rebuilds_the_records_and_invalidates_checkpoints(repo: Repo) -> None:
    repo.build()
    repo.trained(step=100)
    xml_path = repo.root / "shapes" / "annotations" / "shape_0003.xml"
    xml = xml_path.read_text()
    start = xml.index("<xmin>") + len("<xmin>")
    end = xml.index("</xmin>")
    xml_path.write_text(xml[:start] + str(int(float(xml[start:end])) + 5) + xml[end:])
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "rebuild-records"
    assert plan["classification"]["fields"] == ["dataset (records)"]
    assert plan["classification"]["checkpoints"] == "invalid"
    assert plan["spec_fields"] == []
    assert plan["dataset"]["images"] == [{"image": "shape_0003.jpg", "what": "boxes", "old_split": "train",
                                          "new_split": "train", "detail": plan["dataset"]["images"][0]["detail"]}]
    assert plan["dataset"]["images"][0]["detail"].endswith("edited")


def test_base_revision_compares_with_the_spec_in_git(repo: Repo) -> None:
    repo.edit("steps: 1000", "steps: 900")
    repo.edit("tflite: true", "tflite: false")
    repo.edit("  max_detections: 20\n", "  max_detections: 20\n  input_size: [384, 384]\n")
    repo.commit("bigger")
    code, plan = repo.plan_json("--base", "main")
    assert code == 2
    assert plan["baseline"]["kind"] == "git" and plan["baseline"]["revision"] == "main"
    assert plan["classification"]["kind"] == "retrain"
    assert plan["classification"]["fields"] == ["model.input_size"]
    assert spec_paths(plan) == {"export.tflite": (True, False, "safe"), "model.input_size": (None, [384, 384], "retrain"),
                                "train.steps": (1000, 900, "safe")}
    assert plan["summary"] == "1 retrain-forcing change, 2 safe changes"
    assert plan["dataset"]["compared"] is False  # no build in this checkout


def test_base_revision_where_the_spec_did_not_exist_shows_everything_new(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("models\n")
    repo = Repo(root)
    repo.commit("no spec yet")
    git(root, "checkout", "-q", "-b", "change")
    api.example(root / "example")
    repo = Repo(root / "example")
    repo.commit("the example")
    code, plan = repo.plan_json("--base", "main")
    assert code == 2
    assert plan["baseline"]["spec_existed"] is False
    assert plan["classification"]["kind"] == "retrain"
    assert plan["classification"]["fields"] == ["spec"]
    assert plan["spec_fields"] and {r["action"] for r in plan["spec_fields"]} == {"added"}
    assert {r["action"] for r in plan["pipeline_config"]} == {"added"}
    assert plan["dataset"]["counts"]["added"] == 60 and plan["dataset"]["old_images"] == 0


def test_an_unknown_revision_exits_1(repo: Repo) -> None:
    code, out, err = repo.plan("--base", "no-such-branch")
    assert (code, out) == (1, "")
    assert err == (f"error: git revision 'no-such-branch' not found in {repo.root.resolve()} (fetch it first "
                   "(e.g. `git fetch origin main`), or name a branch, tag or commit)\n")


def test_a_usage_error_exits_1_not_2(repo: Repo) -> None:
    assert repo.plan("--format", "yaml")[0] == 1
    assert repo.plan("--no-such-option")[0] == 1


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each table of the document under the heading before it: header row first, then the body rows."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables: dict[str, list[list[str]]] = {}
    heading, rows, row, inside = "", [], [], ""
    for token in tokens:
        if token.type in ("heading_open", "th_open", "td_open"):
            inside = token.type
        elif token.type in ("heading_close", "th_close", "td_close"):
            inside = ""
        elif token.type == "inline" and inside == "heading_open":
            heading = token.content
        elif token.type == "inline" and inside:
            row.append(token.content)
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "table_close":
            tables.setdefault(heading, []).extend(rows)
            rows = []
    return tables


def test_markdown_parses_back_into_its_tables(repo: Repo) -> None:
    repo.build()
    repo.edit("steps: 1000", "steps: 1200")
    for n in range(12):  # more than a table shows unfolded
        _copy_image(repo, "shape_0001", f"shape_more_{n:02d}")
    code, markdown, _ = repo.plan("--format", "markdown")
    assert code == 2
    tables = _tables(markdown)
    assert tables["Classification"] == [
        ["classification", "fields", "resume from step", "checkpoints", "why"],
        ["rebuild-records", "dataset (records)", "-", "none", "the dataset changed: the records are rebuilt"]]
    assert tables["Spec fields"] == [["field", "change", "old", "new", "effect"],
                                     ["train.steps", "changed", "1000", "1200", "safe"]]
    assert ["train_config.num_steps", "changed", "1000", "1200"] in tables["pipeline.config"]
    dataset = tables["Dataset"]
    assert dataset[:2] == [["images before", "images after", "added", "removed", "pixels changed", "boxes changed",
                            "moved split"], ["60", "72", "12", "0", "0", "0", "0"]]
    assert dataset[2] == ["image", "change", "old split", "new split", "detail"]
    assert [row[:2] for row in dataset[3:]] == [[f"shape_more_{n:02d}.jpg", "added"] for n in range(12)]
    assert "<details><summary>12 image changes</summary>" in markdown


def test_plan_never_imports_tensorflow(repo: Repo) -> None:
    repo.build()
    repo.edit("steps: 1000", "steps: 1200")
    code = ("import sys\nfrom pathlib import Path\nfrom odspec import api\n"
            "api.plan(Path('example.yaml'))\nprint('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


def test_a_build_from_before_plan_counts_every_field_of_a_changed_section(repo: Repo) -> None:
    repo.build()
    manifest_path = repo.root / "build" / "shapes" / "build.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["spec_resolved"]  # as an odspec before `plan` wrote it: a hash per section only
    manifest_path.write_text(json.dumps(manifest))
    repo.edit("tflite: true", "tflite: false")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "export-only"
    assert {r["path"] for r in plan["spec_fields"]} == {"export.saved_model", "export.tflite"}
    assert {(r["old"], r.get("old_known")) for r in plan["spec_fields"]} == {(None, False)}
    assert plan["notes"] == [("the build was made by an odspec that kept only a hash per spec section: every field of "
                             "a changed section counts as changed, without its old value (rebuild to see them)")]


def test_a_run_whose_build_is_gone_is_still_classified_by_its_record(repo: Repo) -> None:
    repo.build()
    repo.trained(step=300)
    shutil.rmtree(repo.root / "build")
    repo.edit("steps: 1000", "steps: 700")
    code, plan = repo.plan_json()
    assert code == 2
    assert plan["classification"]["kind"] == "resume"
    assert (plan["classification"]["fields"], plan["classification"]["resume_step"]) == (["train.steps"], 300)
    assert spec_paths(plan) == {"train.steps": (None, 700, "safe")}
    assert plan["spec_fields"][0]["old_known"] is False
    assert plan["dataset"]["compared"] is False
    assert plan["notes"][-1] == "the run record keeps a hash of each spec field, not its value: old values are not recorded"


def test_an_unfinished_run_with_nothing_changed_is_a_no_op_with_a_note(repo: Repo) -> None:
    repo.build()
    repo.trained(step=300)
    code, plan = repo.plan_json()
    assert code == 0
    assert plan["classification"] == {"kind": "no-op", "fields": [], "reason": "nothing changed", "resume_step": 300,
                                      "checkpoints": "valid"}
    assert plan["notes"] == ["training is not finished: `odspec run` goes on from step 300 to 1000"]
