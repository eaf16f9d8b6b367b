"""TFRecords of ``tf.train.Example`` for the OD API, without importing TensorFlow.

``example`` builds and parses the records, ``tfrecord`` frames them into files
and checks them on reading, ``writer`` writes a planned shard. How a split is cut
into shards, and their names, is decided with the rest of the plan, in
:mod:`odspec.datasets.shards`.
Every function here is safe to call from several processes at once, as long as
each writes its own files.
"""

from odspec.records.example import detection_example, parse_example
from odspec.records.tfrecord import (
    WriteInfo,
    count_records,
    frame,
    read_records,
    write_records,
)

__all__ = [
    "WriteInfo",
    "count_records",
    "detection_example",
    "frame",
    "parse_example",
    "read_records",
    "write_records",
]
