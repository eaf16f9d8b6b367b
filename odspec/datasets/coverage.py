"""Whether every split a run reads holds images: one decision, made for `odspec build` and `validate --data`.

Training reads train and evaluation reads ``eval.split``; pipeline.config names
their shards, so either being empty would be a build that looks successful and
a run that fails (or, worse, evaluates nothing). Such a build stops, naming the
split and why it is empty. A split nothing reads may be empty: that is said as
a finding, and no config points at it (only train and ``eval.split`` are named).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from odspec.datasets.model import Finding
from odspec.datasets.split import SPLITS
from odspec.errors import DatasetError


class EmptySplitError(DatasetError):
    """A split that training or evaluation reads would hold no image; ``findings``: the build's, for the report."""

    def __init__(self, message: str, hint: str | None = None, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message, hint)
        self.findings = tuple(findings)


_BOX_PREFIX = re.compile(r"^box \d+(?: \([^)]*\))? ")
_DETAIL = re.compile(r" \([^()]*\)$")


def skip_reason(what: str) -> str:
    """A finding's text without the per-image details, so that skipped images can be counted by reason.

    "box 3 (cat) extends past the right edge (xmax 700 > width 640)" -> "box extends past the right edge".
    """
    boxed = _BOX_PREFIX.match(what) is not None
    reason = _DETAIL.sub("", _BOX_PREFIX.sub("", what))
    return f"box {reason}" if boxed else reason


def reasons_text(reasons: Mapping[str, int]) -> str:
    """``12 image file is missing, 28 box extends past the right edge``: most frequent first, then by name."""
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {reason}" for reason, count in ordered)


def judge_splits(kept: Mapping[str, int], skipped: Mapping[str, Mapping[str, int]], needed: Sequence[str], *,
                 policy: str, from_source: bool, source_splits: Collection[str],
                 ratios: Sequence[float]) -> list[Finding]:
    """Findings for the empty splits nothing reads; raises DatasetError naming every empty split that is read.

    ``kept``: images per split in the plan. ``skipped``: per split, the images the
    policy left out that would have gone there, counted by reason. ``source_splits``:
    the splits the source named (with ``from_source``). ``ratios``: train, val, test shares.
    """
    reads = list(dict.fromkeys(needed))
    empty = [split for split in SPLITS if not kept.get(split)]
    refused = [split for split in reads if split in empty]
    if refused:
        lines = [why_empty(split, skipped.get(split, {}), policy=policy, from_source=from_source,
                           source_splits=source_splits, share=ratios[SPLITS.index(split)]) for split in refused]
        raise EmptySplitError("nothing to build: " + "; ".join(lines), _hint(refused, skipped, from_source))
    return [Finding(f"{split} split", why_empty(split, skipped.get(split, {}), policy=policy,
                                               from_source=from_source, source_splits=source_splits,
                                               share=ratios[SPLITS.index(split)]),
                    "no shards written: nothing reads this split") for split in empty]


def why_empty(split: str, skipped: Mapping[str, int], *, policy: str, from_source: bool,
              source_splits: Collection[str], share: float) -> str:
    count = sum(skipped.values())
    if count:
        return (f"all {count} image{'s' if count != 1 else ''} of {split} were skipped: {reasons_text(skipped)} "
                f"(dataset.on_bad_annotation: {policy})")
    if from_source:
        named = [s for s in SPLITS if s in source_splits]
        gives = f"gives only {' and '.join(named)}" if named else "names no split"
        return f"{split} holds no images: the source split {gives}"
    if share <= 0:
        return f"{split} holds no images: split.{split} is 0"
    return f"{split} holds no images: no image fell in its share ({share:g}) of the split"


def _hint(refused: Sequence[str], skipped: Mapping[str, Mapping[str, int]], from_source: bool) -> str:
    if any(sum(skipped.get(s, {}).values()) for s in refused):
        return ("fix the images and annotations the findings list, or choose a dataset.on_bad_annotation "
                "that keeps them (skip_box, repair); the previous build is left as it was")
    if from_source:
        return ("add the split to the export, or set split.from_source: false to split by split.train/val/test"
                + ("; or evaluate on another split with eval.split" if "train" not in refused else ""))
    return "give the split a share (split.train/val/test) or add images; the previous build is left as it was"


def tally_skipped(skipped_images: Mapping[str, str], findings: Sequence[Finding],
                  skipped_action: str) -> dict[str, Counter[str]]:
    """Per split, the skipped images (image -> split it would have gone to) counted by the reason a finding gives.

    An image skipped without a finding of ``skipped_action`` about it is counted as "skipped".
    """
    reason: dict[str, str] = {}
    for finding in findings:
        if finding.action == skipped_action and finding.file in skipped_images:
            reason.setdefault(finding.file, skip_reason(finding.what))
    tally: dict[str, Counter[str]] = {}
    for image, split in skipped_images.items():
        tally.setdefault(split, Counter())[reason.get(image, "skipped")] += 1
    return tally
