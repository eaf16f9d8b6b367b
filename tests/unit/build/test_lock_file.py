"""The lock file `odspec build` writes beside the spec, and `odspec build --locked` refusing every kind of drift.

Each test builds a small synthetic VOC dataset in its own folder (no TensorFlow), changes one thing, and checks
the exact difference listed, that a refusal writes nothing, and that the lock stays byte-identical otherwise.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import minimal_spec, tree_digest, write_spec

from odspec import api
from odspec import build as building
from odspec import lock as locking
from odspec.errors import DatasetCheckError, LockError
from odspec.lock import FORMAT, LockDifference, compare, lock_bytes, make_lock

FIX = "run `odspec build` without --locked and commit spec.lock, or restore what differs"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A built project: ``spec.yaml``, ``data/images``, ``data/annotations``, ``build/test`` and ``spec.lock``."""
    from odspec.datasets.synthetic import make_shapes

    make_shapes(tmp_path / "data", 8, size=(64, 64), seed=3)
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["circle", "square"], train={"batch_size": 4})
    spec_dict["dataset"].update(images="data/images", annotations="data/annotations")
    spec = write_spec(tmp_path, spec_dict)
    api.build(spec, workers=1)
    return spec


def refused(spec: Path) -> LockError:
    """``build --locked`` refuses and writes nothing: not in the build folder, not the lock."""
    before, lock = tree_digest(spec.parent / "build"), (spec.parent / "spec.lock").read_bytes()
    with pytest.raises(LockError) as caught:
        api.build(spec, workers=1, locked=True)
    assert tree_digest(spec.parent / "build") == before
    assert (spec.parent / "spec.lock").read_bytes() == lock
    assert caught.value.hint == FIX
    return caught.value


def listed(error: LockError) -> list[str]:
    lines = error.message.splitlines()
    count = len(error.differences)
    assert lines[0] == f"--locked: the build differs from spec.lock ({count} difference{'s' if count != 1 else ''}):"
    assert lines[1:] == [f"  {d}" for d in error.differences]
    return [str(d) for d in error.differences]


def changed(old: str, new: str) -> str:
    return f"changed (sha256 {old[:12]} -> {new[:12]})"


def test_the_lock_is_byte_identical_across_two_builds_and_clones(project: Path, tmp_path: Path) -> None:
    lock = project.parent / "spec.lock"
    first = lock.read_bytes()
    shutil.rmtree(project.parent / "build")
    api.build(project, workers=1)
    assert lock.read_bytes() == first
    clone = tmp_path / "elsewhere" / "clone"
    shutil.copytree(project.parent, clone, ignore=shutil.ignore_patterns("build", "elsewhere"))
    (clone / "spec.lock").unlink()
    api.build(clone / "spec.yaml", workers=1)
    assert (clone / "spec.lock").read_bytes() == first  # no absolute path, no time: a clone locks the same
    text = first.decode()
    assert str(tmp_path) not in text and text.endswith("}\n")
    found = json.loads(text)
    assert lock_bytes(found) == first  # sorted keys, the one text
    assert sorted(found) == ["format", "inputs", "outputs", "resolved", "spec", "versions"]
    assert (found["format"], found["spec"]) == (FORMAT, "spec.yaml")
    image = project.parent / "data" / "images" / "shape_0000.jpg"
    assert found["inputs"]["data/images/shape_0000.jpg"] == sha(image)
    assert found["inputs"]["data/annotations/shape_0000.xml"] == sha(project.parent / "data/annotations/shape_0000.xml")
    assert len(found["inputs"]) == 16
    assert found["resolved"]["train"]["batch_size"] == 4
    assert found["resolved"] == json.loads((project.parent / "build/test/build.json").read_text())["spec_resolved"]
    shards = sorted(p.name for p in (project.parent / "build" / "test").glob("*.tfrecord"))
    assert sorted(found["outputs"]) == sorted(["label_map.pbtxt", "pipeline.config", *shards])
    assert found["outputs"]["label_map.pbtxt"] == sha(project.parent / "build/test/label_map.pbtxt")
    assert sorted(found["versions"]) == ["object_detection", "odspec", "tensorflow"]


def test_a_spec_inside_its_export_root_locks_the_dataset_not_its_own_build(tmp_path: Path) -> None:
    """`dataset: {path: .}` beside a Roboflow export's split folders: the export root also holds the spec, its
    lock, `build/` (with its staging and work folders while the build runs) and a `.git` folder. The lock lists
    the export's files only, so it is the same after every build and `--locked` accepts it."""
    from tests.unit.datasets.layouts.exports import roboflow_coco

    roboflow_coco(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").write_bytes(b"changes with every commit")
    spec_dict = minimal_spec("ssd_mobilenet_v2_fpnlite_320", ["cat", "dog"], train={"batch_size": 4})
    spec_dict["dataset"] = {"path": ".", "classes": ["cat", "dog"]}
    spec = write_spec(tmp_path, spec_dict)
    api.build(spec, workers=2)
    lock = (tmp_path / "spec.lock").read_bytes()
    inputs = json.loads(lock)["inputs"]
    assert sorted(inputs) == ["README.roboflow.txt", "spec.yaml", "test/_annotations.coco.json", "test/d.jpg",
                              "train/_annotations.coco.json", "train/a.jpg", "train/b.jpg",
                              "valid/_annotations.coco.json", "valid/c.jpg"]
    (tmp_path / ".git" / "index").write_bytes(b"another commit")
    (tmp_path / "spec.yaml").write_text((tmp_path / "spec.yaml").read_text() + "\n")  # a full build again
    api.build(spec, workers=2)
    assert (tmp_path / "spec.lock").read_bytes() != lock  # the spec's own hash changed, and only that:
    assert json.loads((tmp_path / "spec.lock").read_bytes())["inputs"].keys() == inputs.keys()
    api.build(spec, workers=2, locked=True)


def test_image_digests_read_only_the_hash_even_when_a_name_or_an_error_spells_its_key(tmp_path: Path) -> None:
    """The plan's cache members, one per line as the build writes them (sorted keys, compact)."""
    from odspec.datasets.images import ImageInfo
    from odspec.datasets.pipeline import info_fields

    tricky = '"sha256":"0000.jpg'
    infos = [ImageInfo("a.jpg", "a" * 64, 10, "JPEG", "RGB", 4, 4, 1, None, 7),
             ImageInfo(tricky, "b" * 64, 10, "JPEG", "RGB", 4, 4, 1, 'corrupt: "sha256":"c"', 0),
             ImageInfo("ü/\\x.png", "c" * 64, 10, "PNG", "RGB", 4, 4, 1, None, 0)]
    members = tmp_path / "cache"
    members.write_text("".join(
        f"{json.dumps(i.path)}:{json.dumps({'info': info_fields(i), 'stat': [1, 2, 3], 'verify': False}, sort_keys=True, separators=(',', ':'))}\n"
        for i in infos))
    assert locking.image_digests(members) == {"a.jpg": "a" * 64, tricky: "b" * 64, "ü/\\x.png": "c" * 64}


def test_a_no_op_build_leaves_the_lock_and_lists_it_unchanged(project: Path) -> None:
    lock = project.parent / "spec.lock"
    result = api.build(project, workers=1)
    assert [c.change for c in result.changes if c.path == lock] == ["unchanged"]
    assert {c.change for c in result.changes} == {"unchanged"}
    fresh = building.up_to_date_for(project)
    assert fresh is not None and fresh[1][-1].path == lock


def test_a_missing_or_edited_lock_is_written_again_and_the_fast_path_declines(project: Path) -> None:
    lock = project.parent / "spec.lock"
    first = lock.read_bytes()
    lock.write_bytes(first.replace(b'"batch_size": 4', b'"batch_size": 5'))
    assert building.up_to_date_for(project) is None  # not this build's lock: the full build rewrites it
    result = api.build(project, workers=1)
    assert [c.change for c in result.changes if c.path == lock] == ["updated"]
    assert lock.read_bytes() == first
    lock.unlink()
    dry = api.build(project, workers=1, dry_run=True)
    assert [c.change for c in dry.changes if c.path == lock] == ["created"]
    assert not lock.exists()  # a dry run lists it, writes nothing
    assert [c.change for c in api.build(project, workers=1).changes if c.path == lock] == ["created"]
    assert lock.read_bytes() == first


def test_locked_passes_and_keeps_the_lock_identical(project: Path) -> None:
    lock = project.parent / "spec.lock"
    first = lock.read_bytes()
    assert {c.change for c in api.build(project, workers=1, locked=True).changes} == {"unchanged"}
    shutil.rmtree(project.parent / "build")  # a teammate's clone: the lock, no build yet
    api.build(project, workers=1, locked=True)
    assert lock.read_bytes() == first


def test_locked_without_a_lock_says_so(project: Path) -> None:
    (project.parent / "spec.lock").unlink()
    with pytest.raises(LockError) as caught:
        api.build(project, workers=1, locked=True)
    assert str(caught.value) == (f"--locked: there is no lock file {project.parent / 'spec.lock'} "
                                 "(run `odspec build` without --locked to write it, and commit it)")
    assert not (project.parent / "spec.lock").exists()


def test_locked_refuses_an_image_whose_pixels_changed(project: Path) -> None:
    image = project.parent / "data" / "images" / "shape_0003.jpg"
    old = sha(image)
    Image.open(image).rotate(180).save(image)
    assert listed(refused(project)) == [f"input data/images/shape_0003.jpg: {changed(old, sha(image))}"]


def _add_copy(data: Path, stem: str, new: str) -> tuple[Path, Path]:
    annotation = data / "annotations" / f"{new}.xml"
    annotation.write_text((data / "annotations" / f"{stem}.xml").read_text().replace(stem, new))
    image = data / "images" / f"{new}.jpg"
    Image.open(data / "images" / f"{stem}.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(image)
    return annotation, image


def test_locked_refuses_an_added_image(project: Path) -> None:
    annotation, image = _add_copy(project.parent / "data", "shape_0001", "shape_0100")
    assert listed(refused(project)) == [
        f"input data/annotations/shape_0100.xml: added (sha256 {sha(annotation)[:12]})",
        f"input data/images/shape_0100.jpg: added (sha256 {sha(image)[:12]})",
    ]


def test_locked_refuses_a_removed_image(project: Path) -> None:
    data = project.parent / "data"
    old_xml, old_jpg = sha(data / "annotations/shape_0005.xml"), sha(data / "images/shape_0005.jpg")
    (data / "annotations" / "shape_0005.xml").unlink()
    (data / "images" / "shape_0005.jpg").unlink()
    assert listed(refused(project)) == [
        f"input data/annotations/shape_0005.xml: removed (was sha256 {old_xml[:12]})",
        f"input data/images/shape_0005.jpg: removed (was sha256 {old_jpg[:12]})",
    ]


def test_locked_refuses_an_edited_annotation(project: Path) -> None:
    annotation = project.parent / "data" / "annotations" / "shape_0002.xml"
    old = sha(annotation)
    annotation.write_text(annotation.read_text().replace("<pose>", "<pose>Left").replace("</pose>", "</pose>"))
    if sha(annotation) == old:  # no <pose>: a comment changes the bytes all the same
        annotation.write_text(annotation.read_text() + "<!-- edited -->\n")
    assert listed(refused(project)) == [f"input data/annotations/shape_0002.xml: {changed(old, sha(annotation))}"]


def test_locked_refuses_a_changed_spec_field(project: Path) -> None:
    config = project.parent / "build" / "test" / "pipeline.config"
    old = json.loads((project.parent / "spec.lock").read_text())["outputs"]["pipeline.config"]
    project.write_text(project.read_text().replace("batch_size: 4", "batch_size: 8"))
    differences = listed(refused(project))
    assert differences[0] == "spec train.batch_size: 4 -> 8"
    assert differences[1].startswith(f"output pipeline.config: changed (sha256 {old[:12]} -> ")
    assert len(differences) == 2
    assert config.is_file()


def test_locked_refuses_a_resolved_config_the_spec_does_not_show(project: Path) -> None:
    """The same spec file compiled to another config (a catalogue default that changed between odspecs)."""
    lock = project.parent / "spec.lock"
    found = json.loads(lock.read_text())
    current = found["outputs"]["pipeline.config"]
    found["outputs"]["pipeline.config"] = "0" * 64
    found["resolved"]["eval"]["split"] = "test"
    lock.write_bytes(lock_bytes(found))
    assert listed(refused(project)) == [
        'spec eval.split: "test" -> "val"',
        f"output pipeline.config: changed (sha256 000000000000 -> {current[:12]})",
    ]


def test_locked_refuses_other_tool_versions(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = project.parent / "spec.lock"
    recorded = json.loads(lock.read_text())["versions"]
    other = "2.20.0" if recorded["tensorflow"] == "2.15.1" else "2.15.1"  # whichever stack this test runs on
    monkeypatch.setattr(locking, "installed_versions", lambda: {**recorded, "tensorflow": other})
    assert listed(refused(project)) == [f"versions tensorflow: {recorded['tensorflow']} -> {other}"]


def test_a_failed_build_leaves_the_previous_lock(project: Path) -> None:
    lock = project.parent / "spec.lock"
    first = lock.read_bytes()
    project.write_text(project.read_text().replace("batch_size: 4", "batch_size: 8"))
    annotation = project.parent / "data" / "annotations" / "shape_0004.xml"
    annotation.write_text(annotation.read_text().replace("<xmin>", "<xmin>-9999", 1))  # on_bad_annotation: stop
    with pytest.raises(DatasetCheckError):
        api.build(project, workers=1)
    assert lock.read_bytes() == first


def test_annotation_digests_are_read_again_only_for_changed_files(project: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = project.parent / "build" / "test"
    cached = building.read_file_digests(out)
    members = sorted(cached)
    assert len(members) == 8 and all(m.endswith(".xml") for m in members)
    hashed: list[str] = []
    real = locking.file_sha256_or_none

    def counting(path: Path | str) -> str | None:
        hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(locking, "file_sha256_or_none", counting)
    assert locking.file_digests(members, cached) == cached
    assert hashed == []
    Path(members[2]).write_text(Path(members[2]).read_text() + "\n")
    again = locking.file_digests(members, cached)
    assert hashed == [members[2]]
    assert again[members[2]]["sha256"] == sha(Path(members[2]))


# --- the comparison, pure ------------------------------------------------------------------------------------------

def _lock(**changes: Any) -> dict[str, Any]:
    parts: dict[str, Any] = {"resolved": {"train": {"batch_size": 4}}, "inputs": {"a.jpg": "a" * 64},
                             "outputs": {"pipeline.config": "c" * 64, "train-00000-of-00001.tfrecord": "crc32c:1"},
                             "versions": {"odspec": "0.1.0", "tensorflow": "2.20.0", "object_detection": "2.8.0"}}
    parts.update(changes)
    return make_lock("spec.yaml", **parts)


def test_compare_lists_each_kind_in_order() -> None:
    new = _lock(resolved={"train": {"batch_size": 8, "seed": 0}}, inputs={"b.jpg": "b" * 64},
                outputs={"pipeline.config": "d" * 64, "train-00000-of-00001.tfrecord": "crc32c:2"},
                versions={"odspec": "0.1.0", "tensorflow": "2.15.1", "object_detection": "2.8.0"})
    assert [str(d) for d in compare(_lock(), new)] == [
        "spec train.batch_size: 4 -> 8",
        "spec train.seed: (absent) -> 0",
        "input a.jpg: removed (was sha256 aaaaaaaaaaaa)",
        "input b.jpg: added (sha256 bbbbbbbbbbbb)",
        "output pipeline.config: changed (sha256 cccccccccccc -> dddddddddddd)",
        "output train-00000-of-00001.tfrecord: changed (crc32c:1 -> crc32c:2)",
        "versions tensorflow: 2.20.0 -> 2.15.1",
    ]
    assert compare(_lock(), new, outputs=(), inputs=False)[-1] == LockDifference("versions", "tensorflow", "2.20.0",
                                                                                 "2.15.1")
    assert compare(_lock(), _lock()) == []
