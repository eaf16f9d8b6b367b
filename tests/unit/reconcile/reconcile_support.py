"""Model directories built from data: TF2-format checkpoints (written here, without TensorFlow) and run records.

The checkpoint writer follows TensorFlow's tensor bundle format: a LevelDB-format table
(uncompressed, prefix-compressed keys, restart points) from tensor name to
BundleEntryProto, the header under the empty key, tensor bytes in the data shards.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from support import minimal_spec

from odspec.reconcile.record import RunRecord, Versions, spec_fingerprint, value_hash

ARCH = "ssd_mobilenet_v2_fpnlite_320"
STEP_KEY = b"step/.ATTRIBUTES/VARIABLE_VALUE"
DT_INT64 = 9
VERSIONS = Versions(odspec="0.1.0", tensorflow="2.15.1", object_detection="2.8.0.post1")
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def block(items: list[tuple[bytes, bytes]], restart_interval: int = 2) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    for offset in restarts or [0]:
        out += offset.to_bytes(4, "little")
    out += len(restarts or [0]).to_bytes(4, "little")
    return bytes(out)


def table(items: list[tuple[bytes, bytes]], per_block: int = 3, compression: int = 0) -> bytes:
    """A LevelDB-format table of ``items`` (sorted by key), ``per_block`` entries per data block."""
    items = sorted(items)
    out, index = bytearray(), []
    for start in range(0, len(items), per_block):
        chunk = items[start:start + per_block]
        data = block(chunk)
        index.append((chunk[-1][0], varint(len(out)) + varint(len(data))))
        out += data + bytes([compression]) + b"\0\0\0\0"
    meta = block([])
    meta_handle = varint(len(out)) + varint(len(meta))
    out += meta + b"\0" * 5
    index_block = block(index)
    index_handle = varint(len(out)) + varint(len(index_block))
    out += index_block + b"\0" * 5
    footer = meta_handle + index_handle
    out += footer + b"\0" * (40 - len(footer)) + (0xDB4775248B80FB57).to_bytes(8, "little")
    return bytes(out)


def entry(dtype: int, shard: int, offset: int, size: int) -> bytes:
    """A BundleEntryProto: dtype, scalar shape, shard_id, offset, size, crc32c (proto3: zeros omitted)."""
    out = varint(1 << 3) + varint(dtype) + b"\x12\x00"
    if shard:
        out += varint(3 << 3) + varint(shard)
    if offset:
        out += varint(4 << 3) + varint(offset)
    out += varint(5 << 3) + varint(size) + b"\x35" + b"\x12\x34\x56\x78"
    return out


def write_checkpoint(folder: Path, number: int, step: int | None, *, shards: int = 1, step_shard: int = 0,
                     data: bool = True, tensors: int = 10) -> Path:
    """``ckpt-<number>.index`` and its data shards, with ``tensors`` float tensors besides the step."""
    prefix = folder / f"ckpt-{number}"
    payload = {s: bytearray() for s in range(shards)}
    items = [(b"", varint(1 << 3) + varint(shards))]
    items.append((b"_CHECKPOINTABLE_OBJECT_GRAPH", entry(7, 0, 0, 3)))
    payload[0] += b"obj"
    for i in range(tensors):
        shard = i % shards
        items.append((f"model/_box_predictor/layer_{i:03d}/kernel/.ATTRIBUTES/VARIABLE_VALUE".encode(),
                      entry(1, shard, len(payload[shard]), 16)))
        payload[shard] += bytes(16)
    if step is not None:
        items.append((STEP_KEY, entry(DT_INT64, step_shard, len(payload[step_shard]), 8)))
        payload[step_shard] += step.to_bytes(8, "little", signed=True)
    items.append((b"save_counter/.ATTRIBUTES/VARIABLE_VALUE", entry(DT_INT64, 0, len(payload[0]), 8)))
    payload[0] += number.to_bytes(8, "little")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"ckpt-{number}.index").write_bytes(table(items))
    if data:
        for shard, content in payload.items():
            (folder / f"ckpt-{number}.data-{shard:05d}-of-{shards:05d}").write_bytes(bytes(content))
    return prefix


def write_index(folder: Path, latest: str | None, kept: list[str]) -> None:
    """The ``checkpoint`` file as TensorFlow's CheckpointManager writes it."""
    lines = [f'model_checkpoint_path: "{latest}"'] if latest else []
    lines += [f'all_model_checkpoint_paths: "{path}"' for path in kept]
    lines += ["all_model_checkpoint_timestamps: 1762075800.5" for _ in kept]
    lines.append("last_preserved_timestamp: 1762075000.25")
    (folder / "checkpoint").write_text("\n".join(lines) + "\n")


def spec_dict(**sections: Any) -> dict[str, Any]:
    return minimal_spec(ARCH, **sections)


def compiled(spec: dict[str, Any], build_dir: str = "/build") -> dict[str, bytes]:
    """pipeline.config and label_map.pbtxt exactly as ``odspec build`` writes them for ``spec``."""
    from odspec.compile.context import Paths
    from odspec.compile.render import compile_spec
    from odspec.spec.models import Spec

    return compile_spec(Spec.model_validate(spec), Paths(PurePath(build_dir)))


def record(spec: dict[str, Any], *, dataset: str = "records-v1", build_dir: str = "/build",
           versions: Versions = VERSIONS, now: datetime = T0) -> RunRecord:
    """The run record of training ``spec``, with its real compiled config and label map."""
    from odspec.reconcile.record import config_sha256, train_steps_of
    from odspec.spec.models import Spec

    files = compiled(spec, build_dir)
    config = files["pipeline.config"]
    validated = Spec.model_validate(spec)
    return RunRecord(
        spec_fields=spec_fingerprint(validated),
        seed=validated.train.seed,
        pipeline_config_sha256=config_sha256(config),
        label_map_sha256=value_hash(files["label_map.pbtxt"].decode()),
        dataset_sha256=value_hash(dataset),
        train_steps=train_steps_of(config.decode()) or 0,
        build_dir=build_dir,
        versions=versions,
        created=now,
        updated=now,
    )
