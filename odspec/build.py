"""`odspec build`: the config, the label map, the TFRecord shards and the dataset report, as one unit.

Everything goes through :class:`~odspec.staging.Staging`, so a failed or
interrupted build leaves the previous one intact. A rebuild skips what did not
change: when the spec and every input file are the same files as last time
(size, mtime, inode) it reads nothing at all; otherwise unchanged images are not
inspected again and unchanged shards are hard-linked, not rewritten.

Once the build is committed, the lock file beside the spec (:mod:`odspec.lock`) is written from what the build
already knows: the images' hashes from their inspection, the annotation files' from the cache (read again only
when their identity changed), the outputs' checksums. The input signature keeps the lock's hash, so a no-op
build only hashes the lock file to know it is still this build's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odspec import __version__
from odspec.errors import BuildError
from odspec.folders import BUILD_FORMAT, is_build_folder
from odspec.io import FileChange, file_identity, stat_identity
from odspec.lock import (
    LockInputs,
    annotation_members,
    file_sha256_or_none,
    lock_bytes,
    lock_content,
    lock_inputs,
    lock_path,
    odspec_outputs,
    put_lock,
    refuse_drift,
)
from odspec.resources import package_root, templates_folder
from odspec.spec.names import valid_project_name
from odspec.staging import (
    Staging,
    build_lock,
    current_build,
    out_of_space,
    recover,
    remove_leftovers,
    try_build_lock,
    watch_build_lock,
    work_folder,
)

if TYPE_CHECKING:
    from odspec.records.writer import ShardWrites

MANIFEST = "build.json"
CACHE = ".cache.json"  # inspected images by file identity
SIGNATURE = ".inputs.json"  # identity of every input: equal means nothing to do
SPLITS_FILE = "splits.json"
RECORD_FORMAT = "odspec-records-1"  # bump when the bytes of a record would change for the same inputs
# How long the report drawer may still take once the shards are written, before the build stops it and draws the
# figure itself: a safety net for a drawer that hangs or is stopped. The drawer runs at the build's own priority, so
# on a busy machine waiting for it is never slower than starting the figure over (niced, it was starved there: every
# build beside a training run waited out a 2 s timeout and then drew the figure anyway).
DRAW_WAIT_SECONDS = 30.0
Progress = Callable[[str, int], Callable[[int], None]]


def unchanged_line(count: int) -> str:
    """What a no-op build prints (the CLI's build command prints the same)."""
    return f"{'unchanged':>18}  {count} files (nothing changed)"


def no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


@dataclass(frozen=True)
class BuildOutcome:
    changes: list[FileChange]
    findings: list[Any]
    report_table: str | None
    skipped_reading: bool
    dataset_sha256: str | None = None  # build.json's, as a dry run would write it (None when reading was skipped)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _code_identity() -> list[Any]:
    """odspec's own files: a changed template or module must not pass for a no-op."""
    code = [*package_root().rglob("*.py"), *templates_folder().rglob("*.j2")]
    files = sorted(str(p.resolve()) for p in code)
    return [__version__, RECORD_FORMAT, [(f, file_identity(f)) for f in files]]


def _environment_identity() -> list[Any]:
    """The site-packages folders by identity: installing, upgrading or removing a package changes its folder.

    Cheaper than asking the package metadata for versions (that costs more than the rest of a no-op build);
    any change makes the next build a full one, which reads the versions and reuses everything else.
    """
    import site

    folders = sorted({*site.getsitepackages(), site.getusersitepackages()})
    return [(folder, file_identity(folder)) for folder in folders if os.path.isdir(folder)]


def _identity_and_link(path: str) -> tuple[list[int] | None, str | None]:
    """The file's :func:`file_identity` (through a link) and what a link says (repointing it is a change; None
    for a file), in one system call for a file that is not a link (a no-op build asks this of every image)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None, None
    if stat.S_ISLNK(info.st_mode):
        return file_identity(path), os.readlink(path)
    return stat_identity(info), None


def input_signature(spec_path: Path, out: Path, annotation_paths: list[str], root: str, image_rels: list[str]) -> str:
    """Identity of every input (spec file, odspec itself, annotations, images), cheap to recompute.

    Outputs are a function of these inputs only, so an equal signature means the
    build is up to date and a rebuild needs to read nothing (like make).
    So do the folders packages are installed in (:func:`_environment_identity`): the lock file records the
    installed TensorFlow and OD API versions.
    """
    spec_bytes = spec_path.read_bytes()
    files = [(member, *_identity_and_link(member))
             for member in annotation_members(annotation_paths, odspec_outputs(spec_path, out))]
    images = [(rel, *_identity_and_link(os.path.join(root, rel))) for rel in image_rels]
    payload = json.dumps([_code_identity(), _environment_identity(), str(spec_path.resolve()),
                          hashlib.sha256(spec_bytes).hexdigest(), str(out), files, root, images])
    return hashlib.sha256(payload.encode()).hexdigest()


def up_to_date(spec_path: Path, out: Path, *, write: bool = True) -> list[FileChange] | None:
    """Every output as unchanged when nothing the build depends on changed since it was made, else None.

    ``write`` False (a dry run) does not recover an interrupted swap; it reads the backup the recovery would restore.
    """
    if write:
        recover(out)
    current = current_build(out)
    inputs = _read_json(current / SIGNATURE)
    manifest = _read_json(current / MANIFEST)
    if not inputs or not manifest:
        return None
    try:
        signature = input_signature(spec_path, out, inputs["annotations"], inputs["root"], inputs["image_rels"])
    except (KeyError, OSError, TypeError):
        return None
    if signature != inputs.get("signature") or not all((current / n).is_file() for n in manifest.get("outputs", [])):
        return None
    lock = lock_path(spec_path)
    if inputs.get("lock_sha256") != file_sha256_or_none(lock):
        return None  # the lock beside the spec is missing or not this build's: building writes it again
    return [*_unchanged(out, manifest["outputs"]), FileChange(lock, "unchanged")]


def up_to_date_for(spec_path: Path, out_dir: Path | None = None) -> tuple[Path, list[FileChange]] | None:
    """``up_to_date`` for a spec file, without validating it: the fast path of a no-op ``odspec build``.

    Only the project name is read (for the default build folder); pydantic and
    the compiler are not even imported.
    """
    out = out_dir
    if out is None:
        project = _project_name(spec_path)
        if project is None:
            return None
        out = spec_path.resolve().parent / "build" / project
    out = out.resolve()
    if not (is_build_folder(out) or is_build_folder(out.with_name(f".{out.name}.old"))):
        return None  # only a folder odspec built is looked at, let alone recovered
    with try_build_lock(out) as held:
        if not held:
            return None  # another build is running: the full build waits for it
        remove_leftovers(out)
        changes = up_to_date(spec_path, out)
    return None if changes is None else (out, changes)


def _project_name(spec_path: Path) -> str | None:
    import yaml

    try:
        data = yaml.load(spec_path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    project = data.get("project") if isinstance(data, dict) else None
    valid = isinstance(project, str) and valid_project_name(project)
    return project if valid else None  # no path from an unchecked spec


def _cache_format() -> str:
    """Inspections cached by another odspec version are not trusted."""
    return f"{__version__}/{RECORD_FORMAT}"


def read_cache(out: Path) -> dict[str, Any]:
    """The build folder's inspected images by path (empty when absent, unreadable or another odspec's)."""
    return _cache_section(out, "images")


def read_file_digests(out: Path) -> dict[str, Any]:
    """The cache's annotation files: path -> ``{"stat": identity, "sha256": ...}`` (empty when absent)."""
    return _cache_section(out, "files")


def _cache_section(out: Path, key: str) -> dict[str, Any]:
    cache = _read_json(out / CACHE)
    if not isinstance(cache, dict) or cache.get("format") != _cache_format():
        return {}
    section = cache.get(key, {})
    return section if isinstance(section, dict) else {}


def previous_splits(out: Path) -> dict[str, Any]:
    """The split of every image the last build placed (splits.json), so that images keep their split."""
    found = _read_json(out / SPLITS_FILE)
    return found if isinstance(found, dict) else {}


def _unchanged(out: Path, names: list[str]) -> list[FileChange]:
    return [FileChange(out / name, "unchanged") for name in names]


def build_project(loaded: Any, files: dict[str, bytes], out: Path, *, max_boxes: int,
                  check_read: Callable[[int], None], dry_run: bool = False,
                  progress: Progress = no_progress, workers: int | None = None, wait: bool = True,
                  locked: bool = False) -> BuildOutcome:
    """Build ``out`` from the validated spec ``loaded`` and its compiled ``files``, holding the folder's lock.

    ``locked`` (``--locked``): refuse, before writing anything, when the data, the resolved spec, the compiled
    config or the versions differ from the lock file beside the spec (:func:`odspec.lock.refuse_drift`).

    ``dry_run`` takes the same path with writing turned off (:class:`Staging` with
    ``write=False``): the same decisions, the same list of changes, nothing written
    in or beside ``out`` (no lock file: it only waits for a build that is running; no
    cache, no work folder; its scratch is a private temporary folder, removed).
    """
    write = not dry_run
    with build_lock(out, wait=wait) if write else watch_build_lock(out, wait=wait):
        if write:
            remove_leftovers(out)
        try:
            return _build_locked(loaded, files, out, max_boxes=max_boxes, check_read=check_read, write=write,
                                 progress=progress, workers=workers, locked=locked)
        except OSError as failed:
            if out_of_space(failed):
                raise _no_space(out, failed, loaded) from None
            raise
        finally:
            if write:
                remove_leftovers(out)


def _no_space(out: Path, failed: OSError, loaded: Any) -> BuildError:
    """How much more the build needs: about the images' bytes (records hold them) less what is free."""
    root = loaded.root / loaded.spec.dataset.images_root
    needed = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    free = shutil.disk_usage(out.parent).free
    more = max(needed - free, 0) / 1e6
    return BuildError(f"no space left on {out.parent} while writing {failed.filename or out}; "
                      f"the build needs about {max(more, 1):.0f} MB more",
                      "free some space there, or build elsewhere with --out; the previous build is intact")


def _build_locked(loaded: Any, files: dict[str, bytes], out: Path, *, max_boxes: int,
                  check_read: Callable[[int], None], write: bool, progress: Progress,
                  workers: int | None, locked: bool) -> BuildOutcome:
    unchanged = None if locked else up_to_date(loaded.path, out, write=write)  # --locked: always compare
    if unchanged is not None:  # the lock beside the spec is this build's, and nothing it hashes changed
        return BuildOutcome(unchanged, [], None, True)
    dataset = loaded.spec.dataset
    annotations = [loaded.root / a for a in dataset.annotation_list]
    root = loaded.root / dataset.images_root
    current = current_build(out)  # an interrupted swap's backup: read all of it before the staging recovers it
    manifest = _read_json(current / MANIFEST) or {}
    cache, splits, file_digests = read_cache(current), previous_splits(current), read_file_digests(current)
    from odspec.datasets.pipeline import default_workers, plan_dataset

    workers = workers or default_workers()
    from odspec.timings import phase

    with _work_folder(out, write) as workdir, _Helpers(workers, workdir) as helpers, phase("build"):
        stage = Staging(out, write=write).open()
        writes = _shard_writes(stage, manifest, helpers.pool) if write else None
        try:
            with phase("inspect"):
                plan = plan_dataset(
                    loaded.root, dataset, max_boxes=max_boxes, check_read=check_read, cache=cache,
                    previous_splits=splits, workers=workers,
                    progress=progress, salt=RECORD_FORMAT, workdir=workdir, pool=helpers.pool,
                    needed=needed_splits(loaded.spec),
                    on_shard=None if writes is None or locked else writes.submit,  # --locked may refuse: not yet
                )
            del cache, splits
            inputs = lock_inputs(loaded, out, plan.cache_file, file_digests)
            if locked:
                refuse_drift(lock_path(loaded.path), lock_content(loaded, files, out, inputs, {}))
            return _write(loaded, files, stage, plan, manifest, annotations, root, progress, workers, helpers,
                          inputs, writes)
        except BaseException:
            if writes is not None:
                writes.stop()  # before the staging folder goes: no worker may still be writing into it
            stage.abandon()
            raise


def _shard_writes(stage: Staging, previous: dict[str, Any], pool: Any) -> ShardWrites:
    """The shard writer of a real build: each shard the previous build lacks is written as soon as it is planned."""
    from odspec.records.writer import ShardWrites

    old_shards, old_files = previous.get("shards", {}), previous.get("files", {})
    return ShardWrites(stage.folder, pool, lambda shard: not _reusable(shard, old_shards, old_files, stage))


def _reusable(shard: Any, old_shards: dict[str, Any], old_files: dict[str, str], stage: Staging) -> bool:
    """Whether the previous build's file of ``shard`` is this build's, byte for byte (so it is linked, not written).

    A shard's digest covers every byte of its records, so it is unchanged exactly when its digest is and the
    file is there; a real build also needs the old file's hash (build.json's), which a dry run does not.
    """
    same = old_shards.get(shard.name, {}).get("digest") == shard.digest and (stage.current / shard.name).is_file()
    return same and (shard.name in old_files or not stage.write)


@contextlib.contextmanager
def _work_folder(out: Path, write: bool) -> Iterator[Path]:
    """The plan's spill files: beside the build (a kill leaves them for the next build to remove), or, for a
    dry run, in a private temporary folder removed on return."""
    if not write:
        with tempfile.TemporaryDirectory(prefix="odspec-dry-run-work-") as scratch:
            yield Path(scratch)
        return
    workdir = work_folder(out)
    workdir.mkdir()
    yield workdir


def needed_splits(spec: Any) -> tuple[str, ...]:
    """The splits pipeline.config reads: train for training, ``eval.split`` for evaluation."""
    return ("train", spec.eval.split)


class _Helpers:
    """The worker pool (inspection, then shards) and the report renderer, forked before any image is read.

    A forked child starts with a copy of its parent's memory; forked this early,
    none of them carries the build's per-image data, so their memory does not
    grow with the dataset (the renderer only ever receives the report, as a file in ``scratch``).
    """

    def __init__(self, workers: int, scratch: Path) -> None:
        from multiprocessing import get_context

        from odspec.procs import default_sigterm, die_with_parent, parent_death_signal

        parent_death_signal()  # looked up here: a forked child only calls it
        context = get_context("fork")
        self.pool = None
        self.drawer = None
        self.scratch = scratch
        with default_sigterm():
            self.pool = context.Pool(workers, die_with_parent, (os.getpid(),)) if workers > 1 else None
            self._send, receive = context.Pipe()
            self.drawer = context.Process(target=_draw_when_told, args=(receive, self._send, os.getpid()),
                                          daemon=True)
            self.drawer.start()
            receive.close()

    def __enter__(self) -> _Helpers:  # noqa: PYI034
        return self

    def draw(self, report: Any, path: Path) -> None:
        """Render ``report`` to ``path`` in the background (matplotlib is slow).

        The report goes as a file, and the pipe carries two paths: a report's box sizes fill more than a pipe holds,
        and a send would wait for a drawer still importing matplotlib, or hung."""
        import pickle

        handed = self.scratch / "report.pickle"
        with handed.open("wb") as out:
            pickle.dump(report, out, protocol=pickle.HIGHEST_PROTOCOL)
        self._send.send((handed, path))

    def finish_drawing(self, report: Any, path: Path) -> None:
        assert self.drawer is not None
        self.drawer.join(DRAW_WAIT_SECONDS)
        if self.drawer.is_alive():  # hung or stopped: draw here instead
            self.drawer.kill()
            self.drawer.join()
            from odspec.io import partial_writes

            for cut_short in partial_writes(path):
                cut_short.unlink(missing_ok=True)
        if self.drawer.exitcode != 0 or not path.is_file():
            report.to_png(path)  # draw it here, so a failure shows its real traceback

    def __exit__(self, *failed: object) -> None:
        if self.drawer is not None:
            self._send.close()
            if failed[0] is not None:
                self.drawer.kill()  # not waiting for it to finish a figure nobody will use
            self.drawer.join()
        if self.pool is not None:
            self.pool.terminate() if failed[0] is not None else self.pool.close()
            self.pool.join()


def _draw_when_told(receive: Any, send: Any, parent: int) -> None:
    from odspec.procs import die_with_parent

    die_with_parent(parent)
    send.close()  # the fork's copy of the sending end: with it closed, the build closing its own is an EOF here
    from odspec.datasets.report import import_drawing

    # matplotlib's import (0.4 CPU seconds) is paid while the images are inspected, not beside the shard writers.
    import_drawing()
    try:
        handed, path = receive.recv()
    except EOFError:
        return
    import pickle

    with open(handed, "rb") as source:
        report = pickle.load(source)  # written by the build that forked this process
    report.to_png(path)


def _write(loaded: Any, files: dict[str, bytes], stage: Staging, plan: Any, previous: dict[str, Any],
           annotations: list[Path], root: Path, progress: Progress, workers: int, helpers: _Helpers,
           lock_in: LockInputs, writes: ShardWrites | None) -> BuildOutcome:
    """Stage every output and commit (the caller abandons ``stage`` on failure); a pretend ``stage`` decides each
    the same way and writes none of them.

    The one difference: a pretend build does not write the shards whose inputs
    changed (that is the slow part). ``writes`` (a real build's) has those already started.
    """
    out = stage.target
    for name, data in files.items():
        stage.put(name, data)
    old_shards, old_files = previous.get("shards", {}), previous.get("files", {})
    reuse = {s.name for s in plan.shards if _reusable(s, old_shards, old_files, stage)}
    for name in sorted(reuse):
        stage.link(name)
    report = plan.report
    helpers.draw(report, stage.folder / "report.png")
    todo = [s for s in plan.shards if s.name not in reuse]
    digests = {name: old_files[name] for name in reuse if name in old_files}
    if stage.write:
        assert writes is not None, "a real build has its shard writer"
        advance = progress("writing records", sum(s.count for s in todo))
        digests.update(writes.collect(todo, workers=workers, advance=advance))  # times its own "write" phase
        for name in sorted(set(digests) - reuse):
            stage.adopt(name)
    else:
        for name in sorted(s.name for s in todo):
            stage.rewrite(name)
        digests.update(_expected_digests(todo, old_shards, old_files))
    helpers.finish_drawing(report, stage.folder / "report.png")
    stage.adopt("report.png")
    stage.put("report.json", report.to_json())
    stage.put(SPLITS_FILE, _dump(plan.splits))
    outputs = [*files, *(s.name for s in plan.shards), "report.json", "report.png", SPLITS_FILE, MANIFEST]
    manifest = _manifest(loaded, stage.sha256, plan, outputs, digests)
    stage.put(MANIFEST, _dump(manifest))
    shard_sums = {s.name: manifest["files"][s.name] for s in plan.shards}  # the manifest's: hashed once
    lock = lock_bytes(lock_content(loaded, files, out, lock_in, shard_sums))
    inputs = {"annotations": [str(a) for a in annotations], "root": str(root), "image_rels": plan.image_rels,
              "lock_sha256": hashlib.sha256(lock).hexdigest()}
    inputs["signature"] = input_signature(loaded.path, out, inputs["annotations"], inputs["root"], plan.image_rels)
    _write_cache(plan.cache_file, lock_in.files, stage.folder / CACHE)
    stage.adopt(CACHE)
    stage.put(SIGNATURE, json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())
    stage.commit()
    changes = [c for c in stage.changes if c.path.name not in (CACHE, SIGNATURE)]
    changes.append(put_lock(lock_path(loaded.path), lock, write=stage.write))
    return BuildOutcome(
        changes, list(plan.findings) + report.class_warnings(), report.to_table(), False, dataset_digest(plan)
    )


def _expected_digests(todo: list[Any], old_shards: dict[str, Any], old_files: dict[str, str]) -> dict[str, str]:
    """The file hash build.json would record for each shard a dry run does not write.

    Same inputs digest, same bytes: the old hash. A changed digest changes build.json's
    ``shards`` entry anyway, so its file hash only needs to be new (a placeholder no hash equals).
    """
    return {
        s.name: old_files[s.name]
        if old_shards.get(s.name, {}).get("digest") == s.digest and s.name in old_files
        else f"not written by a dry run: {s.digest}"
        for s in todo
    }


def _write_cache(members: Path, files: dict[str, Any], path: Path) -> None:
    """``{"files": {path: entry}, "format": ..., "images": {rel: entry}}`` as compact sorted JSON.

    ``images`` from the plan's one member per line; ``files``: the annotation files' digests (the lock's).
    """
    with members.open() as lines, path.open("w") as cache:
        known = json.dumps(files, sort_keys=True, separators=(",", ":"))
        cache.write(f'{{"files":{known},"format":{json.dumps(_cache_format())},"images":{{')
        for index, line in enumerate(lines):
            cache.write(("," if index else "") + line.rstrip("\n"))
        cache.write("}}")


def _manifest(
    loaded: Any, sha256: Callable[[str], str], plan: Any, outputs: list[str], digests: dict[str, str]
) -> dict[str, Any]:
    """What produced this build: the spec per section, each output's hash, each shard's inputs digest."""
    spec = loaded.spec
    sections = section_hashes(spec.model_dump(mode="json"))
    files = {}
    for name in outputs:
        if name != MANIFEST:
            files[name] = digests.get(name) or sha256(name)
    return {
        "format": BUILD_FORMAT,
        "odspec": __version__,
        "spec": str(loaded.path.resolve()),
        "spec_sections": sections,
        "spec_resolved": spec.model_dump(mode="json"),  # every value, defaults filled in: what `odspec plan` diffs
        "architecture": spec.model.architecture,
        "outputs": outputs,
        "files": files,
        "shards": {s.name: {"split": s.split, "records": s.count, "digest": s.digest} for s in plan.shards},
        "dataset_sha256": dataset_digest(plan),
    }


def section_hashes(resolved: dict[str, Any]) -> dict[str, str]:
    """build.json's ``spec_sections``: one hash per top-level section of the resolved spec."""
    return {
        name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
        for name, value in resolved.items()
    }


def dataset_digest(plan: Any) -> str:
    """Every shard's inputs digest in one: equal digests, equal records."""
    return hashlib.sha256("".join(s.digest for s in plan.shards).encode()).hexdigest()
