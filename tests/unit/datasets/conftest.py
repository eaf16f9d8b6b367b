"""Fixtures that build small datasets on disk from a dict of file contents."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from PIL import Image

Contents = str | bytes
MakeTree = Callable[[Mapping[str, Contents]], Path]


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A plain image of the given size, encoded as ``fmt``."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """Write ``{relative path: text or bytes}`` under ``tmp_path`` and return ``tmp_path``."""

    def make(files: Mapping[str, Contents]) -> Path:
        for relative, contents in files.items():
            target = tmp_path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(contents, bytes):
                target.write_bytes(contents)
            else:
                target.write_text(contents)
        return tmp_path

    return make


@pytest.fixture
def encode_image() -> Callable[..., bytes]:
    """:func:`image_bytes`, for tests that need real image headers."""
    return image_bytes
