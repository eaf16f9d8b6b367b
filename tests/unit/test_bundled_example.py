"""The bundled example: one spec text, written by `odspec example DIR` into a folder odspec may write, atomically."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, tree_digest

from odspec import api
from odspec.bundled_example import REPO_SPEC_HEADER, is_example_copy, relocated_spec, repo_spec_text, write_example
from odspec.errors import BuildError
from odspec.resources import example_folder

OUT = Path("/odspec-example-build")  # never written: validate compiles in memory


def test_specs_example_is_the_bundled_spec_relocated() -> None:
    assert (REPO / "specs" / "example.yaml").read_text() == repo_spec_text(), \
        "specs/example.yaml is made from odspec/example/example.yaml: run python scripts/make_example_data.py"


def test_specs_example_and_the_written_example_compile_to_the_same_files(tmp_path: Path) -> None:
    written = write_example(tmp_path / "shapes")
    ours = api.validate(written.spec, OUT).files
    repos = api.validate(REPO / "specs" / "example.yaml", OUT).files
    assert ours["pipeline.config"] == repos["pipeline.config"]
    assert ours["label_map.pbtxt"] == repos["label_map.pbtxt"]
    assert b"num_classes: 2" in ours["pipeline.config"]


def test_relocation_moves_only_the_dataset_folders_and_keeps_comments() -> None:
    text = "# top\nproject: p  # name\ndataset:\n  images: imgs   # here\n  annotations: ann\n  classes: [a]\n"
    assert relocated_spec(text, "../up") == REPO_SPEC_HEADER + (
        "# top\nproject: p  # name\ndataset:\n  images: ../up/imgs   # here\n  annotations: ../up/ann\n  classes: [a]\n")


@pytest.mark.parametrize("text, problem", [
    ("project: p\n", "no 'dataset'"),
    ("dataset:\n  images: i\n", "no 'annotations'"),
    ("dataset:\n  images: 'i'\n  annotations: a\n", "dataset.images must be a plain string"),
])
def test_relocation_refuses_what_it_cannot_rewrite_exactly(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        relocated_spec(text, "..")


def test_written_example_is_the_bundled_one_file_for_file(tmp_path: Path) -> None:
    written = write_example(tmp_path / "new" / "shapes")
    assert written.folder == (tmp_path / "new" / "shapes").resolve()
    assert tree_digest(written.folder) == tree_digest(example_folder())
    assert written.images == 60
    assert written.next_commands == [f"odspec build {tmp_path}/new/shapes/example.yaml",
                                     f"odspec run {tmp_path}/new/shapes/example.yaml"]
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["shapes"]  # no staging folder stays


def test_an_existing_empty_folder_is_filled_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inode = tmp_path.stat().st_ino
    written = write_example(Path("."))
    assert tmp_path.stat().st_ino == inode  # the shell's current folder is still the same folder
    assert tree_digest(tmp_path) == tree_digest(example_folder())
    assert written.next_commands == ["odspec build example.yaml", "odspec run example.yaml"]


def test_an_untouched_or_partial_copy_is_rewritten(tmp_path: Path) -> None:
    write_example(tmp_path / "ex")
    write_example(tmp_path / "ex")
    (tmp_path / "ex" / "shapes" / "images" / "shape_0000.jpg").unlink()
    write_example(tmp_path / "ex")
    assert tree_digest(tmp_path / "ex") == tree_digest(example_folder())


def test_a_folder_with_anything_else_is_refused_and_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(BuildError) as refused:
        write_example(mine)
    assert str(refused.value) == (f"refusing to write the example into {mine}: it is not an odspec example folder "
                                  "(it holds notes.txt) (choose an empty or new folder, or delete it yourself)")
    assert (mine / "notes.txt").read_text() == "keep" and len(list(mine.iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_an_edited_copy_or_one_with_a_build_beside_it_is_the_users(tmp_path: Path) -> None:
    source = example_folder()
    write_example(tmp_path / "edited")
    with (tmp_path / "edited" / "example.yaml").open("a") as spec:
        spec.write("# my change\n")
    assert not is_example_copy(tmp_path / "edited", source)
    write_example(tmp_path / "built")
    (tmp_path / "built" / "build" / "shapes").mkdir(parents=True)
    assert not is_example_copy(tmp_path / "built", source)
    write_example(tmp_path / "linked")
    (tmp_path / "linked" / "extra").symlink_to(tmp_path / "built" / "shapes")
    assert not is_example_copy(tmp_path / "linked", source)
    for name in ("edited", "built", "linked"):
        with pytest.raises(BuildError, match="not an odspec example folder"):
            write_example(tmp_path / name)
    assert (tmp_path / "edited" / "example.yaml").read_text().endswith("# my change\n")


def test_the_bundled_example_itself_is_never_written(tmp_path: Path) -> None:
    before = tree_digest(example_folder())
    with pytest.raises(BuildError, match="which odspec must not replace"):
        write_example(example_folder().parent)
    with pytest.raises(BuildError, match="inside odspec's own copy of it"):
        write_example(example_folder() / "shapes" / "new")
    assert tree_digest(example_folder()) == before


def test_a_failed_copy_leaves_no_folder_and_no_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copied = []

    def copy_then_fail(src: str, dst: str) -> str:
        if len(copied) == 10:
            raise OSError(28, "No space left on device")
        copied.append(src)
        return shutil.copyfile(src, dst)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_example(tmp_path / "ex")
    assert list(tmp_path.iterdir()) == []


def test_the_example_command_prints_the_next_commands_without_tensorflow(tmp_path: Path) -> None:
    code = ("import sys\nfrom odspec.cli import app\ntry:\n    app(['example', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "print('TF' if any(m.split('.')[0] == 'tensorflow' for m in sys.modules) else 'NO TF')")
    done = subprocess.run([sys.executable, "-c", code, "ex"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == [
        f"wrote the example to {tmp_path / 'ex'}: example.yaml and its dataset (60 images with Pascal VOC annotations)",
        "next:", "  odspec build ex/example.yaml", "  odspec run ex/example.yaml", "NO TF"], done.stderr
