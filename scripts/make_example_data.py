"""Regenerate the bundled example dataset ``examples/shapes/`` (VOC format).

Run from anywhere: ``python scripts/make_example_data.py``. The output is
deterministic, so re-running it leaves the committed files unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from odspec.datasets.synthetic import make_shapes

OUT_DIR = Path(__file__).resolve().parent.parent / "examples" / "shapes"
N_IMAGES = 60


def main() -> int:
    dataset = make_shapes(OUT_DIR, N_IMAGES, size=(256, 256), seed=0, formats=("voc",))
    total = sum((OUT_DIR / f).stat().st_size for f in dataset.files)
    boxes = sum(len(e.boxes) for e in dataset.examples)
    print(f"wrote {len(dataset.files)} files ({total / 1024:.0f} KiB, {boxes} boxes) to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
