"""odspec owns only what it created: --out never replaces a user's folder, file, spec or dataset (issue 8, item 1)."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import pytest
from support import minimal_spec, tree_digest, write_spec

from odspec import api, staging
from odspec.build import up_to_date_for
from odspec.datasets.synthetic import make_shapes
from odspec.errors import BuildError

FPNLITE = "ssd_mobilenet_v2_fpnlite_320"
HINT = "(choose an empty or new folder, or delete it yourself)"


def shapes_spec(folder: Path, project: str = "test") -> Path:
    if not (folder / "data").exists():
        make_shapes(folder / "data", 12, size=(64, 64), max_boxes=2, seed=5)
    spec = minimal_spec(FPNLITE, ["circle", "square"], project=project)
    spec["dataset"] = {**spec["dataset"], "images": "data/images", "annotations": "data/annotations"}
    return write_spec(folder, spec)


def change_spec(spec: Path) -> None:
    spec.write_text(spec.read_text() + "train:\n  steps: 777\n")


def odspec(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, stderr)."""
    from odspec.cli import main

    monkeypatch.setattr(sys, "argv", ["odspec", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code or 0, capsys.readouterr().err


def refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    """The build's one error line, after asserting exit 2 and that nothing below ``tmp_path`` changed."""
    before = tree_digest(tmp_path)
    code, err = odspec(monkeypatch, capsys, "build", *args, "-j", "1")
    assert code == 2, err
    assert tree_digest(tmp_path) == before
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def test_a_user_folder_with_files_is_refused_and_untouched(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    results = tmp_path / "results"
    (results / "b").mkdir(parents=True)
    (results / "a.txt").write_text("mine")
    err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(results))
    assert err == f"error: refusing to build into {results}: it is not an odspec build folder (it holds a.txt, b/) {HINT}"


def test_a_long_listing_is_cut_with_the_count(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    for index in range(7):
        (results / f"f{index}").write_text("x")
    err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(results))
    assert err == (f"error: refusing to build into {results}: it is not an odspec build folder "
                   f"(it holds f0, f1, f2, f3, f4 … 7 entries) {HINT}")


def test_a_file_as_build_folder_is_refused(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    (tmp_path / "out").write_text("not a folder")
    err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(tmp_path / "out"))
    assert err == f"error: refusing to build into {tmp_path / 'out'}: it is a file, not a folder (choose a new folder)"


def test_a_build_folder_below_a_file_is_refused(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    (tmp_path / "notes").write_text("a file")
    err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(tmp_path / "notes" / "build"))
    assert err == (f"error: refusing to build into {tmp_path / 'notes' / 'build'}: {tmp_path / 'notes'} is a file, "
                   f"not a folder (choose another folder)")


@pytest.mark.parametrize("out", [".", "data", "data/images", "data/annotations", "..", "linked"])
def test_the_spec_and_dataset_folders_and_their_ancestors_are_refused(monkeypatch, capsys, tmp_path: Path,
                                                                      out: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    spec = shapes_spec(project)
    (project / "linked").symlink_to(project / "data")  # a symlinked folder is the folder it names
    target = (project / out).resolve()
    err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(project / out))
    kept = {".": project, "..": project}.get(out, project / {"data": "data/images", "linked": "data/images"}.get(out, out))
    assert err == (f"error: refusing to build into {target}: it holds {kept}, which odspec must not replace "
                   f"(choose a new folder, e.g. build/<project> beside the spec)")


def test_files_odspec_did_not_write_in_a_build_folder_are_never_deleted(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, workers=1).out_dir
    assert json.loads((out / "build.json").read_text())["format"] == "odspec-build-1"
    (out / "notes.txt").write_text("my notes")
    change_spec(spec)
    err = refused(monkeypatch, capsys, tmp_path, str(spec))
    assert err == (f"error: refusing to replace {out}: it holds files odspec did not write: notes.txt "
                   f"(move them out of the build folder, then build again)")


def test_a_build_folder_odspec_made_is_replaced(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, tmp_path / "out", workers=1).out_dir
    change_spec(spec)
    assert any(c.change == "updated" for c in api.build(spec, out, workers=1).changes)
    assert "num_steps: 777" in (out / "pipeline.config").read_text()


def test_a_glob_character_in_the_build_path_is_refused_in_validate_too(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = tmp_path / "exp[1]"
    message = (f"error: refusing to build into {out}: its path holds one of * ? [ ], which the OD API reads as a "
               f"glob pattern and would find no records (choose a folder without them, e.g. --out {tmp_path / 'exp_1_'})")
    assert refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(out)) == message
    code, err = odspec(monkeypatch, capsys, "validate", str(spec), "--out", str(out))
    assert (code, err.strip()) == (2, message)


def test_the_fast_path_never_uses_an_unvalidated_project_name(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path / "a" / "b", project="../../victim")
    (tmp_path / "a" / "victim").mkdir()
    (tmp_path / "a" / ".victim.old").mkdir()
    (tmp_path / "a" / ".victim.old" / "precious.txt").write_text("keep me")
    assert up_to_date_for(spec) is None
    before = tree_digest(tmp_path)
    code, err = odspec(monkeypatch, capsys, "build", str(spec))
    assert code == 2 and "project" in err, err
    assert tree_digest(tmp_path) == before


def test_a_user_folder_named_like_a_backup_is_never_recovered(tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = api.build(spec, tmp_path / "out", workers=1).out_dir
    (tmp_path / ".out.old").mkdir()
    (tmp_path / ".out.old" / "mine.txt").write_text("keep me")
    assert up_to_date_for(spec, out) is not None
    api.build(spec, out, workers=1)
    assert (tmp_path / ".out.old" / "mine.txt").read_text() == "keep me"


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = api.build(shapes_spec(tmp_path), workers=2).out_dir
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes == dict.fromkeys(modes, 0o644)
    assert out.stat().st_mode & 0o777 == 0o755


def test_a_full_disk_is_one_error_and_leaves_the_previous_build(monkeypatch, tmp_path: Path) -> None:
    from odspec.records import writer

    spec = shapes_spec(tmp_path)
    out = api.build(spec, workers=1).out_dir
    before = tree_digest(tmp_path)
    change_spec(spec)
    before["spec.yaml"] = tree_digest(tmp_path)["spec.yaml"]

    def full(folder: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "train-00000-of-00001.tfrecord"))

    monkeypatch.setattr(writer, "write_shards", full)
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("Usage", (), {"free": 0})())
    with pytest.raises(BuildError) as failed:
        api.build(spec, workers=1)
    needed = sum(p.stat().st_size for p in (tmp_path / "data" / "images").iterdir()) / 1e6
    assert str(failed.value) == (
        f"no space left on {out.parent} while writing {out.parent / '.test.staging' / 'train-00000-of-00001.tfrecord'}; "
        f"the build needs about {max(needed, 1):.0f} MB more "
        f"(free some space there, or build elsewhere with --out; the previous build is intact)")
    assert tree_digest(tmp_path) == before


def test_an_unwritable_build_parent_is_one_error(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    (tmp_path / "build").mkdir()
    monkeypatch.setattr(staging.os, "open", denied)  # root ignores chmod, so the refusal is simulated
    err = refused(monkeypatch, capsys, tmp_path, str(spec))
    out = tmp_path / "build" / "test"
    assert err == (f"error: cannot write the build folder {out}: Permission denied ({out.parent}) "
                   f"(build into a folder you can write to, with --out)")


def test_no_wait_refuses_while_another_build_holds_the_folder(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    out = tmp_path / "out"
    with staging.build_lock(out):
        err = refused(monkeypatch, capsys, tmp_path, str(spec), "--out", str(out), "--no-wait")
    assert err == (f"error: another odspec build of {out} is running (pid {os.getpid()}) "
                   f"(wait for it to finish, or leave out --no-wait to wait for it)")


def not_ours(folder: Path, kind: str = "output") -> str:
    return f"error: refusing to write into {folder}: it is not an odspec {kind} folder (it holds mine.txt) {HINT}"


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    return folder


def run_refused(monkeypatch, capsys, tmp_path: Path, *args: str) -> str:
    before = tree_digest(tmp_path)
    code, err = odspec(monkeypatch, capsys, *args)
    assert code == 2, err
    assert tree_digest(tmp_path) == before
    return err.strip()


def test_run_refuses_a_model_dir_odspec_did_not_make_before_building(monkeypatch, capsys, tmp_path: Path) -> None:
    spec, folder = shapes_spec(tmp_path), user_folder(tmp_path)
    err = run_refused(monkeypatch, capsys, tmp_path, "run", str(spec), "--model-dir", str(folder), "--output", "plain")
    assert err == not_ours(folder, "model")


def test_run_refuses_the_spec_folder_as_model_dir(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    err = run_refused(monkeypatch, capsys, tmp_path, "run", str(spec), "--model-dir", str(tmp_path), "--output", "plain")
    assert err == (f"error: refusing to write into {tmp_path}: it holds {tmp_path}, which odspec must not replace "
                   f"(choose a new folder, e.g. build/<project> beside the spec)")


@pytest.mark.parametrize("command", ["export", "predict", "report"])
def test_export_predict_and_report_refuse_a_user_folder(monkeypatch, capsys, tmp_path: Path, command: str) -> None:
    spec, folder = shapes_spec(tmp_path), user_folder(tmp_path)
    images = [str(next((tmp_path / "data" / "images").iterdir()))] if command == "predict" else []
    err = run_refused(monkeypatch, capsys, tmp_path, command, str(spec), *images, "--to", str(folder))
    assert err == not_ours(folder)


def test_preview_refuses_a_folder_as_its_image(monkeypatch, capsys, tmp_path: Path) -> None:
    spec = shapes_spec(tmp_path)
    api.build(spec, workers=1)
    folder = user_folder(tmp_path)
    err = run_refused(monkeypatch, capsys, tmp_path, "preview", str(spec), "--image", str(folder))
    assert err == f"error: refusing to write {folder}: it is a folder (name a file, e.g. preview.png)"
