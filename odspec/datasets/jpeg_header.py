"""A JPEG's size, mode and EXIF orientation from its marker segments, for the plain files that most datasets hold.

Opening a JPEG with Pillow to learn its header costs about 70 µs (most of it
EXIF parsing in Python), as much as hashing it; the build inspects every image.
:func:`plain_jpeg_header` reads the same facts by walking the segments up to the
first scan, and answers only for files where the answer is certainly Pillow's
(ITU T.81 B.1 segment structure; EXIF as TIFF 6.0 IFD0, CIPA DC-008 tag 0x0112):
8-bit samples with 1, 3 or 4 components, one SOF, at most one EXIF segment whose
orientation is a plain SHORT, no XMP (Pillow also reads an orientation there),
no MPF (Pillow calls those MPO), no padding, junk or unknown markers, and a size
under Pillow's decompression-bomb limit. For anything else it says ``None`` and
the caller asks Pillow, so a surprising file costs time, never a different answer.
tests/unit/datasets/test_jpeg_header.py compares it with Pillow on many variants.
"""

from __future__ import annotations

import struct

from PIL import Image

MODES = {1: "L", 3: "RGB", 4: "CMYK"}
# SOF0-3, 5-7, 9-11, 13-15 (C4 is DHT, C8 is reserved, CC is DAC)
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# what may come before the first SOS besides APPn and SOFn: DHT, DAC, DQT, DNL, DRI, DHP, EXP, COM
_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xFE})
_EXIF = b"Exif\x00\x00"
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_MPF = b"MPF\x00"
_ORIENTATION = 0x0112
_SHORT = 3


def plain_jpeg_header(data: bytes) -> tuple[str, int, int, int] | None:
    """(mode, width, height, EXIF orientation) as Pillow gives them (format ``JPEG``), or ``None``: ask Pillow."""
    if not data.startswith(b"\xff\xd8"):
        return None
    position, size = 2, len(data)
    frame: tuple[str, int, int] | None = None
    exif: bytes | None = None
    while position + 4 <= size:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        length = (data[position + 2] << 8) | data[position + 3]
        body, end = position + 4, position + 2 + length
        if length < 2 or end > size:
            return None
        if marker == 0xDA:
            if frame is None:
                return None
            orientation = 1 if exif is None else _orientation(exif)
            return None if orientation is None else (*frame, orientation)
        if marker in _SOF:
            if frame is not None or length < 8 or data[body] != 8 or data[body + 5] not in MODES:
                return None
            height, width = struct.unpack_from(">HH", data, body + 1)
            limit = Image.MAX_IMAGE_PIXELS  # above it Pillow warns or refuses: let it
            if width == 0 or height == 0 or (limit is not None and width * height > limit):
                return None
            frame = (MODES[data[body + 5]], width, height)
        elif marker == 0xE1:
            if data.startswith(_XMP, body, end) or (exif is not None and data.startswith(_EXIF, body, end)):
                return None
            if data.startswith(_EXIF, body, end):
                exif = data[body + len(_EXIF):end]
        elif marker == 0xE2:
            if data.startswith(_MPF, body, end):
                return None
        elif not (0xE0 <= marker <= 0xEF or marker in _TABLES):
            return None
        position = end
    return None


def _orientation(tiff: bytes) -> int | None:
    """IFD0's orientation (1 when absent or outside 1..8, as odspec reads Pillow's), or ``None`` when unusual."""
    if len(tiff) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return None
    offset = struct.unpack_from(order + "L", tiff, 4)[0]
    if offset < 8 or offset + 2 > len(tiff):
        return None
    count = struct.unpack_from(order + "H", tiff, offset)[0]
    if offset + 2 + 12 * count + 4 > len(tiff):
        return None
    found: int | None = 1
    seen = False
    for index in range(count):
        tag, kind, values = struct.unpack_from(order + "HHL", tiff, offset + 2 + 12 * index)
        if tag != _ORIENTATION:
            continue
        if seen or kind != _SHORT or values != 1:
            return None
        seen = True
        value = struct.unpack_from(order + "H", tiff, offset + 2 + 12 * index + 8)[0]
        found = value if 1 <= value <= 8 else 1
    return found
