"""Check read examples against their images and apply ``dataset.on_bad_annotation``.

Every problem becomes a :class:`Finding` whose ``action`` says what was done
about it, from a fixed vocabulary (reports group by it); ``"error"`` means
nothing could be done under the policy. All
examples are checked before deciding, so one run lists every problem, and if
any finding is an error :func:`check_examples` raises instead of returning.

Boxes come out in the frame the record stores: the image as displayed, with
its EXIF orientation applied (the OD API's decoder ignores EXIF, so the
rotation is baked into the pixels and the boxes follow it).

Which image were the boxes drawn on, the stored pixels ("raw") or the image as
displayed ("rotated")? Some exporters record the stored size with boxes drawn
on the displayed image (Label Studio's COCO export), so the size alone cannot
decide. For an image with EXIF orientation != 1 and boxes, two kinds of
evidence: what the annotation size matches (raw, rotated, either: unrecorded
or both, or neither: a size-mismatch finding) and which frames all boxes fit
in (right and bottom edges within the width and height, FIT_SLACK pixels of
rounding allowed). :func:`decide_frame`:

    size says / boxes fit   raw only    rotated only  both        neither
    raw                      raw         ambiguous     ambiguous   raw
    rotated                  ambiguous   rotated       rotated     rotated
    either                   raw         rotated       ambiguous   ambiguous

A stored size with boxes that fit both frames is ambiguous: an exporter may
record the stored size with displayed boxes. A displayed size is only ever
written by a tool that showed the displayed image, so boxes fitting it agree.
Orientations 2, 3 and 4 keep the size, so sizes and boxes always match both:
always ambiguous. An ambiguous image takes ``dataset.orientation_fallback``
with a finding of its own ("assumed drawn on the ... image"); and every image
whose boxes are turned from the stored to the displayed frame gets a finding
("boxes turned with the image"): boxes are never rotated silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from odspec.datasets.images import ESCAPES_ROOT, ImageInfo
from odspec.datasets.model import SLOTS, Box, Example, Finding
from odspec.errors import DatasetCheckError, suggest

Policy = Literal["stop", "skip_box", "skip_image", "repair"]
Frame = Literal["rotated", "raw"]

ERROR = "error"
IMAGE_SKIPPED = "image skipped"
BOX_DROPPED = "box dropped"
CLIPPED = "clipped"
EXTRA_DROPPED = "extra boxes dropped"
ENTRY_SKIPPED = "entry skipped"
KEPT_NEGATIVE = "kept as a negative"
BOXES_TURNED = "boxes turned with the image"
FIT_SLACK = 1.0  # pixels a box edge may pass the image edge and still "fit" (exporters round)
POLICIES: tuple[Policy, ...] = ("stop", "skip_box", "skip_image", "repair")

# (swap the axes, then mirror x, then mirror y) that shows the stored pixels as displayed, per orientation.
ORIENTATION_STEPS = {
    1: (False, False, False),
    2: (False, True, False),
    3: (False, True, True),
    4: (False, False, True),
    5: (True, False, False),
    6: (True, True, False),
    7: (True, True, True),
    8: (True, False, True),
}


@dataclass(frozen=True, **SLOTS)
class CheckedExample:
    """An example ready for a record: boxes after the policy, in the final (displayed) frame.

    ``rotate`` is what :func:`~odspec.datasets.images.encode_for_record` must
    be called with; ``width``/``height`` are the size after rotation.
    """

    example: Example
    image: ImageInfo
    rotate: bool
    width: int
    height: int


@dataclass(frozen=True)
class CheckResult:
    """The examples to use, sorted by image path, and every finding (none of them errors)."""

    examples: list[CheckedExample]
    findings: list[Finding]


@dataclass(frozen=True)
class _Rules:
    classes: tuple[str, ...]
    policy: Policy
    max_boxes: int
    keep_empty: bool
    orientation_fallback: Frame


def check_examples(
    examples: Sequence[Example],
    infos: Mapping[str, ImageInfo],
    classes: Sequence[str],
    *,
    policy: Policy,
    max_boxes: int,
    keep_empty: bool,
    orientation_fallback: Frame,
) -> CheckResult:
    """Check every example and apply ``policy``; raise :class:`DatasetCheckError` on any error.

    ``infos`` maps each example's image (posix path relative to the images
    root) to :func:`~odspec.datasets.images.inspect_image`'s answer. Examples
    are taken in image-path order, so of several entries sharing the same
    bytes the first by path is kept.
    """
    checker = ExampleChecker(classes, policy=policy, max_boxes=max_boxes, keep_empty=keep_empty,
                             orientation_fallback=orientation_fallback)
    kept: list[CheckedExample] = []
    for example in sorted(examples, key=lambda e: e.image.as_posix()):
        checked = checker.check(example, _info_for(example, infos))
        if checked is not None:
            kept.append(checked)
    return CheckResult(kept, checker.finish())


class ExampleChecker:
    """:func:`check_examples` one example at a time, for callers that stream examples in image-path order.

    What it keeps between examples is one entry per distinct image content (for
    the duplicate check): the image's path, not the example.
    """

    def __init__(self, classes: Sequence[str], *, policy: Policy, max_boxes: int, keep_empty: bool,
                 orientation_fallback: Frame) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}")
        self.rules = _Rules(tuple(classes), policy, max_boxes, keep_empty, orientation_fallback)
        self.findings: list[Finding] = []
        self._first_path: dict[bytes, str] = {}  # content digest -> the first image path with those bytes
        self._run: tuple[str, str] = ("", "")  # (path, source) of the first entry of the latest path

    def check(self, example: Example, info: ImageInfo, name: str | None = None) -> CheckedExample | None:
        """The example ready for a record, or ``None`` when it is not used (see :attr:`findings`).

        ``name`` is ``example.image.as_posix()`` when the caller already holds it.
        """
        name = example.image.as_posix() if name is None else name
        if self._run[0] != name:
            self._run = (name, example.source)
        unusable = unusable_name_finding(name, self.rules.policy)
        if unusable is not None:
            self.findings.append(unusable)
            return None
        if info.error is not None:
            self.findings.append(_image_error(info, self.rules.policy))
            return None
        key = _content_key(info.sha256)
        first = self._first_path.get(key)
        if first is None:
            self._first_path[key] = name
        else:
            self.findings.append(_duplicate(name, example.source, first, self._run[1], self.rules.policy))
            return None
        checked, found = _check_example(example, info, self.rules)
        self.findings.extend(found)
        return checked

    def finish(self) -> list[Finding]:
        """Every finding; raises :class:`DatasetCheckError` when any is an error."""
        errors = [f for f in self.findings if f.action == ERROR]
        if errors:
            raise DatasetCheckError(errors, self.findings)
        return self.findings


def _check_example(
    example: Example, info: ImageInfo, rules: _Rules
) -> tuple[CheckedExample | None, list[Finding]]:
    """One readable image's size, frame and boxes; ``None`` when the image is not used."""
    name = example.image.as_posix()
    decided = annotation_frame(example, info)
    if decided is None:
        return None, [Finding(name, _size_mismatch(example, info), _image_action(rules.policy))]
    findings: list[Finding] = []
    if info.orientation != 1 and example.boxes:
        fits = (_boxes_fit(example.boxes, (info.width, info.height)), _boxes_fit(example.boxes, info.displayed_size))
        decision = decide_frame(decided, *fits)
        frame: Frame = rules.orientation_fallback if decision == "ambiguous" else decision
        if decision == "ambiguous":
            findings.append(_fallback_note(name, info.orientation, frame, decided, fits))
        if frame == "raw":
            findings.append(Finding(name, f"boxes drawn on the stored pixels; EXIF orientation {info.orientation} "
                                          "turns the image, so its boxes were turned the same way", BOXES_TURNED))
    else:
        frame = rules.orientation_fallback if decided == "either" else decided
    width, height = info.displayed_size if frame == "rotated" else (info.width, info.height)
    boxes, box_findings = _check_boxes(name, example.boxes, width, height, rules)
    findings.extend(box_findings)
    boxes, limit_finding = _limit_boxes(name, boxes, rules)
    findings.extend(limit_finding)
    if any(f.action == IMAGE_SKIPPED for f in findings):
        return None, findings
    if not boxes:
        empty = _empty_finding(name, example, rules.keep_empty)
        findings.extend(empty)
        if not rules.keep_empty:
            return None, findings
    if frame == "raw":
        boxes = [transform_box(b, info.orientation, info.width, info.height) for b in boxes]
    final_width, final_height = info.displayed_size
    final = replace(example, width=final_width, height=final_height, boxes=tuple(boxes))
    return CheckedExample(final, info, info.orientation != 1, final_width, final_height), findings


def annotation_frame(example: Example, info: ImageInfo) -> Literal["rotated", "raw", "either"] | None:
    """Which image the annotation's size describes: displayed, stored, either, or neither (``None``)."""
    raw = (info.width, info.height)
    rotated = info.displayed_size
    matches_raw, matches_rotated = _size_matches(example, raw), _size_matches(example, rotated)
    if matches_raw and matches_rotated:
        return "either"
    if matches_rotated:
        return "rotated"
    if matches_raw:
        return "raw"
    return None


def decide_frame(size_says: Literal["rotated", "raw", "either"], fit_raw: bool,
                 fit_rotated: bool) -> Literal["rotated", "raw", "ambiguous"]:
    """The frame boxes were drawn on, from the size evidence and where the boxes fit (table in the module doc)."""
    boxes_say: Literal["either", "raw", "rotated", "neither"]
    if fit_raw and fit_rotated:
        boxes_say = "either"
    elif fit_raw or fit_rotated:
        boxes_say = "raw" if fit_raw else "rotated"
    else:
        boxes_say = "neither"  # out of both frames: the box checks report it in the frame the size names
    if size_says == "rotated":
        return "ambiguous" if boxes_say == "raw" else "rotated"
    if size_says == "raw":
        return "raw" if boxes_say in ("raw", "neither") else "ambiguous"
    return boxes_say if boxes_say in ("raw", "rotated") else "ambiguous"


def _boxes_fit(boxes: Sequence[Box], size: tuple[int, int]) -> bool:
    return all(b.xmax <= size[0] + FIT_SLACK and b.ymax <= size[1] + FIT_SLACK for b in boxes)


def transform_box(box: Box, orientation: int, raw_width: int, raw_height: int) -> Box:
    """``box`` on the stored pixels -> the same box on the image as displayed (EXIF ``orientation``)."""
    swap, mirror_x, mirror_y = ORIENTATION_STEPS[orientation]
    xmin, ymin, xmax, ymax = box.xmin, box.ymin, box.xmax, box.ymax
    width, height = raw_width, raw_height
    if swap:
        xmin, ymin, xmax, ymax = ymin, xmin, ymax, xmax
        width, height = height, width
    if mirror_x:
        xmin, xmax = width - xmax, width - xmin
    if mirror_y:
        ymin, ymax = height - ymax, height - ymin
    return replace(box, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)


def _info_for(example: Example, infos: Mapping[str, ImageInfo]) -> ImageInfo:
    key = example.image.as_posix()
    if key not in infos:
        raise ValueError(f"no ImageInfo for {key}: inspect every example's image before checking")
    return infos[key]


def _size_matches(example: Example, size: tuple[int, int]) -> bool:
    """An unrecorded width or height matches anything."""
    return example.width in (None, size[0]) and example.height in (None, size[1])


def unusable_name_finding(name: str, policy: Policy) -> Finding | None:
    """A name with a control character (a newline, a tab, an escape) makes paths and records nobody can use."""
    if not any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    shown = name.encode("unicode_escape").decode("ascii")
    return Finding(shown, "image name has a control character", _image_action(policy))


def _image_error(info: ImageInfo, policy: Policy) -> Finding:
    if info.error == ESCAPES_ROOT:
        return Finding(info.path, "image path escapes the dataset root", ERROR)
    what = {
        "missing": "image file not found",
        "truncated": f"image file is truncated ({info.format or 'image'} data ends early)",
    }.get(info.error or "", f"image file is {info.error}")
    return Finding(info.path, what, _image_action(policy))


def _content_key(sha256: str) -> bytes:
    """The digest as 32 bytes rather than 64 characters (any other text kept as it is)."""
    try:
        return b"h" + bytes.fromhex(sha256) if len(sha256) == 64 else b"t" + sha256.encode()
    except ValueError:
        return b"t" + sha256.encode()


def _duplicate(name: str, source: str, first: str, first_source: str, policy: Policy) -> Finding:
    """``first``: the first image path with the same bytes; ``first_source``: the first entry of ``name``."""
    if name == first:
        what = f"annotated twice ({first_source}, {source})"
        action = ENTRY_SKIPPED
    else:
        what = f"same bytes as {first}"
        action = IMAGE_SKIPPED
    return Finding(name, what, ERROR if policy == "stop" else action)


def _image_action(policy: Policy) -> str:
    return ERROR if policy == "stop" else IMAGE_SKIPPED


def _size_mismatch(example: Example, info: ImageInfo) -> str:
    said = f"{_dimension(example.width)}x{_dimension(example.height)}"
    stored = f"{info.width}x{info.height}"
    if info.displayed_size == (info.width, info.height):
        return f"annotation size {said} differs from the image's {stored}"
    shown = "{}x{}".format(*info.displayed_size)
    return (
        f"annotation size {said} matches neither the stored {stored} "
        f"nor the displayed {shown} (EXIF orientation {info.orientation})"
    )


def _dimension(value: int | None) -> str:
    return "?" if value is None else str(value)


def _fallback_note(name: str, orientation: int, frame: Frame, size_says: str, fits: tuple[bool, bool]) -> Finding:
    which = "displayed" if frame == "rotated" else "stored"
    size = {"raw": "matches the stored image", "rotated": "matches the displayed image",
            "either": "fits both images" if orientation in (5, 6, 7, 8) else "cannot tell (same size either way)"}
    boxes = {(True, True): "fit both", (True, False): "fit only the stored image",
             (False, True): "fit only the displayed image", (False, False): "fit neither"}[fits]
    other = "raw" if frame == "rotated" else "rotated"
    what = (
        f"EXIF orientation {orientation}: the annotation size {size[size_says]}, the boxes {boxes}; which image "
        f"they were drawn on cannot be told (dataset.orientation_fallback: {frame}; if a preview shows the boxes "
        f"turned, set dataset.orientation_fallback: {other})"
    )
    return Finding(name, what, f"assumed drawn on the {which} image")


def _check_boxes(
    name: str, boxes: Sequence[Box], width: int, height: int, rules: _Rules
) -> tuple[list[Box], list[Finding]]:
    kept: list[Box] = []
    findings: list[Finding] = []
    for number, box in enumerate(boxes, start=1):
        problem = _box_problem(number, box, width, height, rules.classes)
        if problem is None:
            kept.append(box)
            continue
        what, partly_outside = problem
        action = _box_action(rules.policy, partly_outside)
        findings.append(Finding(name, what, action))
        if action == CLIPPED:
            kept.append(_clip(box, width, height))
        elif action != BOX_DROPPED:
            kept.append(box)
    return kept, findings


def _box_problem(
    number: int, box: Box, width: int, height: int, classes: Sequence[str]
) -> tuple[str, bool] | None:
    """What is wrong with a box (the worst problem only) and whether clipping would fix it."""
    if box.label not in classes:
        return f"box {number} has unknown class '{box.label}'{suggest(box.label, classes)}", False
    it = f"box {number} ({box.label})"
    if not all(math.isfinite(v) for v in (box.xmin, box.ymin, box.xmax, box.ymax)):
        return f"{it} has a coordinate that is not a finite number", False
    if box.xmin >= box.xmax:
        return f"{it} has no area (xmin {_n(box.xmin)} >= xmax {_n(box.xmax)})", False
    if box.ymin >= box.ymax:
        return f"{it} has no area (ymin {_n(box.ymin)} >= ymax {_n(box.ymax)})", False
    outside = _entirely_outside(box, width, height)
    if outside:
        return f"{it} lies outside the image ({outside})", False
    edges = _edges_crossed(box, width, height)
    if edges:
        sides = " and ".join(side for side, _ in edges)
        plural = "s" if len(edges) > 1 else ""
        detail = ", ".join(text for _, text in edges)
        return f"{it} extends past the {sides} edge{plural} ({detail})", True
    return None


def _entirely_outside(box: Box, width: int, height: int) -> str:
    if box.xmin >= width:
        return f"xmin {_n(box.xmin)} >= width {width}"
    if box.xmax <= 0:
        return f"xmax {_n(box.xmax)} <= 0"
    if box.ymin >= height:
        return f"ymin {_n(box.ymin)} >= height {height}"
    if box.ymax <= 0:
        return f"ymax {_n(box.ymax)} <= 0"
    return ""


def _edges_crossed(box: Box, width: int, height: int) -> list[tuple[str, str]]:
    """(side, detail) of each edge the box crosses; the texts are made only for those (this runs for every box)."""
    if box.xmin >= 0 and box.ymin >= 0 and box.xmax <= width and box.ymax <= height:
        return []
    crossed: list[tuple[str, bool, Callable[[], str]]] = [
        ("left", box.xmin < 0, lambda: f"xmin {_n(box.xmin)} < 0"),
        ("top", box.ymin < 0, lambda: f"ymin {_n(box.ymin)} < 0"),
        ("right", box.xmax > width, lambda: f"xmax {_n(box.xmax)} > width {width}"),
        ("bottom", box.ymax > height, lambda: f"ymax {_n(box.ymax)} > height {height}"),
    ]
    return [(side, text()) for side, hit, text in crossed if hit]


def _box_action(policy: Policy, partly_outside: bool) -> str:
    if policy == "stop":
        return ERROR
    if policy == "skip_image":
        return IMAGE_SKIPPED
    return CLIPPED if policy == "repair" and partly_outside else BOX_DROPPED


def _clip(box: Box, width: int, height: int) -> Box:
    return replace(
        box,
        xmin=max(box.xmin, 0.0),
        ymin=max(box.ymin, 0.0),
        xmax=min(box.xmax, float(width)),
        ymax=min(box.ymax, float(height)),
    )


def _limit_boxes(name: str, boxes: list[Box], rules: _Rules) -> tuple[list[Box], list[Finding]]:
    """The model's ``max_boxes``: under skip_box and repair the first boxes are kept."""
    if len(boxes) <= rules.max_boxes:
        return boxes, []
    what = f"{len(boxes)} boxes, more than the model's limit of {rules.max_boxes}"
    if rules.policy in ("skip_box", "repair"):
        return boxes[: rules.max_boxes], [Finding(name, what, EXTRA_DROPPED)]
    return boxes, [Finding(name, what, _image_action(rules.policy))]


def _empty_finding(name: str, example: Example, keep_empty: bool) -> list[Finding]:
    """Images without boxes are negatives; one whose boxes were all dropped is reported."""
    action = KEPT_NEGATIVE if keep_empty else IMAGE_SKIPPED
    if example.boxes:
        return [Finding(name, f"no boxes left (all {len(example.boxes)} dropped)", action)]
    return [] if keep_empty else [Finding(name, "no boxes (dataset.keep_empty_images: false)", action)]


def _n(value: float) -> str:
    """``700`` for whole numbers, else up to 3 decimals."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
