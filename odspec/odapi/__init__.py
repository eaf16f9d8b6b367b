"""Thin, TensorFlow-free access to the OD API's own protobuf definitions."""
