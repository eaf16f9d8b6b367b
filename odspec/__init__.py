"""odspec: compile a small YAML spec into a TF2 Object Detection API project."""

__version__ = "0.1.0"
