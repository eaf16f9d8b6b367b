"""Every export layout the tests build, in one table: the COCO/VOC/CSV family and the YOLO family.

name -> (fixture builder, format, what detection must call it). The tests that must hold for every layout
(detected and read right, built and decoded by the OD API, `odspec init` then build) take their cases from here.
"""

from __future__ import annotations

from tests.unit.datasets.layouts.exports import LAYOUTS, Builder
from tests.unit.datasets.layouts.yolo_exports import YOLO_EXPORTS

EXPORTS: dict[str, tuple[Builder, str, str]] = {
    **LAYOUTS,
    **{name: (builder, "yolo", kind) for name, (builder, kind) in YOLO_EXPORTS.items()},
}
