from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageOps

from odspec.datasets.images import EncodedImage, encode_for_record, inspect_image
from odspec.errors import DatasetError


def save(root: Path, rel: str, image: Image.Image, **options: object) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return rel


def encode(root: Path, rel: str, *, rotate: bool = True) -> tuple[EncodedImage, Image.Image]:
    encoded = encode_for_record(root, inspect_image(root, rel), rotate=rotate)
    decoded = Image.open(io.BytesIO(encoded.data))
    decoded.load()
    return encoded, decoded


def marked(size: tuple[int, int] = (40, 30), mode: str = "RGB") -> Image.Image:
    """A plain image with a bright block near its top-left corner, to see where pixels go."""
    image = Image.new("RGB", size, (20, 40, 60))
    ImageDraw.Draw(image).rectangle((2, 3, 9, 7), fill=(250, 250, 250))
    return image.convert(mode)


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("name", ["a.jpg", "a.png"])
def test_rgb_jpeg_and_png_go_in_untouched(tmp_path: Path, name: str) -> None:
    save(tmp_path, name, marked(), exif=with_orientation(1))

    encoded, _ = encode(tmp_path, name)

    fmt = "jpeg" if name.endswith("jpg") else "png"
    assert encoded == EncodedImage((tmp_path / name).read_bytes(), fmt, 40, 30)


def test_the_record_format_follows_the_content_not_the_name(tmp_path: Path) -> None:
    save(tmp_path, "really_a_png.jpg", marked(), format="PNG")

    assert encode(tmp_path, "really_a_png.jpg")[0].format == "png"


def test_a_sixteen_bit_rgb_png_is_reencoded(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(rgb48_png())

    encoded, decoded = encode(tmp_path, "a.png")

    assert encoded.data != (tmp_path / "a.png").read_bytes()
    assert decoded.mode == "RGB" and decoded.getpixel((0, 0)) == (255, 128, 0)


def rgb48_png() -> bytes:
    """A 2x1 16-bit-per-channel RGB PNG, written by hand (Pillow cannot save one)."""
    import struct
    import zlib

    rows = b"\x00" + struct.pack(">6H", 65535, 32896, 0, 65535, 32896, 0)
    chunks = [
        (b"IHDR", struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)),
        (b"IDAT", zlib.compress(rows)),
        (b"IEND", b""),
    ]
    body = b"".join(
        struct.pack(">I", len(p)) + k + p + struct.pack(">I", zlib.crc32(k + p)) for k, p in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize(
    ("name", "mode", "options", "fmt"),
    [
        ("grey.jpg", "L", {}, "jpeg"),
        ("grey.png", "L", {}, "png"),
        ("cmyk.jpg", "CMYK", {}, "jpeg"),
        ("alpha.png", "RGBA", {}, "png"),
        ("palette.png", "P", {}, "png"),
        ("a.bmp", "RGB", {}, "png"),
        ("a.gif", "P", {}, "png"),
        ("a.tif", "RGB", {}, "png"),
    ],
)
def test_other_images_become_8_bit_rgb(
    tmp_path: Path, name: str, mode: str, options: dict[str, object], fmt: str
) -> None:
    save(tmp_path, name, marked(mode=mode), **options)

    encoded, decoded = encode(tmp_path, name)

    assert (encoded.format, encoded.width, encoded.height) == (fmt, 40, 30)
    assert (decoded.format.lower(), decoded.mode, decoded.size) == (fmt, "RGB", (40, 30))
    bright = np.asarray(decoded)[4:7, 3:9].mean()
    assert bright > 200  # the block stayed where it was


def test_transparency_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (255, 0, 0, 255))
    image.putpixel((2, 0), (0, 0, 255, 128))
    save(tmp_path, "a.png", image)

    _, decoded = encode(tmp_path, "a.png")

    assert list(decoded.getdata()) == [(255, 255, 255), (255, 0, 0), (127, 127, 255), (255, 255, 255)]


def test_a_transparent_palette_entry_becomes_white(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    save(tmp_path, "a.png", image, transparency=0)

    _, decoded = encode(tmp_path, "a.png")

    assert list(decoded.getdata()) == [(255, 255, 255), (0, 200, 0)]


def test_sixteen_bit_grey_is_scaled_to_8_bits(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    save(tmp_path, "a.png", Image.fromarray(values))

    _, decoded = encode(tmp_path, "a.png")

    assert list(decoded.getdata()) == [(0, 0, 0), (1, 1, 1), (128, 128, 128), (255, 255, 255)]


def test_cmyk_colours_are_converted(tmp_path: Path) -> None:
    save(tmp_path, "a.jpg", Image.new("CMYK", (16, 16), (255, 0, 0, 0)), quality=100)

    _, decoded = encode(tmp_path, "a.jpg")

    assert np.abs(np.asarray(decoded, dtype=int) - (0, 255, 255)).max() <= 3


def test_reencoding_is_deterministic_and_drops_metadata(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(tmp_path, "a.jpg", marked(mode="L"), icc_profile=icc, exif=with_orientation(1), comment=b"hello")
    save(tmp_path, "a.png", marked(mode="RGBA"), icc_profile=icc, exif=with_orientation(1), dpi=(300, 300))

    for name in ("a.jpg", "a.png"):
        first, decoded = encode(tmp_path, name)
        assert encode(tmp_path, name)[0] == first
        assert not {"icc_profile", "exif", "comment", "dpi"} & set(decoded.info), name
        assert len(decoded.getexif()) == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_rotation_matches_pillows_exif_transpose(tmp_path: Path, orientation: int) -> None:
    save(tmp_path, "a.png", marked(mode="RGBA"), exif=with_orientation(orientation))

    encoded, decoded = encode(tmp_path, "a.png", rotate=True)

    expected = ImageOps.exif_transpose(Image.open(tmp_path / "a.png")).convert("RGB")
    assert (encoded.width, encoded.height) == expected.size
    assert np.array_equal(np.asarray(decoded), np.asarray(expected))


@pytest.mark.parametrize("orientation", [2, 3, 6, 8])
def test_a_rotated_rgb_jpeg_is_reencoded_upright(tmp_path: Path, orientation: int) -> None:
    save(tmp_path, "a.jpg", marked(), exif=with_orientation(orientation), quality=95)

    encoded, decoded = encode(tmp_path, "a.jpg", rotate=True)

    expected = ImageOps.exif_transpose(Image.open(tmp_path / "a.jpg"))
    assert encoded.format == "jpeg" and decoded.size == expected.size == (encoded.width, encoded.height)
    assert 0x0112 not in decoded.getexif()
    difference = np.abs(np.asarray(decoded, dtype=int) - np.asarray(expected, dtype=int))
    assert difference.mean() < 2


def test_without_rotate_the_stored_pixels_are_kept_and_the_tag_dropped(tmp_path: Path) -> None:
    save(tmp_path, "a.png", marked(), exif=with_orientation(6))

    encoded, decoded = encode(tmp_path, "a.png", rotate=False)

    assert (encoded.width, encoded.height) == (40, 30)
    assert np.array_equal(np.asarray(decoded), np.asarray(marked()))
    assert 0x0112 not in decoded.getexif()


def test_an_unusable_image_cannot_be_encoded(tmp_path: Path) -> None:
    info = inspect_image(tmp_path, "gone.jpg")

    with pytest.raises(ValueError, match=r"gone.jpg: cannot encode an unusable image \(missing\)"):
        encode_for_record(tmp_path, info, rotate=True)


def test_an_image_changed_since_it_was_inspected_is_an_error(tmp_path: Path) -> None:
    save(tmp_path, "a.jpg", marked())
    info = inspect_image(tmp_path, "a.jpg")
    save(tmp_path, "a.jpg", marked(size=(41, 30)))

    with pytest.raises(DatasetError) as raised:
        encode_for_record(tmp_path, info, rotate=True)

    assert str(raised.value) == (
        "a.jpg: the image changed or disappeared after it was checked "
        "(run the build again once nothing else writes to the images folder)"
    )


def test_damaged_pixels_found_only_when_encoding_name_the_setting(tmp_path: Path) -> None:
    data = (tmp_path / save(tmp_path, "a.bmp", marked())).read_bytes()
    (tmp_path / "a.bmp").write_bytes(data[:-600])
    info = inspect_image(tmp_path, "a.bmp")
    assert info.error is None

    with pytest.raises(DatasetError, match=r"^a.bmp: the image cannot be decoded: .*dataset.verify_pixels: true"):
        encode_for_record(tmp_path, info, rotate=True)
