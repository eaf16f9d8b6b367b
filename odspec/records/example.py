"""``tf.train.Example`` records for the OD API, built without importing TensorFlow.

TensorFlow costs ~5 s to import and, on protobuf's fast backend, ~0.27 ms per
record through ``tf.train.Example``; building the same messages from our own
copy of ``tensorflow/core/example/{feature,example}.proto`` costs ~0.05 s once
and is faster per record (see ODAPI_NOTES.md). The wire format depends only on
field numbers and types, so with the same package, numbers and packing our bytes
are TensorFlow's bytes (a test checks this against ``tf.train.Example``).

The descriptors live in a private pool: if TensorFlow is loaded in the same
process, its own ``tensorflow.Example`` in the default pool never clashes with ours.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FILE_NAME = "odspec/records/tensorflow_example.proto"
_PACKAGE = "tensorflow"

IMAGE_FORMATS = ("jpeg", "png")

# The OD API's standard keys (object_detection/core/standard_fields.py, TfExampleFields).
ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
FILENAME = "image/filename"
SOURCE_ID = "image/source_id"
SHA256 = "image/key/sha256"
XMIN = "image/object/bbox/xmin"
XMAX = "image/object/bbox/xmax"
YMIN = "image/object/bbox/ymin"
YMAX = "image/object/bbox/ymax"
CLASS_TEXT = "image/object/class/text"
CLASS_LABEL = "image/object/class/label"
DIFFICULT = "image/object/difficult"
TRUNCATED = "image/object/truncated"
VIEW = "image/object/view"

_T = descriptor_pb2.FieldDescriptorProto


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, *,
           repeated: bool = False, type_name: str | None = None, packed: bool = False,
           oneof: int | None = None) -> None:
    field = message.field.add(name=name, number=number, type=kind,
                              label=_T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL)
    if type_name is not None:
        field.type_name = f".{_PACKAGE}.{type_name}"
    if packed:
        field.options.packed = True
    if oneof is not None:
        field.oneof_index = oneof


def _map_entry(message: descriptor_pb2.DescriptorProto, entry: str, value_type: str) -> None:
    nested = message.nested_type.add(name=entry)
    nested.options.map_entry = True
    _field(nested, "key", 1, _T.TYPE_STRING)
    _field(nested, "value", 2, _T.TYPE_MESSAGE, type_name=value_type)


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """feature.proto and example.proto of tensorflow/core/example in one file: same numbers, types and packing."""
    proto = descriptor_pb2.FileDescriptorProto(name=_FILE_NAME, package=_PACKAGE, syntax="proto3")
    for name, kind, packed in (("BytesList", _T.TYPE_BYTES, False), ("FloatList", _T.TYPE_FLOAT, True),
                               ("Int64List", _T.TYPE_INT64, True)):
        _field(proto.message_type.add(name=name), "value", 1, kind, repeated=True, packed=packed)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate((("bytes_list", "BytesList"), ("float_list", "FloatList"),
                                                ("int64_list", "Int64List")), start=1):
        _field(feature, name, number, _T.TYPE_MESSAGE, type_name=type_name, oneof=0)
    features = proto.message_type.add(name="Features")
    _map_entry(features, "FeatureEntry", "Feature")
    _field(features, "feature", 1, _T.TYPE_MESSAGE, repeated=True, type_name="Features.FeatureEntry")
    feature_list = proto.message_type.add(name="FeatureList")
    _field(feature_list, "feature", 1, _T.TYPE_MESSAGE, repeated=True, type_name="Feature")
    feature_lists = proto.message_type.add(name="FeatureLists")
    _map_entry(feature_lists, "FeatureListEntry", "FeatureList")
    _field(feature_lists, "feature_list", 1, _T.TYPE_MESSAGE, repeated=True,
           type_name="FeatureLists.FeatureListEntry")
    example = proto.message_type.add(name="Example")
    _field(example, "features", 1, _T.TYPE_MESSAGE, type_name="Features")
    sequence = proto.message_type.add(name="SequenceExample")
    _field(sequence, "context", 1, _T.TYPE_MESSAGE, type_name="Features")
    _field(sequence, "feature_lists", 2, _T.TYPE_MESSAGE, type_name="FeatureLists")
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(file_descriptor())


def _message_class(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


BytesList = _message_class("BytesList")
FloatList = _message_class("FloatList")
Int64List = _message_class("Int64List")
Feature = _message_class("Feature")
Features = _message_class("Features")
FeatureList = _message_class("FeatureList")
FeatureLists = _message_class("FeatureLists")
Example = _message_class("Example")
SequenceExample = _message_class("SequenceExample")


def detection_example(
    *,
    encoded: bytes,
    image_format: str,
    width: int,
    height: int,
    filename: str,
    source_id: str,
    sha256: str,
    boxes: Sequence[tuple[float, float, float, float]],
    class_texts: Sequence[str],
    class_ids: Sequence[int],
    difficult: Sequence[bool],
    truncated: Sequence[bool],
    views: Sequence[str],
) -> bytes:
    """One serialized ``tf.train.Example`` with the OD API's standard detection keys.

    ``boxes`` are (xmin, ymin, xmax, ymax) normalised to 0..1 in the frame of the
    encoded pixels; ``class_ids`` are label-map ids (1-based, 0 is background).
    Every per-box sequence must be as long as ``boxes``. Serialization is
    deterministic (map entries in key order), so equal content gives equal bytes.
    Raises ``ValueError`` on input the checks stage should already have rejected.
    """
    _check_image(image_format, width, height)
    _check_boxes(boxes, class_texts, class_ids, difficult, truncated, views)
    example = Example()
    features = example.features.feature
    _bytes(features, ENCODED, [encoded])
    _bytes(features, FORMAT, [image_format.encode()])
    _ints(features, HEIGHT, [height])
    _ints(features, WIDTH, [width])
    _bytes(features, FILENAME, [filename.encode()])
    _bytes(features, SOURCE_ID, [source_id.encode()])
    _bytes(features, SHA256, [sha256.encode()])
    for key, column in ((XMIN, 0), (YMIN, 1), (XMAX, 2), (YMAX, 3)):
        _floats(features, key, [box[column] for box in boxes])
    _bytes(features, CLASS_TEXT, [text.encode() for text in class_texts])
    _ints(features, CLASS_LABEL, class_ids)
    _ints(features, DIFFICULT, [int(bool(flag)) for flag in difficult])
    _ints(features, TRUNCATED, [int(bool(flag)) for flag in truncated])
    _bytes(features, VIEW, [view.encode() for view in views])
    data: bytes = example.SerializeToString(deterministic=True)
    return data


def detection_example_parts(
    *,
    encoded: bytes,
    image_format: str,
    width: int,
    height: int,
    filename: str,
    source_id: str,
    sha256: str,
    boxes: Sequence[tuple[float, float, float, float]],
    class_texts: Sequence[str],
    class_ids: Sequence[int],
    difficult: Sequence[bool],
    truncated: Sequence[bool],
    views: Sequence[str],
) -> tuple[bytes, bytes, bytes]:
    """:func:`detection_example`'s bytes as (before the image, the image, after it), written out by hand.

    The same bytes as protobuf's deterministic serialization (map entries in key
    order, packed numbers; a test compares them on many inputs), without copying the
    ~100 KB image into a message and out again: a writer sends the three parts as they are.
    """
    _check_image(image_format, width, height)
    _check_boxes(boxes, class_texts, class_ids, difficult, truncated, views)
    columns = list(zip(*boxes, strict=True)) if boxes else [(), (), (), ()]
    rest = b"".join((
        _entry(FILENAME, _bytes_feature([filename.encode()])),
        _entry(FORMAT, _bytes_feature([image_format.encode()])),
        _entry(HEIGHT, _ints_feature([height])),
        _entry(SHA256, _bytes_feature([sha256.encode()])),
        _entry(XMAX, _floats_feature(columns[2])),
        _entry(XMIN, _floats_feature(columns[0])),
        _entry(YMAX, _floats_feature(columns[3])),
        _entry(YMIN, _floats_feature(columns[1])),
        _entry(CLASS_LABEL, _ints_feature(class_ids)),
        _entry(CLASS_TEXT, _bytes_feature([text.encode() for text in class_texts])),
        _entry(DIFFICULT, _ints_feature(bytes(map(bool, difficult)))),  # 0 or 1 each
        _entry(TRUNCATED, _ints_feature(bytes(map(bool, truncated)))),
        _entry(VIEW, _bytes_feature([view.encode() for view in views])),
        _entry(SOURCE_ID, _bytes_feature([source_id.encode()])),
        _entry(WIDTH, _ints_feature([width])),
    ))
    value = _varint(len(encoded))  # BytesList.value = 1, one item: the image
    bytes_list = len(value) + 1 + len(encoded)
    feature = _LEN1 + _varint(bytes_list)  # Feature.bytes_list = 1
    feature_size = len(feature) + bytes_list
    entry_body = len(_ENCODED_KEY) + 1 + len(_varint(feature_size)) + feature_size
    entry = _LEN1 + _varint(entry_body)  # Features.feature = 1 (a map entry: key = 1, value = 2)
    features_size = len(entry) + entry_body + len(rest)
    head = b"".join((_LEN1, _varint(features_size), entry, _ENCODED_KEY, _LEN2, _varint(feature_size), feature,
                     _LEN1, value))
    return head, encoded, rest


_LEN1, _LEN2 = b"\x0a", b"\x12"  # field 1 / field 2, wire type 2 (length-delimited)
_ENCODED_KEY = _LEN1 + bytes([len(ENCODED)]) + ENCODED.encode()


_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))  # the varints of 0..127, made once


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:  # lengths of short fields, class ids, flags: most varints a record holds
        return _ONE_BYTE[value]
    value &= 0xFFFFFFFFFFFFFFFF  # int64: a negative value takes ten bytes, as protobuf writes it
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(payload: bytes, tag: bytes = _LEN1) -> bytes:
    return b"".join((tag, _varint(len(payload)), payload))


_KEY_FIELDS: dict[str, bytes] = {}  # feature name -> its map entry's key field (made once per name)


def _entry(key: str, feature: bytes) -> bytes:
    """A Features map entry: the key field, then the feature as field 2, delimited as field 1."""
    field = _KEY_FIELDS.get(key)
    if field is None:
        field = _KEY_FIELDS[key] = _delimited(key.encode())
    size = _varint(len(feature))
    return b"".join((_LEN1, _varint(len(field) + 1 + len(size) + len(feature)), field, _LEN2, size, feature))


def _bytes_feature(values: Sequence[bytes]) -> bytes:
    return _delimited(b"".join([_delimited(v) for v in values]))  # Feature.bytes_list = 1


def _floats_feature(values: Sequence[float]) -> bytes:
    if not values:
        return b"\x12\x00"  # Feature.float_list = 2, an empty list
    return _delimited(_delimited(struct.pack(f"<{len(values)}f", *values)), b"\x12")  # packed, little-endian


def _ints_feature(values: Sequence[int]) -> bytes:
    if not values:
        return b"\x1a\x00"  # Feature.int64_list = 3, an empty list
    small = min(values) >= 0 and max(values) < 0x80  # one byte each: its varint is the value itself
    packed = bytes(values) if small else b"".join([_varint(v) for v in values])
    return _delimited(_delimited(packed), b"\x1a")


def _bytes(features: Any, key: str, values: Sequence[bytes]) -> None:
    kind = features[key].bytes_list
    kind.SetInParent()
    kind.value.extend(values)


def _floats(features: Any, key: str, values: Sequence[float]) -> None:
    kind = features[key].float_list
    kind.SetInParent()
    kind.value.extend(values)


def _ints(features: Any, key: str, values: Sequence[int]) -> None:
    kind = features[key].int64_list
    kind.SetInParent()
    kind.value.extend(values)


def _check_image(image_format: str, width: int, height: int) -> None:
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")


def _check_boxes(boxes: Sequence[tuple[float, float, float, float]], class_texts: Sequence[str],
                 class_ids: Sequence[int], difficult: Sequence[bool], truncated: Sequence[bool],
                 views: Sequence[str]) -> None:
    lengths = {"class_texts": len(class_texts), "class_ids": len(class_ids), "difficult": len(difficult),
               "truncated": len(truncated), "views": len(views)}
    wrong = [f"{name}={length}" for name, length in lengths.items() if length != len(boxes)]
    if wrong:
        raise ValueError(f"every per-box list must have {len(boxes)} items (one per box), got {', '.join(wrong)}")
    for index, (xmin, ymin, xmax, ymax) in enumerate(boxes):
        if not (0.0 <= xmin <= xmax <= 1.0 and 0.0 <= ymin <= ymax <= 1.0) or math.isnan(xmin + ymin + xmax + ymax):
            raise ValueError(f"box {index} must be normalised (xmin, ymin, xmax, ymax) with 0 <= min <= max <= 1, "
                             f"got {(xmin, ymin, xmax, ymax)}")
    bad_ids = [class_id for class_id in class_ids if class_id < 1]
    if bad_ids:
        raise ValueError(f"class ids are label-map ids and start at 1 (0 is background), got {bad_ids[0]}")


def parse_example(data: bytes) -> dict[str, list[Any]]:
    """Feature name -> its values (bytes, float or int), for reading records back in tests and checks."""
    example = Example()
    example.ParseFromString(data)
    parsed: dict[str, list[Any]] = {}
    for key in sorted(example.features.feature):
        feature = example.features.feature[key]
        kind = feature.WhichOneof("kind")
        parsed[key] = [] if kind is None else list(getattr(feature, kind).value)
    return parsed
