"""Regenerate the bundled example: its dataset ``odspec/example/shapes/`` (VOC format) and ``specs/example.yaml``.

Run from anywhere: ``python scripts/make_example_data.py``. The output is
deterministic, so re-running it leaves the committed files unchanged. The spec
is edited in ``odspec/example/example.yaml``; ``specs/example.yaml`` is made
from it (:func:`odspec.bundled_example.repo_spec_text`).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's odspec, whatever else is installed

from odspec.bundled_example import (  # noqa: E402
    EXAMPLE_CLASSES,
    EXAMPLE_IMAGES,
    EXAMPLE_SIDES,
    EXAMPLE_SIZE,
    repo_spec_text,
)
from odspec.datasets.synthetic import make_shapes  # noqa: E402
from odspec.io import atomic_write  # noqa: E402
from odspec.resources import example_folder  # noqa: E402


def main() -> int:
    out_dir = example_folder() / "shapes"
    dataset = make_shapes(out_dir, EXAMPLE_IMAGES, size=EXAMPLE_SIZE, classes=EXAMPLE_CLASSES, seed=0,
                          formats=("voc",), sides=EXAMPLE_SIDES)
    total = sum((out_dir / f).stat().st_size for f in dataset.files)
    boxes = sum(len(e.boxes) for e in dataset.examples)
    print(f"wrote {len(dataset.files)} files ({total / 1024:.0f} KiB, {boxes} boxes) to {out_dir}")
    atomic_write(REPO / "specs" / "example.yaml", repo_spec_text().encode())
    print(f"wrote {REPO / 'specs' / 'example.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
