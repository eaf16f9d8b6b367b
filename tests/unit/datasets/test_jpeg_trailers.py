"""Phone photos with data after the JPEG end-of-image marker.

Formats the fixtures follow:
- Google Motion Photo 1.0 (developer.android.com/media/platform/motion-photo-format): a primary JPEG whose XMP
  holds ``GCamera:MotionPhoto`` and a ``Container:Directory`` (Primary item, then a MotionPhoto item of
  ``Item:Length`` bytes), followed by an MP4 (ISO BMFF boxes, first ``ftyp``). Older Pixel "MVIMG" files give the
  video's offset from the end of the file as ``GCamera:MicroVideoOffset`` (timojyrinki.gitlab.io, 2021-03-30).
- Samsung motion photos: after the EOI, tagged fields (``00 00 <marker> ...``, e.g. ``MotionPhoto_Data``) then an
  SEF directory ``SEFH ... `` closed by its length and ``SEFT`` as the file's last four bytes (per the SEF parsers
  indexed from github: the "SamsungSEFEditor" SEFH/SEFT magic; the motionphoto library's Samsung trailer notes).
- MPO (CIPA DC-007): several baseline JPEGs back to back, the first carrying an APP2 "MPF" index; Pillow writes
  them with ``save(..., format="MPO", save_all=True)`` and opens them as format "MPO".
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from odspec.datasets.images import encode_for_record, inspect_image, primary_jpeg_end

MP4_TAIL = (struct.pack(">I", 24) + b"ftypmp42" + b"\x00\x00\x00\x00" + b"isommp42"
            + struct.pack(">I", 16) + b"mdat" + b"\xff\xd9\x00\x01\xff\xd8\xff\xe0")  # an EOI look-alike too

MOTION_XMP = b"""http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
 xmlns:Container="http://ns.google.com/photos/1.0/container/"
 xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
 GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">
 <Container:Directory><rdf:Seq>
 <rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"/></rdf:li>
 <rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto"
  Item:Length="%d" Item:Padding="0"/></rdf:li>
 </rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>""" % len(MP4_TAIL)


def photo(size: tuple[int, int] = (64, 48), **options: object) -> tuple[bytes, Image.Image]:
    """A JPEG with real entropy-coded data (a gradient, so FF 00 stuffing and many markers-like bytes occur)."""
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    pixels = np.stack([np.tile(x, (size[1], 1)), np.tile(x[::-1], (size[1], 1)),
                       np.full((size[1], size[0]), 255, np.uint8)], axis=-1)
    image = Image.fromarray(pixels, "RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, **options)
    return out.getvalue(), image


def with_app1_xmp(jpeg: bytes, xmp: bytes) -> bytes:
    """Insert an APP1 XMP segment right after SOI, as the Motion Photo spec places it."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + jpeg[2:]


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def write(root: Path, name: str, data: bytes) -> None:
    (root / name).write_bytes(data)


def test_a_motion_photo_is_valid_and_its_record_holds_only_the_primary_jpeg(tmp_path: Path) -> None:
    primary = with_app1_xmp(photo()[0], MOTION_XMP)
    write(tmp_path, "PXL_20240101_120000000.MP.jpg", primary + MP4_TAIL)
    info = inspect_image(tmp_path, "PXL_20240101_120000000.MP.jpg")
    assert info.error is None
    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)
    assert info.payload_bytes == len(primary) and info.size_bytes == len(primary) + len(MP4_TAIL)
    encoded = encode_for_record(tmp_path, info, rotate=True)
    assert encoded.data == primary  # passthrough of the primary image, the video dropped
    assert np.array_equal(decoded(encoded.data), decoded(primary + MP4_TAIL))


def test_an_old_pixel_microvideo_trailer_is_found_by_its_offset(tmp_path: Path) -> None:
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf="
           b"'http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description xmlns:GCamera="
           b"'http://ns.google.com/photos/1.0/camera/' GCamera:MicroVideo='1' GCamera:MicroVideoVersion='1' "
           b"GCamera:MicroVideoOffset='%d'/></rdf:RDF></x:xmpmeta>" % len(MP4_TAIL))
    primary = with_app1_xmp(photo()[0], xmp)
    data = primary + MP4_TAIL
    write(tmp_path, "MVIMG_20180101_120000.jpg", data)
    info = inspect_image(tmp_path, "MVIMG_20180101_120000.jpg")
    assert info.error is None
    assert info.size_bytes - info.payload_bytes == len(MP4_TAIL)  # where MicroVideoOffset says the video starts


def test_a_samsung_sef_trailer_is_valid(tmp_path: Path) -> None:
    primary = photo()[0]
    field_name = b"MotionPhoto_Data"
    field = b"\x00\x00\x30\x0a" + struct.pack("<I", len(field_name)) + field_name + MP4_TAIL
    directory = (b"SEFH" + struct.pack("<II", 106, 1) + struct.pack("<HHII", 0, 0x0A30, len(field) + 12, len(field)))
    trailer = field + directory + struct.pack("<I", len(directory)) + b"SEFT"
    write(tmp_path, "20240101_120000.jpg", primary + trailer)
    info = inspect_image(tmp_path, "20240101_120000.jpg")
    assert info.error is None and info.payload_bytes == len(primary)
    assert encode_for_record(tmp_path, info, rotate=True).data == primary


def test_an_mpo_is_valid_and_its_record_holds_the_first_image(tmp_path: Path) -> None:
    left, right = photo()[1], photo()[1].transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    left.save(tmp_path / "stereo.mpo", format="MPO", save_all=True, append_images=[right], quality=90)
    data = (tmp_path / "stereo.mpo").read_bytes()
    info = inspect_image(tmp_path, "stereo.mpo")
    assert info.error is None and info.format == "MPO"
    assert 0 < info.payload_bytes < len(data)
    assert data[info.payload_bytes : info.payload_bytes + 2] == b"\xff\xd8"  # the second image starts there
    encoded = encode_for_record(tmp_path, info, rotate=True)
    assert len(encoded.data) == info.payload_bytes
    assert np.array_equal(decoded(encoded.data), decoded(data))  # Pillow shows the first frame


def test_an_exif_thumbnail_eoi_does_not_end_the_image(tmp_path: Path) -> None:
    """An EXIF APP1 with an embedded JPEG thumbnail holds its own FF D9 long before the main image's end."""
    thumb = io.BytesIO()
    photo((16, 12))[1].save(thumb, format="JPEG")
    exif = Image.Exif()
    exif[0x010F] = "Phone"
    app1_body = exif.tobytes() + thumb.getvalue()  # the thumbnail after the IFDs, as cameras place it
    primary = photo()[0]
    app1 = b"\xff\xe1" + struct.pack(">H", len(app1_body) + 2) + app1_body
    primary = primary[:2] + app1 + primary[2:]
    assert primary.index(b"\xff\xd9") < len(primary) - 2  # the thumbnail's EOI comes first
    assert primary_jpeg_end(primary + MP4_TAIL) == len(primary)
    write(tmp_path, "a.jpg", primary + MP4_TAIL)
    info = inspect_image(tmp_path, "a.jpg")
    assert info.error is None and info.payload_bytes == len(primary)


def test_a_progressive_jpeg_with_a_trailer_is_walked_through_every_scan(tmp_path: Path) -> None:
    primary = photo(progressive=True)[0]
    assert primary.count(b"\xff\xda") > 1
    assert primary_jpeg_end(primary + MP4_TAIL) == len(primary)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truly_truncated_jpeg_stays_truncated(tmp_path: Path, cut: float) -> None:
    primary = photo()[0]
    write(tmp_path, "a.jpg", primary[: int(len(primary) * cut)])
    info = inspect_image(tmp_path, "a.jpg")
    assert info.error == "truncated" and info.payload_bytes == 0


def test_a_trailer_after_a_corrupt_primary_is_not_a_valid_image(tmp_path: Path) -> None:
    """The walk reaches the primary's EOI, but its Huffman table is damaged: decoding the primary fails."""
    primary = bytearray(photo((256, 192))[0])
    dht = primary.index(b"\xff\xc4")
    primary[dht + 5 : dht + 21] = b"\xff" * 16  # the 16 code-length counts of the first table
    assert primary_jpeg_end(bytes(primary) + MP4_TAIL) == len(primary)
    write(tmp_path, "a.jpg", bytes(primary) + MP4_TAIL)
    info = inspect_image(tmp_path, "a.jpg")
    assert info.error is not None and info.error.startswith("corrupt")


def test_a_trailer_after_a_primary_cut_short_is_truncated(tmp_path: Path) -> None:
    """A primary cut inside its scan, then a video: no EOI of its own before the video's bytes."""
    primary = photo((256, 192))[0]
    sos = primary.rindex(b"\xff\xda")
    write(tmp_path, "a.jpg", primary[: sos + (len(primary) - sos) // 2] + b"ftypmp42" + b"\x00" * 64)
    assert inspect_image(tmp_path, "a.jpg").error == "truncated"


def test_zero_padding_after_the_eoi_keeps_the_whole_file(tmp_path: Path) -> None:
    primary = photo()[0]
    write(tmp_path, "a.jpg", primary + b"\x00" * 100)
    info = inspect_image(tmp_path, "a.jpg")
    assert info.error is None and info.payload_bytes == 0


def test_a_plain_jpeg_has_no_payload_length(tmp_path: Path) -> None:
    write(tmp_path, "a.jpg", photo()[0])
    assert inspect_image(tmp_path, "a.jpg").payload_bytes == 0
