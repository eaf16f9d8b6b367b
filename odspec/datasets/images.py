"""Image files: what they are (inspect) and the bytes a record stores (encode).

Inspecting must stay cheap because it runs on every image of every build: the
file is read once (for its sha256), its header is parsed (plain JPEGs by
:mod:`odspec.datasets.jpeg_header`, the rest by Pillow, which stops at the header), and the
structure is checked without decoding pixels (JPEG start and end markers, PNG
chunk CRCs). Decoding is left to :func:`encode_for_record`, which only does it
when the original bytes cannot go into a record as they are.

Phone cameras append data after a JPEG's end-of-image marker: Google's Motion
Photo 1.0 (an MP4 after the primary JPEG, located by the XMP
``Container:Directory`` / older ``GCamera:MicroVideoOffset``; developer.android.com
/media/platform/motion-photo-format), Samsung's SEF trailer (ends in ``SEFT``),
and CIPA DC-007 MPO files (several JPEGs back to back). A JPEG that does not end
with EOI is therefore walked marker by marker (:func:`primary_jpeg_end`) to the
primary image's own EOI; data after it makes the file valid only when those
primary bytes decode completely, and then ``ImageInfo.payload_bytes`` is the
primary image's length, which is all a record stores. A JPEG that ends with EOI
and is not an MPO takes the fast path (one ``endswith``), as before.

The OD API decodes ``image/encoded`` with three channels and ignores EXIF, so a
record's image is always 8-bit RGB JPEG or PNG with the EXIF rotation baked into
the pixels (when the caller asks for it) and no orientation tag left behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import crc32c
from PIL import Image, UnidentifiedImageError

from odspec.datasets.jpeg_header import plain_jpeg_header
from odspec.datasets.model import SLOTS
from odspec.datasets.paths import kind_of_mode
from odspec.errors import DatasetError

MISSING = "missing"
ESCAPES_ROOT = "escapes the dataset root"
TRUNCATED = "truncated"

JPEG_FORMATS = frozenset({"JPEG", "MPO"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
ORIENTATION_TAG = 0x0112
JPEG_OPTIONS: dict[str, Any] = {"quality": 95, "subsampling": "4:2:0", "optimize": False, "progressive": False}
PNG_OPTIONS: dict[str, Any] = {"compress_level": 6, "optimize": False}
WHITE = (255, 255, 255, 255)
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA", "P"})
PIL_ERRORS = (OSError, ValueError, EOFError, SyntaxError, struct.error, zlib.error, Image.DecompressionBombError)

# Pillow's own table (ImageOps.exif_transpose): the transpose that shows the stored pixels as displayed.
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, **SLOTS)
class ImageInfo:
    """What one image file is, without its pixels.

    ``error`` alone decides whether the image can be used: ``"missing"``,
    ``"escapes the dataset root"``, ``"unreadable: ..."``, ``"truncated"`` or
    ``"corrupt: ..."``. A truncated or corrupt file still reports the header
    fields Pillow could read; an unreadable one has ``format=None`` and size 0.
    """

    path: str
    sha256: str
    size_bytes: int
    format: str | None
    mode: str | None
    width: int
    height: int
    orientation: int
    error: str | None
    crc32c: int = field(default=0, compare=False)  # of the bytes: cheap proof they did not change before writing
    payload_bytes: int = 0  # length of the primary image when data follows it (motion photo, MPO); 0 = whole file

    @property
    def displayed_size(self) -> tuple[int, int]:
        """(width, height) once the EXIF orientation is applied."""
        return displayed_size(self.width, self.height, self.orientation)


@dataclass(frozen=True)
class EncodedImage:
    """The bytes that go into ``image/encoded``, and what they decode to."""

    data: bytes
    format: Literal["jpeg", "png"]
    width: int
    height: int


def displayed_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """Orientations 5-8 turn the image a quarter, swapping width and height."""
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def inspect_image(root: Path, rel: str, *, verify_pixels: bool = False) -> ImageInfo:
    """Describe ``rel`` (posix, relative to ``root``) from its bytes and header.

    Never reads a file outside ``root``, also when a symbolic link points
    there. ``verify_pixels`` also decodes every pixel, which catches damage
    inside the compressed data at many times the cost.
    """
    data = read_inside(root, rel)
    if isinstance(data, str):
        return _failed(rel, data)
    return inspect_bytes(rel, data, verify_pixels=verify_pixels)


def inspect_bytes(rel: str, data: bytes, *, verify_pixels: bool = False) -> ImageInfo:
    """:func:`inspect_image` for bytes already read."""
    digest = hashlib.sha256(data).hexdigest()
    structure, png_exif, trailer = _check_structure(data)
    plain = plain_jpeg_header(data)
    if plain is not None:
        mode, width, height, orientation = plain
        header: tuple[str | None, str | None, int, int] = ("JPEG", mode, width, height)
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                header = (image.format, image.mode, image.width, image.height)
                orientation = _orientation(image, png_exif)
        except PIL_ERRORS as err:
            reason = structure or ("unreadable: empty file" if not data else f"unreadable: {_pil_reason(err)}")
            return ImageInfo(rel, digest, len(data), None, None, 0, 0, 1, reason)
    error, payload = structure, trailer
    if error is None and header[0] == "MPO" and not payload:  # ends with the last image's EOI
        payload = _trailer_start(data)
    if error is None and header[0] not in JPEG_FORMATS and header[0] != "PNG":
        error = _pillow_verify(data)
    if error is None and (verify_pixels or trailer):
        # data after the primary image: valid only when the primary bytes decode completely
        error = _decode_error(data[:payload] if payload else data)
    return ImageInfo(rel, digest, len(data), *header, orientation, error, crc32c.crc32c(data), payload)


def read_inside(root: Path, rel: str) -> bytes | str:
    """The bytes of the regular file ``rel`` names under ``root`` (see :func:`resolve_inside`), or why not.

    One stat, one open and (nearly always) one read: the build reads every image twice.
    """
    path = _inside(root, rel)
    if path is None:
        return ESCAPES_ROOT
    try:
        special = kind_of_mode(os.stat(path).st_mode)
        if special is not None:  # checked before opening: opening a FIFO would block
            return f"not a regular file but {special}"
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return MISSING
    except OSError as err:
        return f"unreadable: {(err.strerror or str(err)).lower()}"
    try:
        parts = [os.read(handle, os.fstat(handle).st_size + 1)]
        while parts[-1]:
            parts.append(os.read(handle, 1 << 20))
    except OSError as err:
        return f"unreadable: {(err.strerror or str(err)).lower()}"
    finally:
        os.close(handle)
    return parts[0] if len(parts) == 2 else b"".join(parts)


def resolve_inside(root: Path, rel: str) -> Path | None:
    """The real path ``rel`` names under ``root``, or ``None`` if it (or a link on the way) leads outside.

    Folders are resolved once per build (cached); each file costs one ``lstat``,
    plus a full resolve only when the file itself is a link.
    """
    target = _inside(root, rel)
    return None if target is None else Path(target)


def _inside(root: Path, rel: str) -> str | None:
    base = _real_folder(str(root))
    joined = os.path.normpath(os.path.join(base, rel))
    target = os.path.join(_real_folder(os.path.dirname(joined)), os.path.basename(joined))
    if os.path.islink(target):
        target = os.path.realpath(target)
    inside = target != base and os.path.normcase(target).startswith(os.path.normcase(os.path.join(base, "")))
    return target if inside else None


@lru_cache(maxsize=4096)
def _real_folder(path: str) -> str:
    return os.path.realpath(path)


def encode_for_record(root: Path, info: ImageInfo, *, rotate: bool) -> EncodedImage:
    """The image as a record stores it: 8-bit RGB, rotated as displayed when ``rotate``.

    An RGB JPEG or 8-bit RGB PNG without an EXIF orientation goes in untouched.
    Anything else is decoded and re-encoded deterministically (fixed options,
    no metadata): as JPEG quality 95 if the source was a JPEG, else as PNG. An
    image with an orientation is always re-encoded, so no record carries an
    orientation tag that a viewer would apply on top of baked-in pixels;
    ``rotate=False`` then keeps the stored pixel order.
    """
    if info.error is not None:
        raise ValueError(f"{info.path}: cannot encode an unusable image ({info.error})")
    data = _read_unchanged(root, info)
    if info.payload_bytes:  # a motion photo's video, an MPO's other images: not part of the picture
        data = data[: info.payload_bytes]
    passthrough = _passthrough_format(data, info)
    if passthrough is not None:
        return EncodedImage(data, passthrough, info.width, info.height)
    image = _decode(info, data)
    if rotate:
        image = transpose_for_orientation(image, info.orientation)
    rgb = to_rgb(image)
    target: Literal["jpeg", "png"] = "jpeg" if info.format in JPEG_FORMATS else "png"
    return EncodedImage(_encode(rgb, target), target, rgb.width, rgb.height)


def transpose_for_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """The stored pixels as displayed (what ``ImageOps.exif_transpose`` does, from the tag value alone)."""
    method = ORIENTATION_TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: transparency composited over white, 16-bit values scaled (65535 -> 255)."""
    if image.mode == "RGB":
        return image
    if image.mode in ALPHA_MODES:
        background = Image.new("RGBA", image.size, WHITE)
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    if image.mode in SIXTEEN_BIT_MODES:
        import numpy as np  # only 16-bit images need it; keeps `odspec validate` light

        values = np.clip(np.asarray(image).astype(np.uint32), 0, 65535)
        scaled = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as err:
        raise DatasetError(f"images of mode {image.mode} cannot be converted to RGB: {err}") from err


def _failed(rel: str, error: str) -> ImageInfo:
    return ImageInfo(rel, "", 0, None, None, 0, 0, 1, error)


def _check_structure(data: bytes) -> tuple[str | None, bytes | None, int]:
    """(error, PNG eXIf payload, primary image length or 0) from the container alone, for JPEG and PNG."""
    if data.startswith(JPEG_SIGNATURE):
        if data.rstrip(b"\x00").endswith(JPEG_EOI):  # the common case: nothing after the image
            return None, None, 0
        payload = _trailer_start(data)
        return (None if payload else TRUNCATED), None, payload
    if data.startswith(PNG_SIGNATURE):
        return (*walk_png_chunks(data), 0)
    return None, None, 0


def _trailer_start(data: bytes) -> int:
    """Where data after the primary JPEG starts (its length), or 0 when it has no EOI (truncated).

    Zero padding after the EOI is not a trailer: 0, the whole file stays.
    """
    end = primary_jpeg_end(data)
    if end is None or not data[end:].strip(b"\x00"):
        return 0
    return end


# In entropy-coded data FF is followed by 00 (a stuffed byte), D0-D7 (restart) or FF (fill); anything else is a marker.
_ENTROPY_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


def primary_jpeg_end(data: bytes) -> int | None:
    """The offset just past the first image's EOI marker (ITU T.81 B.1), or ``None`` when it has none.

    Segments are skipped by their length field, so an EXIF thumbnail's own EOI
    inside APP1 does not count; after each SOS the entropy-coded data is
    skipped with one regular-expression search (progressive JPEGs have several
    scans), so the cost is per segment, not per byte.
    """
    position, size = 2, len(data)
    while position + 2 <= size:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:
            return position + 2
        if marker in _STANDALONE_MARKERS:
            position += 2
            continue
        if position + 4 > size:
            return None
        length = (data[position + 2] << 8) | data[position + 3]
        if length < 2:
            return None
        position += 2 + length
        if marker == 0xDA:
            found = _ENTROPY_MARKER.search(data, position)
            if found is None:
                return None
            position = found.start()
    return None


def walk_png_chunks(data: bytes) -> tuple[str | None, bytes | None]:
    """Check every chunk's CRC up to IEND; also return the eXIf payload, wherever it is."""
    view = memoryview(data)
    position, exif = len(PNG_SIGNATURE), None
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        end = position + 12 + length
        if end > len(data):
            return TRUNCATED, exif
        kind = bytes(view[position + 4 : position + 8])
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[position + 4 : end - 4]) != crc:
            return f"corrupt: CRC mismatch in chunk {_chunk_name(kind)} at byte {position}", exif
        if kind == b"eXIf":
            exif = bytes(view[position + 8 : end - 4])
        elif kind == b"IEND":
            return None, exif
        position = end
    return TRUNCATED, exif


def _chunk_name(kind: bytes) -> str:
    return kind.decode("ascii") if kind.isalpha() else repr(kind)


def orientation_of(data: bytes) -> int:
    """The EXIF orientation of encoded image ``data`` (1 when absent), without decoding pixels."""
    png_exif = walk_png_chunks(data)[1] if data[:8] == b"\x89PNG\r\n\x1a\n" else None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _orientation(image, png_exif)
    except PIL_ERRORS:
        return 1


def _orientation(image: Image.Image, png_exif: bytes | None) -> int:
    """The EXIF orientation tag, 1 when absent or invalid.

    A PNG's ``getexif()`` decodes the whole image when the eXIf chunk comes
    after the pixel data, so the payload found while walking the chunks is
    parsed instead.
    """
    try:
        if image.format == "PNG":
            exif = Image.Exif()
            if png_exif:
                exif.load(png_exif)
        else:
            exif = image.getexif()
        value = exif.get(ORIENTATION_TAG, 1)
    except PIL_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _pillow_verify(data: bytes) -> str | None:
    """Pillow's own check, for the formats without a structural check here."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except PIL_ERRORS as err:
        return f"corrupt: {_pil_reason(err)}"
    return None


def _decode_error(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except PIL_ERRORS as err:
        reason = _pil_reason(err)
        return TRUNCATED if "truncated" in reason else f"corrupt: {reason}"
    return None


def _pil_reason(err: BaseException) -> str:
    if isinstance(err, UnidentifiedImageError):
        return "not an image format Pillow recognises"
    return str(err) or type(err).__name__


def _read_unchanged(root: Path, info: ImageInfo) -> bytes:
    """The file's bytes, which must still be the ones inspected."""
    data = read_inside(root, info.path)
    if isinstance(data, str) or len(data) != info.size_bytes or (info.crc32c and crc32c.crc32c(data) != info.crc32c):
        raise DatasetError(
            f"{info.path}: the image changed or disappeared after it was checked",
            hint="run the build again once nothing else writes to the images folder",
        )
    return data


def _passthrough_format(data: bytes, info: ImageInfo) -> Literal["jpeg", "png"] | None:
    """The record format when the original bytes can be stored as they are, else ``None``."""
    if info.orientation != 1 or info.mode != "RGB":
        return None
    if info.format in JPEG_FORMATS:
        return "jpeg"
    if info.format == "PNG" and _png_bit_depth(data) == 8:
        return "png"
    return None


def _png_bit_depth(data: bytes) -> int:
    """IHDR's bit depth (it is always the first chunk)."""
    return data[24] if len(data) > 24 else 0


def _decode(info: ImageInfo, data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except PIL_ERRORS as err:
        raise DatasetError(
            f"{info.path}: the image cannot be decoded: {_pil_reason(err)}",
            hint="set dataset.verify_pixels: true to find such images before anything is written",
        ) from err
    return image


def _encode(image: Image.Image, target: Literal["jpeg", "png"]) -> bytes:
    """Fixed options and no metadata, so the same pixels always give the same bytes."""
    image.info = {}
    out = io.BytesIO()
    options = JPEG_OPTIONS if target == "jpeg" else PNG_OPTIONS
    image.save(out, format=target.upper(), **options)
    return out.getvalue()
