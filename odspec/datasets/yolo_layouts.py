"""YOLO-family export layouts (Ultralytics/Roboflow data.yaml, CVAT YOLO 1.1, Label Studio, LabelImg): see layouts.py."""

from __future__ import annotations

from pathlib import Path

from odspec.datasets.layouts import Layout


def detect_yolo(path: Path) -> Layout | None:
    """The YOLO layout of the export at ``path``, or None when it is not one (replaced on the YOLO branch)."""
    return None
