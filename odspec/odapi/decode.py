"""Read TFRecord files the way OD API training does, and say what it sees.

``python -m odspec.odapi.decode RECORD_FILE [RECORD_FILE...]`` reads the files
with ``tf.data.TFRecordDataset`` (which checks every CRC) and maps each record
through the OD API's own ``TfExampleDecoder`` with its default options, as
``dataset_builder`` does for training. It prints one JSON line per record::

    {"filename", "source_id", "image_shape": [h, w, c], "boxes": [[ymin, xmin, ymax, xmax], ...],
     "classes": [...], "difficult": [...], "pixel_mean": float}

then ``{"records": N}``. On failure the last line is ``{"error": "..."}`` and
the exit code is 1. Run it in a child process (it imports TensorFlow and patches
the OD API, see ``compat``); read its output with :func:`parse_output`.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from odspec.errors import BuildError


def decode_records(paths: Sequence[str | Path]) -> Iterator[dict[str, Any]]:
    """One summary per record of ``paths``, in file order then record order."""
    from odspec.odapi import compat

    compat.apply()
    import tensorflow as tf
    from object_detection.core import standard_fields
    from object_detection.data_decoders import tf_example_decoder

    decoder = tf_example_decoder.TfExampleDecoder()
    dataset = tf.data.TFRecordDataset([str(path) for path in paths]).map(decoder.decode)
    for tensors in dataset:
        yield _summary(tensors, standard_fields.InputDataFields)


def _summary(tensors: Any, names: Any) -> dict[str, Any]:
    image = tensors[names.image].numpy()
    return {
        "filename": tensors[names.filename].numpy().decode("utf-8"),
        "source_id": tensors[names.source_id].numpy().decode("utf-8"),
        "image_shape": [int(size) for size in image.shape],
        "boxes": tensors[names.groundtruth_boxes].numpy().tolist(),
        "classes": [int(label) for label in tensors[names.groundtruth_classes].numpy()],
        "difficult": [bool(flag) for flag in tensors[names.groundtruth_difficult].numpy()],
        "pixel_mean": float(image.mean()) if image.size else 0.0,
    }


def parse_output(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The per-record summaries a decode run printed; checks the closing ``{"records": N}`` line."""
    from odspec.procs import json_lines

    records: list[dict[str, Any]] = []
    for found in json_lines(lines):
        if "error" in found:
            raise BuildError(f"the OD API could not decode the records: {found['error']}")
        if set(found) == {"records"}:
            if found["records"] != len(records):
                raise BuildError(f"decode reported {found['records']} records but printed {len(records)}")
            return records
        records.append(found)
    raise BuildError("the decode run ended without its closing {\"records\": N} line")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m odspec.odapi.decode",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("records", nargs="+", type=Path, metavar="RECORD_FILE")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    missing = [str(path) for path in args.records if not path.is_file()]
    if missing:
        print(json.dumps({"error": f"no such record file: {', '.join(missing)}"}))
        return 1
    count = 0
    try:
        for summary in decode_records(args.records):
            print(json.dumps(summary), flush=True)
            count += 1
    except Exception as exc:  # noqa: BLE001 (the caller reads the last line; it must say what failed)
        traceback.print_exc(file=sys.stderr)
        message = f"record {count}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(json.dumps({"error": message}))
        return 1
    print(json.dumps({"records": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
