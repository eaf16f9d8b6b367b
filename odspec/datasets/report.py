"""What a build put in each split, as JSON, a terminal table and a picture.

The report is computed from the final examples only (after checks and
splitting), so it describes exactly what the TFRecords hold: a user reading
it before a long training run can spot a class missing from val, tiny boxes
the model's anchors will not reach, or a surprising number of dropped boxes.
Every output is byte-deterministic, so an unchanged dataset rewrites nothing.
"""

from __future__ import annotations

import io
import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from odspec.datasets.model import SLOTS, Box, Example, Finding
from odspec.datasets.paths import ordered_unique
from odspec.datasets.split import SPLITS
from odspec.io import atomic_write

REPORT_VERSION = 1
FLOAT_DIGITS = 6
CHECKED_SPLITS = ("train", "val")
QUANTILES = (("min", 0.0), ("p10", 0.1), ("median", 0.5), ("p90", 0.9), ("max", 1.0))
PNG_SIZE_INCHES = (15.0, 5.0)
PNG_DPI = 100
SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
ASPECT_LIMITS = (1 / 16, 16.0)


@dataclass(frozen=True, **SLOTS)
class ReportExample:
    """One image as written to the records: its split, final (rotated) size and final boxes."""

    key: str
    split: str
    width: int
    height: int
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Quantiles:
    """Five points of a distribution; ``p10``/``p90`` show the bulk without the outliers."""

    min: float
    p10: float
    median: float
    p90: float
    max: float


@dataclass(frozen=True)
class SplitStats:
    """Counts and box shapes of one split.

    ``box_size`` is ``sqrt(box area / image area)``: the box's side as a
    fraction of the image's, comparable with anchor scales and min_dimension.
    ``aspect_ratio`` is width / height. Both are ``None`` for a split without
    boxes; the raw values are kept for the histograms only, as arrays of
    doubles (8 bytes a box, also when sent to the process that draws them).
    """

    images: int
    boxes: int
    images_without_boxes: int
    boxes_per_class: dict[str, int]
    images_per_class: dict[str, int]
    box_size: Quantiles | None
    aspect_ratio: Quantiles | None
    box_sizes: Sequence[float] = field(default=(), repr=False, compare=False)
    aspect_ratios: Sequence[float] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class DatasetReport:
    """Per-split statistics, the classes train or val lack, and the findings by what was done."""

    classes: tuple[str, ...]
    splits: dict[str, SplitStats]
    missing_classes: dict[str, tuple[str, ...]]
    findings: dict[str, tuple[Finding, ...]]

    def class_warnings(self) -> list[Finding]:
        """Findings for the build to show: a class absent from train cannot be learnt, from val cannot be measured."""
        why = {"train": "the model cannot learn it", "val": "evaluation cannot measure it"}
        return [
            Finding(f"{split} split", f"no example of class '{name}'", f"warning: {why[split]}")
            for split in CHECKED_SPLITS
            for name in self.missing_classes[split]
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON; raw per-box values are left out to keep the file small."""
        return {
            "version": REPORT_VERSION,
            "classes": list(self.classes),
            "splits": {name: _split_dict(stats) for name, stats in self.splits.items()},
            "totals": _totals(self),
            "missing_classes": {k: list(v) for k, v in self.missing_classes.items()},
            "findings": {
                "counts": {action: len(items) for action, items in self.findings.items()},
                "by_action": {action: [_finding_dict(f) for f in items] for action, items in self.findings.items()},
            },
        }

    def to_json(self) -> bytes:
        """UTF-8 JSON with sorted keys, floats rounded to 6 digits and a final newline: stable bytes."""
        text = json.dumps(_rounded(self.to_dict()), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    def to_table(self) -> str:
        """Boxes per class and split, then totals and findings, as aligned plain text."""
        return render_table(self)

    def png_bytes(self) -> bytes:
        """The figure as PNG bytes (see :func:`render_png`)."""
        return render_png(self)

    def to_png(self, path: Path) -> None:
        """Write :meth:`png_bytes` to ``path`` atomically."""
        atomic_write(Path(path), self.png_bytes())


class _Image(Protocol):
    @property
    def path(self) -> str: ...


class _Checked(Protocol):
    """What the report reads of :class:`odspec.datasets.checks.CheckedExample`."""

    @property
    def example(self) -> Example: ...
    @property
    def image(self) -> _Image: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class PlanLike(Protocol):
    """What the report reads of the build's dataset plan; structural, so this module imports neither."""

    @property
    def splits(self) -> Mapping[str, str]: ...
    @property
    def checked(self) -> Sequence[_Checked]: ...
    @property
    def findings(self) -> Sequence[Finding]: ...


def build_report(plan: PlanLike, classes: Sequence[str] = ()) -> DatasetReport:
    """The report of a planned build: its checked examples in their assigned splits, and its findings."""
    return report_from_examples(report_examples(plan.checked, plan.splits), plan.findings, classes)


def report_examples(checked: Iterable[_Checked], splits: Mapping[str, str]) -> list[ReportExample]:
    """Checked examples as the report sees them: split by image path, final size and boxes."""
    return [
        ReportExample(c.image.path, splits[c.image.path], c.width, c.height, c.example.boxes)
        for c in checked
    ]


def report_from_examples(
    examples: Iterable[ReportExample],
    findings: Sequence[Finding] = (),
    classes: Sequence[str] = (),
) -> DatasetReport:
    """Summarise the final examples; ``classes`` (spec order) are listed even with no box.

    Labels outside ``classes`` follow in order of first use, so nothing the
    records hold is hidden.
    """
    tally = ReportTally()
    for example in examples:
        tally.add(example.key, example.split, example.width, example.height, example.boxes)
    return tally.report(findings, classes)


class ReportTally:
    """The report's statistics gathered one example at a time: counters and two doubles a box, no examples kept.

    Feeding it examples in some order gives the same report as
    :func:`report_from_examples` on a list in that order.
    """

    def __init__(self) -> None:
        self._splits = {name: _SplitTally() for name in SPLITS}

    def add(self, key: str, split: str, width: int, height: int, boxes: Sequence[Box]) -> None:
        tally = self._splits.get(split)
        if tally is None:
            raise ValueError(f"unknown split {split!r} for {key} (use one of {SPLITS})")
        tally.add(width, height, boxes)

    def report(self, findings: Sequence[Finding] = (), classes: Sequence[str] = ()) -> DatasetReport:
        labels = ordered_unique(label for name in SPLITS for label in self._splits[name].per_box)
        names = tuple(ordered_unique([*classes, *labels]))
        splits = {name: tally.stats(names) for name, tally in self._splits.items()}
        missing = {s: tuple(c for c in names if splits[s].images_per_class[c] == 0) for s in CHECKED_SPLITS}
        grouped: dict[str, list[Finding]] = {}
        for finding in findings:
            grouped.setdefault(finding.action, []).append(finding)
        return DatasetReport(names, splits, missing, {k: tuple(v) for k, v in sorted(grouped.items())})


class _SplitTally:
    """One split's counts; ``per_box`` keeps labels in order of first use (a dict is ordered)."""

    def __init__(self) -> None:
        self.images = 0
        self.without_boxes = 0
        self.per_box: Counter[str] = Counter()
        self.per_image: Counter[str] = Counter()
        self.sizes = array("d")
        self.aspects = array("d")

    def add(self, width: int, height: int, boxes: Sequence[Box]) -> None:
        self.images += 1
        self.without_boxes += not boxes
        self.per_box.update(b.label for b in boxes)
        self.per_image.update({b.label for b in boxes})
        self.sizes.extend(relative_size(b, width, height) for b in boxes)
        self.aspects.extend(a for b in boxes if (a := aspect_ratio(b)) is not None)

    def stats(self, classes: Sequence[str]) -> SplitStats:
        return SplitStats(
            images=self.images,
            boxes=sum(self.per_box.values()),
            images_without_boxes=self.without_boxes,
            boxes_per_class={c: self.per_box[c] for c in classes},
            images_per_class={c: self.per_image[c] for c in classes},
            box_size=quantiles(self.sizes),
            aspect_ratio=quantiles(self.aspects),
            box_sizes=self.sizes,
            aspect_ratios=self.aspects,
        )


def split_stats(examples: Sequence[ReportExample], classes: Sequence[str]) -> SplitStats:
    """Counts and box-shape quantiles of one split, every class listed."""
    tally = _SplitTally()
    for example in examples:
        tally.add(example.width, example.height, example.boxes)
    return tally.stats(classes)


def relative_size(box: Box, width: int, height: int) -> float:
    """``sqrt(box area / image area)``; 0 for a degenerate box or image."""
    area = max(0.0, box.xmax - box.xmin) * max(0.0, box.ymax - box.ymin)
    return math.sqrt(area / (width * height)) if width > 0 and height > 0 else 0.0


def aspect_ratio(box: Box) -> float | None:
    """Width over height, ``None`` when either is not positive (no meaningful ratio)."""
    w, h = box.xmax - box.xmin, box.ymax - box.ymin
    return w / h if w > 0 and h > 0 else None


def quantiles(values: Sequence[float]) -> Quantiles | None:
    """Linear-interpolated quantiles (numpy's default method), ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    points = []
    for _, q in QUANTILES:
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        points.append(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return Quantiles(*points)


def _split_dict(stats: SplitStats) -> dict[str, Any]:
    return {
        "images": stats.images,
        "boxes": stats.boxes,
        "images_without_boxes": stats.images_without_boxes,
        "boxes_per_class": dict(stats.boxes_per_class),
        "images_per_class": dict(stats.images_per_class),
        "box_size": _quantiles_dict(stats.box_size),
        "aspect_ratio": _quantiles_dict(stats.aspect_ratio),
    }


def _quantiles_dict(q: Quantiles | None) -> dict[str, float] | None:
    return None if q is None else {name: getattr(q, name) for name, _ in QUANTILES}


def _totals(report: DatasetReport) -> dict[str, Any]:
    stats = report.splits.values()
    return {
        "images": sum(s.images for s in stats),
        "boxes": sum(s.boxes for s in stats),
        "images_without_boxes": sum(s.images_without_boxes for s in stats),
        "boxes_per_class": {c: sum(s.boxes_per_class[c] for s in stats) for c in report.classes},
        "findings": sum(len(items) for items in report.findings.values()),
    }


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {"file": finding.file, "line": finding.line, "what": finding.what}


def _rounded(value: Any) -> Any:
    """Floats rounded to :data:`FLOAT_DIGITS` at every depth, so last-bit noise never changes the bytes."""
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def render_table(report: DatasetReport) -> str:
    """One row per class (boxes per split and in total), then totals, findings and warnings."""
    header = ["class", *SPLITS, "total"]
    rows = [(c, [report.splits[s].boxes_per_class[c] for s in SPLITS]) for c in report.classes]
    totals = [
        ("boxes", [report.splits[s].boxes for s in SPLITS]),
        ("images", [report.splits[s].images for s in SPLITS]),
        ("no boxes", [report.splits[s].images_without_boxes for s in SPLITS]),
    ]
    body = [[name, *(str(n) for n in counts), str(sum(counts))] for name, counts in [*rows, *totals]]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    rule = "-" * len(line(header))
    lines = [line(header), rule, *(line(r) for r in body[: len(rows)]), rule, *(line(r) for r in body[len(rows) :])]
    lines.append(_findings_line(report))
    lines.extend(f"warning: {warning.file} has {warning.what} ({warning.action.removeprefix('warning: ')})"
                 for warning in report.class_warnings())
    return "\n".join(lines) + "\n"


def _findings_line(report: DatasetReport) -> str:
    total = sum(len(items) for items in report.findings.values())
    if not total:
        return "findings: none"
    parts = ", ".join(f"{action}: {len(items)}" for action, items in report.findings.items())
    return f"findings: {total} ({parts})"


def import_drawing() -> tuple[Any, Any, Any]:
    """matplotlib's style module, Agg canvas and Figure: the import :func:`render_png` needs (about 0.4 CPU
    seconds; a process that will draw a report later can pay it while it waits)."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return matplotlib.style, FigureCanvasAgg, Figure


def render_png(report: DatasetReport) -> bytes:
    """Boxes per class per split, box sizes and aspect ratios, as a fixed-size PNG.

    matplotlib is imported only to draw (:func:`import_drawing`), so building or reading reports
    stays fast. The default style (not the user's matplotlibrc), the Agg canvas, a
    fixed size and no "Software" tag keep the bytes identical run to run.
    """
    style, FigureCanvasAgg, Figure = import_drawing()  # noqa: N806 - classes
    with style.context("default"):
        figure = Figure(figsize=PNG_SIZE_INCHES, dpi=PNG_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, 3, gridspec_kw={"width_ratios": [2, 1, 1]})
        _plot_class_bars(axes[0], report)
        _plot_box_sizes(axes[1], report)
        _plot_aspect_ratios(axes[2], report)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return out.getvalue()


def _plot_class_bars(ax: Any, report: DatasetReport) -> None:
    """Grouped bars: one group per class, one bar per split."""
    ax.set_title("boxes per class")
    if not report.classes:
        _say_empty(ax, "no classes")
    width = 0.8 / len(SPLITS)
    positions = range(len(report.classes))
    for i, split in enumerate(SPLITS):
        counts = [report.splits[split].boxes_per_class[c] for c in report.classes]
        ax.bar([p + (i - 1) * width for p in positions], counts, width, label=split, color=SPLIT_COLOURS[split])
    ax.set_xticks(list(positions), report.classes, rotation=90 if len(report.classes) > 8 else 0)
    _label_counts(ax)
    if report.classes:
        ax.legend()


def _plot_box_sizes(ax: Any, report: DatasetReport) -> None:
    """Histogram of sqrt(box area / image area), one outline per split."""
    import numpy as np

    bins = [i / 20 for i in range(21)]
    for split in SPLITS:
        values = np.asarray(report.splits[split].box_sizes, dtype=float)  # a list would cost an array per value
        if len(values):
            ax.hist(values, bins=bins, histtype="step", label=split, color=SPLIT_COLOURS[split])
    ax.set_xlim(0, 1)
    ax.set_title("box size: sqrt(box area / image area)")
    _label_counts(ax)
    _legend_if_any(ax)


def _plot_aspect_ratios(ax: Any, report: DatasetReport) -> None:
    """Histogram of width / height on a log axis (1/16 .. 16, outside values clipped to the ends)."""
    import numpy as np

    low, high = ASPECT_LIMITS
    steps = 32
    bins = [low * (high / low) ** (i / steps) for i in range(steps + 1)]
    for split in SPLITS:
        raw = report.splits[split].aspect_ratios
        values = np.clip(np.asarray(raw, dtype=float), low, high)  # min(max(v, low), high), without a float object each
        if len(values):
            ax.hist(values, bins=bins, histtype="step", label=split, color=SPLIT_COLOURS[split])
    ax.set_xscale("log", base=2)
    ax.set_xlim(low, high)
    ticks = [2.0**e for e in range(-4, 5)]
    ax.set_xticks(ticks, [f"1/{round(1 / t)}" if t < 1 else f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_title("aspect ratio: width / height")
    _label_counts(ax)
    _legend_if_any(ax)


def _label_counts(ax: Any) -> None:
    """Counts are whole boxes: integer ticks only."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylabel("boxes")
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_if_any(ax: Any) -> None:
    """A legend when something was drawn (matplotlib warns on an empty one), else say so."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    else:
        _say_empty(ax, "no boxes")


def _say_empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
