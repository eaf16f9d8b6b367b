"""The TensorFlow-free checkpoint step reader agrees with a checkpoint TensorFlow itself wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from odspec.reconcile.bundle import read_int_variable

pytestmark = pytest.mark.odapi


def test_reads_the_step_of_a_real_tf_checkpoint(tmp_path: Path) -> None:
    import tensorflow as tf

    step = tf.Variable(1234, dtype=tf.int64)
    weights = tf.Variable(tf.random.uniform((64, 64)))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step, model=tf.train.Checkpoint(w=weights)),
                                         str(tmp_path), max_to_keep=2)
    first = manager.save()
    step.assign(1300)
    second = manager.save()
    assert read_int_variable(Path(first)) == 1234
    assert read_int_variable(Path(second)) == 1300
