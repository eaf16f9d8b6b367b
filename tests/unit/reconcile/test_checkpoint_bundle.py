"""The step of a TF2 checkpoint, read from its tensor bundle without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest
from reconcile_support import STEP_KEY, entry, table, write_checkpoint

from odspec.errors import BundleFormatError
from odspec.reconcile.bundle import read_int_variable, table_items


def test_step_is_read_from_the_checkpoint_not_its_number(tmp_path: Path) -> None:
    prefix = write_checkpoint(tmp_path, 3, 2000)
    assert read_int_variable(prefix) == 2000
    assert read_int_variable(prefix, b"save_counter/.ATTRIBUTES/VARIABLE_VALUE") == 3


def test_step_in_a_later_shard_of_a_sharded_checkpoint(tmp_path: Path) -> None:
    prefix = write_checkpoint(tmp_path, 5, 123_456_789_012, shards=3, step_shard=2, tensors=40)
    assert read_int_variable(prefix) == 123_456_789_012


def test_many_blocks_and_prefix_compressed_keys_are_all_read() -> None:
    items = [(f"model/layer_{i:04d}/kernel".encode(), bytes([i % 256])) for i in range(300)] + [(b"", b"h")]
    assert list(table_items(table(items, per_block=7))) == sorted(items)


def test_a_checkpoint_without_a_step_variable_has_none(tmp_path: Path) -> None:
    assert read_int_variable(write_checkpoint(tmp_path, 1, None)) is None


def test_an_int32_step_is_read_too(tmp_path: Path) -> None:
    header = (b"", b"\x08\x01")
    (tmp_path / "ckpt-1.index").write_bytes(table([header, (STEP_KEY, entry(3, 0, 0, 4))]))
    (tmp_path / "ckpt-1.data-00000-of-00001").write_bytes((77).to_bytes(4, "little"))
    assert read_int_variable(tmp_path / "ckpt-1") == 77


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        (b"not a checkpoint at all, but long enough to hold a footer of 48 bytes", "not a table (bad magic number)"),
        (b"short", "file too short for a table"),
        (table([(b"", b"\x08\x01"), (STEP_KEY, entry(9, 0, 0, 8))], compression=1), "compressed block"),
        (table([(b"", b"\x08\x01"), (STEP_KEY, entry(1, 0, 0, 4))]), "step/.ATTRIBUTES/VARIABLE_VALUE is not a scalar integer (dtype 1, 4 bytes)"),
    ],
)
def test_what_is_not_a_bundle_is_a_format_error(tmp_path: Path, index: bytes, problem: str) -> None:
    (tmp_path / "ckpt-1.index").write_bytes(index)
    (tmp_path / "ckpt-1.data-00000-of-00001").write_bytes(bytes(8))
    with pytest.raises(BundleFormatError) as caught:
        read_int_variable(tmp_path / "ckpt-1")
    assert str(caught.value) == problem


def test_a_truncated_index_is_a_format_error(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 1, 10)
    index = tmp_path / "ckpt-1.index"
    whole = index.read_bytes()
    index.write_bytes(whole[:20] + whole[-48:])
    with pytest.raises(BundleFormatError):
        read_int_variable(tmp_path / "ckpt-1")


def test_a_data_file_shorter_than_the_entry_says_is_a_format_error(tmp_path: Path) -> None:
    prefix = write_checkpoint(tmp_path, 1, 10)
    data = tmp_path / "ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-12])
    with pytest.raises(BundleFormatError, match="ends before step"):
        read_int_variable(prefix)


def test_a_missing_data_file_is_an_os_error(tmp_path: Path) -> None:
    prefix = write_checkpoint(tmp_path, 1, 10, data=False)
    with pytest.raises(FileNotFoundError):
        read_int_variable(prefix)
