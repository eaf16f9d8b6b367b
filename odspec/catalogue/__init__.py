"""The architecture catalogue: every TF2 model-zoo detection family and size."""

from __future__ import annotations

from odspec.catalogue.base import Architecture, TrainDefaults
from odspec.catalogue.center_net import ENTRIES as _CENTER_NET
from odspec.catalogue.efficientdet import ENTRIES as _EFFICIENTDET
from odspec.catalogue.faster_rcnn import ENTRIES as _FASTER_RCNN
from odspec.catalogue.ssd import ENTRIES as _SSD

CATALOGUE: dict[str, Architecture] = {a.name: a for a in (*_SSD, *_EFFICIENTDET, *_FASTER_RCNN, *_CENTER_NET)}

__all__ = ["CATALOGUE", "Architecture", "TrainDefaults"]
