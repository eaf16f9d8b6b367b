"""How many TFRecord shards a split gets, which examples go in each, and their names. Pure.

Assignment sorts examples by key (the image's sha256) and cuts the sorted list
into contiguous blocks of near-equal size. Adding or removing one image moves
each block boundary by at most one position, so every shard keeps all but at
most one or two of its members, and a shard whose members did not change keeps
the same bytes (records are written in key order). Round-robin would balance
the same way but reshuffle every shard after the insertion point; hashing keys
into shards would never move an image, but gives unequal shard sizes on small
splits and empty shards on tiny ones.
"""

from __future__ import annotations

from collections.abc import Sequence

BYTES_PER_SHARD = 100 * 1000 * 1000
MAX_AUTO_SHARDS = 256
MAX_SHARDS = 99_999  # five digits in the file name
SHARD_GLOB = "{split}-?????-of-?????.tfrecord"


def shard_count(num_examples: int, total_bytes: int, requested: int | None) -> int:
    """Shards for one split: ``requested`` (spec ``dataset.shards``) if given, else one per ~100 MB of images.

    The automatic count stays within 1..256. Either way a split never gets more
    shards than it has examples, and never fewer than one. An empty split gets no
    shard at all: the build leaves it out, and refuses one that training or evaluation reads.
    """
    if num_examples < 0 or total_bytes < 0:
        raise ValueError(f"num_examples and total_bytes cannot be negative, got {num_examples}, {total_bytes}")
    if requested is not None:
        if not 1 <= requested <= MAX_SHARDS:
            raise ValueError(f"requested shards must be between 1 and {MAX_SHARDS}, got {requested}")
        wanted = requested
    else:
        wanted = min(MAX_AUTO_SHARDS, -(-total_bytes // BYTES_PER_SHARD))
    return max(1, min(wanted, num_examples))


def assign_shards(keys: Sequence[str], count: int) -> list[list[int]]:
    """Indices into ``keys`` for each of ``count`` shards: sorted by key, in contiguous near-equal blocks.

    Shard sizes differ by at most one; equal keys keep their input order. With
    more shards than keys the last shards are empty (``shard_count`` avoids that).
    """
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count must be between 1 and {MAX_SHARDS}, got {count}")
    order = sorted(range(len(keys)), key=lambda index: keys[index])
    return [order[start:end] for start, end in shard_bounds(len(order), count)]


def shard_bounds(total: int, count: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each of ``count`` shards among ``total`` examples sorted by key (what
    :func:`assign_shards` cuts), for callers that stream the examples in key order instead of listing them."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count must be between 1 and {MAX_SHARDS}, got {count}")
    return [(shard * total // count, (shard + 1) * total // count) for shard in range(count)]


def shard_name(split: str, index: int, count: int) -> str:
    """``train-00000-of-00004.tfrecord``: the name :data:`SHARD_GLOB` matches."""
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count must be between 1 and {MAX_SHARDS}, got {count}")
    if not 0 <= index < count:
        raise ValueError(f"shard index must be between 0 and {count - 1}, got {index}")
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def shard_glob(split: str) -> str:
    """The pattern ``pipeline.config`` gives ``input_path`` for ``split``'s shards."""
    return SHARD_GLOB.format(split=split)
