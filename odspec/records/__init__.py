"""TFRecords of ``tf.train.Example`` for the OD API, without importing TensorFlow.

``example`` builds and parses the records, ``tfrecord`` frames them into files
and checks them on reading, ``shards`` decides how a split is cut into files.
Every function here is safe to call from several processes at once, as long as
each writes its own files.
"""

from odspec.records.example import detection_example, parse_example
from odspec.records.shards import (
    SHARD_GLOB,
    assign_shards,
    shard_count,
    shard_glob,
    shard_name,
)
from odspec.records.tfrecord import (
    WriteInfo,
    count_records,
    frame,
    read_records,
    write_records,
)

__all__ = [
    "SHARD_GLOB",
    "WriteInfo",
    "assign_shards",
    "count_records",
    "detection_example",
    "frame",
    "parse_example",
    "read_records",
    "shard_count",
    "shard_glob",
    "shard_name",
    "write_records",
]
