from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from odspec.datasets.images import ImageInfo, inspect_image


def save(root: Path, rel: str, image: Image.Image, **options: object) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack_from(">I", data, position)
        chunks.append((data[position + 4 : position + 8], data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(
        struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        for kind, payload in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def palette_image() -> Image.Image:
    image = Image.new("P", (20, 10), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return image


def sixteen_bit_image() -> Image.Image:
    return Image.fromarray(np.full((10, 20), 40000, dtype=np.uint16))


MAKERS: dict[str, tuple[Callable[[], Image.Image], str, str]] = {
    "rgb.jpg": (lambda: Image.new("RGB", (20, 10), (200, 10, 10)), "JPEG", "RGB"),
    "rgb.png": (lambda: Image.new("RGB", (20, 10), (200, 10, 10)), "PNG", "RGB"),
    "grey.jpg": (lambda: Image.new("L", (20, 10), 90), "JPEG", "L"),
    "grey.png": (lambda: Image.new("L", (20, 10), 90), "PNG", "L"),
    "rgba.png": (lambda: Image.new("RGBA", (20, 10), (1, 2, 3, 4)), "PNG", "RGBA"),
    "palette.png": (palette_image, "PNG", "P"),
    "cmyk.jpg": (lambda: Image.new("CMYK", (20, 10), (255, 0, 0, 0)), "JPEG", "CMYK"),
    "deep.png": (sixteen_bit_image, "PNG", "I;16"),  # or "I" (see below)
    "rgb.bmp": (lambda: Image.new("RGB", (20, 10), (1, 2, 3)), "BMP", "RGB"),
    "palette.gif": (palette_image, "GIF", "P"),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_the_header_gives_format_mode_and_size(tmp_path: Path, name: str) -> None:
    make, fmt, mode = MAKERS[name]
    data = save(tmp_path, name, make()).read_bytes()

    info = inspect_image(tmp_path, name)

    if mode == "I;16":  # Pillow 9 opens a 16-bit greyscale PNG as 32-bit "I", Pillow 13 as "I;16"; both convert alike
        assert info.mode in ("I", "I;16"), info.mode
        mode = info.mode
    expected = ImageInfo(name, hashlib.sha256(data).hexdigest(), len(data), fmt, mode, 20, 10, 1, None)
    assert info == expected


def test_inspecting_never_decodes_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    save(tmp_path, "a.jpg", Image.new("RGB", (20, 10)), exif=exif)
    (tmp_path / "b.png").write_bytes(png_with_exif_after_pixels(orientation=8))

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert inspect_image(tmp_path, "a.jpg").orientation == 6
    assert inspect_image(tmp_path, "b.png").orientation == 8


def png_with_exif_after_pixels(orientation: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (5, 6, 7)).save(out, format="PNG")
    exif = Image.Exif()
    exif[0x0112] = orientation
    chunks = png_chunks(out.getvalue())
    return png_from_chunks([*chunks[:-1], (b"eXIf", exif.tobytes()), *chunks[-1:]])


@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
def test_the_exif_orientation_is_read_but_not_applied(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    save(tmp_path, "a.jpg", Image.new("RGB", (20, 10)), exif=exif)

    info = inspect_image(tmp_path, "a.jpg")

    assert (info.orientation, info.width, info.height) == (orientation, 20, 10)
    assert info.displayed_size == ((10, 20) if orientation in (6, 8) else (20, 10))


@pytest.mark.parametrize("value", [0, 9, 300])
def test_an_orientation_outside_1_to_8_counts_as_none(tmp_path: Path, value: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = value
    save(tmp_path, "a.jpg", Image.new("RGB", (20, 10)), exif=exif)

    assert inspect_image(tmp_path, "a.jpg").orientation == 1


def jpeg_bytes() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="JPEG")
    return out.getvalue()


def test_zero_padding_after_the_jpeg_end_marker_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes() + b"\x00" * 64)

    assert inspect_image(tmp_path, "a.jpg").error is None


@pytest.mark.parametrize(("cut", "header"), [(-40, True), (-2, True), (100, False)])
def test_a_jpeg_cut_short_is_truncated(tmp_path: Path, cut: int, header: bool) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes()[:cut])

    info = inspect_image(tmp_path, "a.jpg")

    assert info.error == "truncated"
    assert info.format == ("JPEG" if header else None)


def test_bytes_after_the_jpeg_end_marker_are_a_trailer_not_truncation(tmp_path: Path) -> None:
    """Issue 10: data after a complete primary image (motion photos, SEF) is dropped, not an error."""
    data = jpeg_bytes()
    (tmp_path / "a.jpg").write_bytes(data + b"trailer")

    info = inspect_image(tmp_path, "a.jpg")
    assert info.error is None and info.payload_bytes == len(data)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 99, 199)).save(out, format="PNG")
    return out.getvalue()


def test_a_flipped_byte_in_a_png_breaks_its_crc(tmp_path: Path) -> None:
    data = bytearray(png_bytes())
    idat = data.index(b"IDAT") - 4
    data[idat + 10] ^= 0xFF
    (tmp_path / "a.png").write_bytes(bytes(data))

    info = inspect_image(tmp_path, "a.png")

    assert info.error == f"corrupt: CRC mismatch in chunk IDAT at byte {idat}"
    assert (info.format, info.width) == ("PNG", 32)


@pytest.mark.parametrize("cut", [-12, -20, 40])
def test_a_png_without_iend_is_truncated(tmp_path: Path, cut: int) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes()[:cut])

    assert inspect_image(tmp_path, "a.png").error == "truncated"


def test_damaged_pixel_data_needs_verify_pixels(tmp_path: Path) -> None:
    chunks = png_chunks(png_bytes())
    chunks = [(kind, b"\x78\x9c" + b"\xff" * 40 if kind == b"IDAT" else payload) for kind, payload in chunks]
    (tmp_path / "a.png").write_bytes(png_from_chunks(chunks))

    assert inspect_image(tmp_path, "a.png").error is None
    error = inspect_image(tmp_path, "a.png", verify_pixels=True).error
    assert error is not None and error.startswith("corrupt: ")


def test_a_truncated_bmp_is_found_by_verify_pixels(tmp_path: Path) -> None:
    data = save(tmp_path, "a.bmp", Image.new("RGB", (32, 32))).read_bytes()
    (tmp_path / "a.bmp").write_bytes(data[:-500])

    assert inspect_image(tmp_path, "a.bmp", verify_pixels=True).error == "truncated"


def test_a_missing_file(tmp_path: Path) -> None:
    assert inspect_image(tmp_path, "sub/a.jpg") == ImageInfo("sub/a.jpg", "", 0, None, None, 0, 0, 1, "missing")


@pytest.mark.parametrize(
    ("contents", "error"),
    [
        (b"", "unreadable: empty file"),
        (b"not an image at all", "unreadable: not an image format Pillow recognises"),
    ],
)
def test_files_that_are_not_images(tmp_path: Path, contents: bytes, error: str) -> None:
    (tmp_path / "a.jpg").write_bytes(contents)

    info = inspect_image(tmp_path, "a.jpg")

    assert (info.error, info.format, info.size_bytes) == (error, None, len(contents))


def test_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").mkdir()

    assert inspect_image(tmp_path, "a.jpg").error == "not a regular file but a folder"


def test_paths_that_escape_the_root_are_never_read(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    outside = save(tmp_path, "secret/a.jpg", Image.new("RGB", (8, 8)))
    (root / "link.jpg").symlink_to(outside)
    (root / "folder").symlink_to(outside.parent, target_is_directory=True)
    (root / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")

    for rel in ["../secret/a.jpg", str(outside), "link.jpg", "folder/a.jpg", "dangling.jpg"]:
        assert inspect_image(root, rel) == ImageInfo(rel, "", 0, None, None, 0, 0, 1, "escapes the dataset root"), rel


def test_links_that_stay_inside_the_root_are_followed(tmp_path: Path) -> None:
    save(tmp_path, "real/a.jpg", Image.new("RGB", (8, 8)))
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "b.jpg").symlink_to(tmp_path / "real/a.jpg")

    assert inspect_image(tmp_path, "alias/a.jpg").error is None
    assert inspect_image(tmp_path, "b.jpg").error is None
    assert inspect_image(tmp_path, "real/../b.jpg").error is None
