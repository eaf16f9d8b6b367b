"""plain_jpeg_header answers exactly as Pillow does, or not at all.

The variants are written by Pillow itself (baseline, progressive, grey, CMYK, ICC
profile, comment, EXIF with every orientation, EXIF thumbnail, XMP, MPO) or
assembled by hand from the segment layout of ITU T.81 B.1 and the TIFF 6.0 IFD
layout that EXIF (CIPA DC-008) uses (big-endian EXIF, an orientation stored as
LONG, two EXIF segments, out-of-range values, damaged files).
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from odspec.datasets import images
from odspec.datasets.jpeg_header import plain_jpeg_header


def pillow_header(data: bytes) -> tuple[str, int, int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                return None
            return image.mode, image.width, image.height, images._orientation(image, None)
    except images.PIL_ERRORS:
        return None


def jpeg(mode: str = "RGB", size: tuple[int, int] = (40, 30), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 128 if mode == "L" else (10, 200, 30, 0)[: len(mode)]).save(out, "JPEG", **options)
    return out.getvalue()


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def tiff_ifd(order: str, entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A TIFF header and IFD0 holding ``entries`` (tag, type, count, 4-byte value field)."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HL", 42, 8)
    body = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack(order + "HHL", tag, kind, count) + value
    return head + body + struct.pack(order + "L", 0)


def with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


PLAIN = {
    "baseline RGB": jpeg(),
    "grey": jpeg("L"),
    "CMYK": jpeg("CMYK"),
    "progressive": jpeg(progressive=True),
    "optimized": jpeg(optimize=True),
    "ICC profile": jpeg(icc_profile=b"\x00" * 300),
    "comment": jpeg(comment=b"made by a test"),
    "4:4:4": jpeg(subsampling=0),
    "big": jpeg(size=(4000, 3000)),
    **{f"EXIF orientation {o}": jpeg(exif=exif_with(o)) for o in range(1, 9)},
    "EXIF orientation 0 (invalid)": jpeg(exif=exif_with(0)),
    "EXIF orientation 9 (invalid)": jpeg(exif=exif_with(9)),
    "EXIF without orientation": jpeg(exif=Image.Exif().tobytes()),
    "big-endian EXIF, orientation 6": with_segment(jpeg(), 0xE1, b"Exif\x00\x00" + tiff_ifd(">", [
        (0x010F, 2, 4, b"Cam\x00"), (0x0112, 3, 1, struct.pack(">HH", 6, 0))])),
    "little-endian EXIF, orientation 8 among others": with_segment(jpeg(), 0xE1, b"Exif\x00\x00" + tiff_ifd("<", [
        (0x0100, 4, 1, struct.pack("<L", 40)), (0x0112, 3, 1, struct.pack("<HH", 8, 0))])),
}

UNUSUAL = {
    # written by hand (Pillow < 11 has no xmp= save option): APP1, Adobe's XMP namespace, NUL, the packet
    "XMP": with_segment(jpeg(), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
                        b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'),
    "orientation as LONG": with_segment(jpeg(), 0xE1, b"Exif\x00\x00" + tiff_ifd("<", [
        (0x0112, 4, 1, struct.pack("<L", 6))])),
    "two EXIF segments": with_segment(jpeg(exif=exif_with(3)), 0xE1, b"Exif\x00\x00" + tiff_ifd("<", [])),
    "EXIF not TIFF": with_segment(jpeg(), 0xE1, b"Exif\x00\x00" + b"XX" + b"\x00" * 10),
    "EXIF IFD past the end": with_segment(jpeg(), 0xE1, b"Exif\x00\x00II*\x00\xff\x00\x00\x00"),
    "junk before a marker": jpeg()[:2] + b"\x00\x00" + jpeg()[2:],
    "truncated in the header": jpeg()[:30],
    "12-bit samples": None,  # built below
    "no SOF before SOS": None,
}


def _twelve_bit() -> bytes:
    data = bytearray(jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 4] = 12
    return bytes(data)


def _no_sof() -> bytes:
    data = jpeg()
    sof = data.find(b"\xff\xc0")
    length = struct.unpack_from(">H", data, sof + 2)[0]
    return data[:sof] + data[sof + 2 + length:]


UNUSUAL["12-bit samples"] = _twelve_bit()
UNUSUAL["no SOF before SOS"] = _no_sof()


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_files_are_read_without_pillow_and_as_pillow_reads_them(name: str) -> None:
    data = PLAIN[name]
    assert plain_jpeg_header(data) is not None
    assert plain_jpeg_header(data) == pillow_header(data)


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_files_are_left_to_pillow(name: str) -> None:
    assert plain_jpeg_header(UNUSUAL[name]) is None  # type: ignore[arg-type]


def test_an_mpo_is_left_to_pillow() -> None:
    out = io.BytesIO()
    Image.new("RGB", (30, 20)).save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (30, 20))])
    data = out.getvalue()
    assert plain_jpeg_header(data) is None
    assert images.inspect_bytes("a.jpg", data).format == "MPO"


def test_pillow_refusing_a_size_is_left_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert plain_jpeg_header(jpeg()) is None
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert plain_jpeg_header(jpeg()) == ("RGB", 40, 30, 1)


@pytest.mark.parametrize("name", sorted(PLAIN) + sorted(k for k in UNUSUAL if k != "truncated in the header"))
def test_inspection_is_the_same_with_and_without_the_fast_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {**PLAIN, **UNUSUAL}[name]
    fast = images.inspect_bytes("a.jpg", data)  # type: ignore[arg-type]
    monkeypatch.setattr(images, "plain_jpeg_header", lambda _data: None)
    assert images.inspect_bytes("a.jpg", data) == fast  # type: ignore[arg-type]
