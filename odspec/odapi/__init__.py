"""Thin, TensorFlow-free access to the OD API's own protobuf definitions."""

# The distributions that install the ``tensorflow`` module, in the order odspec looks for them.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")
