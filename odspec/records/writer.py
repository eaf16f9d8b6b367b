"""Writing planned shards: one worker process per shard at a time, on every core.

A worker is told only the shard's place in the plan's job spill file and
streams its jobs from there, so neither the task nor the worker's memory grows
with the shard. A build hands each shard to :class:`ShardWrites` as soon as it
is planned, so the first shards are written while the rest are still planned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from odspec.datasets.images import encode_for_record
from odspec.datasets.pipeline import PlannedShard, RecordJob
from odspec.records.example import detection_example_parts
from odspec.records.tfrecord import write_records


def record_parts(job: RecordJob) -> tuple[bytes, bytes, bytes]:
    """One serialized tf.train.Example, in three parts (the image is the middle one):
    the image as it will be trained on, boxes in its frame."""
    encoded = encode_for_record(Path(job.root), job.image, rotate=job.rotate)
    return detection_example_parts(
        encoded=encoded.data,
        image_format=encoded.format,
        width=encoded.width,
        height=encoded.height,
        filename=job.image.path,
        source_id=job.image.path,
        sha256=job.image.sha256,
        boxes=job.boxes,
        class_texts=job.texts,
        class_ids=job.ids,
        difficult=job.difficult,
        truncated=job.truncated,
        views=job.views,
    )


def write_shard(args: tuple[str, PlannedShard]) -> tuple[str, int, str]:
    """Write one shard; returns its name, record count and file checksum.

    Not fsynced here: the build flushes everything once before it swaps the new
    build in (see :meth:`odspec.staging.Staging.commit`), so workers never wait on the disk;
    each shard's write-back starts as soon as it is written, so that flush has little left to wait for.
    """
    folder, shard = args
    info = write_records(Path(folder) / shard.name, (record_parts(job) for job in shard.jobs()), durable=False)
    return shard.name, info.count, info.checksum


def write_shards(folder: Path, shards: Sequence[PlannedShard], *, workers: int,
                 advance: Callable[[int], None], pool: Any = None) -> dict[str, str]:
    """Write every shard into ``folder`` (largest first, so the cores finish together); name -> checksum.

    ``pool``: a fork pool of ``workers`` processes to use instead of starting one.
    """
    tasks = [(str(folder), shard) for shard in sorted(shards, key=lambda s: -s.count)]
    done: dict[str, str] = {}
    if workers <= 1 or len(tasks) <= 1:
        results = map(write_shard, tasks)
        for name, count, digest in results:
            advance(count)
            done[name] = digest
        return done
    if pool is not None:
        for name, count, digest in pool.imap_unordered(write_shard, tasks):
            advance(count)
            done[name] = digest
        return done
    own = get_context("fork").Pool(min(workers, len(tasks)))
    try:
        for name, count, digest in own.imap_unordered(write_shard, tasks):
            advance(count)
            done[name] = digest
        return done
    finally:
        own.close()
        own.join()


class ShardWrites:
    """Shards written on ``pool`` (if any) as they are planned (:meth:`submit`), collected once the plan is done.

    ``wanted`` decides, from the planned shard alone, whether it must be written
    (a shard the previous build already has is not). Until :meth:`collect` or
    :meth:`stop`, the pool's workers may be writing into ``folder``.
    """

    def __init__(self, folder: Path, pool: Any, wanted: Callable[[PlannedShard], bool]) -> None:
        from odspec.timings import Span

        self.folder, self.pool, self.wanted = folder, pool, wanted
        self.pending: dict[str, Any] = {}  # shard name -> its AsyncResult
        self.started = False  # whether any worker may have written into ``folder``
        self.timing = Span("write")  # from the first shard handed to a writer to the last one written

    def submit(self, shard: PlannedShard) -> None:
        """Start writing ``shard`` if it is wanted (without a pool, :meth:`collect` writes it)."""
        if self.pool is not None and self.wanted(shard):
            self.timing.start()
            self.started = True
            self.pending[shard.name] = self.pool.apply_async(write_shard, ((str(self.folder), shard),))

    def collect(self, shards: Sequence[PlannedShard], *, workers: int,
                advance: Callable[[int], None]) -> dict[str, str]:
        """Name -> checksum of every one of ``shards``: waits for those submitted, writes the others now."""
        self.timing.start()
        self.started = True
        done = write_shards(self.folder, [s for s in shards if s.name not in self.pending], workers=workers,
                            advance=advance, pool=self.pool)
        for shard in shards:
            if shard.name in self.pending:
                name, count, digest = self.pending.pop(shard.name).get()
                advance(count)
                done[name] = digest
        self.timing.end()
        return done

    def stop(self) -> None:
        """Stop the writes that may still run (the build failed: one shard's error leaves the others going): the
        pool ends, and nothing writes into ``folder`` any more. (Waiting for them instead could wait forever: a
        worker killed by Ctrl-C never answers.)"""
        if self.started and self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        self.pending.clear()
