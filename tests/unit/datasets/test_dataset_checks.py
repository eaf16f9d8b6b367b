from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from PIL import Image

from odspec.datasets.checks import CheckedExample, check_examples
from odspec.datasets.images import ImageInfo, inspect_image
from odspec.datasets.model import Box, Example, Finding
from odspec.errors import DatasetCheckError, DatasetError

POLICIES = ("stop", "skip_box", "skip_image", "repair")
CLASSES = ("cat", "dog")
GOOD = Box("cat", 4, 4, 20, 20)
SIZE = (64, 48)


def image_bytes(fmt: str = "JPEG", colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", SIZE, colour).save(out, format=fmt)
    return out.getvalue()


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def example(rel: str, *boxes: Box, size: tuple[int, int] | None = SIZE, source: str = "labels.csv") -> Example:
    width, height = size if size is not None else (None, None)
    return Example(Path(rel), width, height, tuple(boxes), source)


def run(
    root: Path, examples: Sequence[Example], policy: str, *, max_boxes: int = 10, keep_empty: bool = True
) -> tuple[list[CheckedExample] | None, list[Finding]]:
    """The kept examples (``None`` when the check raised) and every finding."""
    infos = {e.image.as_posix(): inspect_image(root, e.image.as_posix()) for e in examples}
    try:
        result = check_examples(
            examples,
            infos,
            CLASSES,
            policy=policy,  # type: ignore[arg-type]
            max_boxes=max_boxes,
            keep_empty=keep_empty,
            orientation_fallback="rotated",
        )
    except DatasetCheckError as err:
        assert policy == "stop" or any(f.action == "error" for f in err.findings)
        return None, list(err.findings)
    return result.examples, result.findings


IMAGE = {"stop": "error", "skip_box": "image skipped", "skip_image": "image skipped", "repair": "image skipped"}
PARTLY = {"stop": "error", "skip_box": "box dropped", "skip_image": "image skipped", "repair": "clipped"}
BAD_BOX = {"stop": "error", "skip_box": "box dropped", "skip_image": "image skipped", "repair": "box dropped"}
TOO_MANY = {
    "stop": "error",
    "skip_box": "extra boxes dropped",
    "skip_image": "image skipped",
    "repair": "extra boxes dropped",
}


def flipped_png() -> bytes:
    data = bytearray(image_bytes("PNG"))
    data[data.index(b"IDAT") + 6] ^= 0xFF
    return bytes(data)


# case: (files under the root, the entry that goes wrong, what the finding says, actions per policy)
Case = tuple[dict[str, bytes], Example, str, dict[str, str]]
CASES: dict[str, Callable[[], Case]] = {
    "missing image": lambda: ({}, example("b.jpg", GOOD), "image file not found", IMAGE),
    "truncated jpeg": lambda: (
        {"b.jpg": image_bytes()[:-30]},
        example("b.jpg", GOOD),
        "image file is truncated (JPEG data ends early)",
        IMAGE,
    ),
    "corrupt png": lambda: (
        {"b.png": flipped_png()},
        example("b.png", GOOD),
        "image file is corrupt: CRC mismatch in chunk IDAT at byte 33",
        IMAGE,
    ),
    "not an image": lambda: (
        {"b.jpg": b"<html>"},
        example("b.jpg", GOOD),
        "image file is unreadable: not an image format Pillow recognises",
        IMAGE,
    ),
    "size mismatch": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, size=(640, 480)),
        "annotation size 640x480 differs from the image's 64x48",
        IMAGE,
    ),
    "box partly outside": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("cat", 30, 5, 70, 20)),
        "box 2 (cat) extends past the right edge (xmax 70 > width 64)",
        PARTLY,
    ),
    "box entirely outside": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("dog", 70, 5, 90, 20)),
        "box 2 (dog) lies outside the image (xmin 70 >= width 64)",
        BAD_BOX,
    ),
    "box without area": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("cat", 10, 30, 12.5, 30)),
        "box 2 (cat) has no area (ymin 30 >= ymax 30)",
        BAD_BOX,
    ),
    "inverted box": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("cat", 40, 5, 10.25, 20)),
        "box 2 (cat) has no area (xmin 40 >= xmax 10.25)",
        BAD_BOX,
    ),
    "box not a number": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("cat", 10, 5, float("nan"), 20)),
        "box 2 (cat) has a coordinate that is not a finite number",
        BAD_BOX,
    ),
    "unknown class": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", GOOD, Box("Cat", 30, 5, 40, 20)),
        "box 2 has unknown class 'Cat', did you mean 'cat'?",
        BAD_BOX,
    ),
    "too many boxes": lambda: (
        {"b.jpg": image_bytes()},
        example("b.jpg", *[GOOD] * 5),
        "5 boxes, more than the model's limit of 3",
        TOO_MANY,
    ),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_catalogue_case_under_each_policy(tmp_path: Path, case: str, policy: str) -> None:
    files, bad, what, actions = CASES[case]()
    write(tmp_path, {"a.jpg": image_bytes(colour=(200, 0, 0)), **files})

    kept, findings = run(tmp_path, [bad, example("a.jpg", GOOD)], policy, max_boxes=3)

    assert findings == [Finding(bad.image.as_posix(), what, actions[policy])]
    if policy == "stop":
        assert kept is None
    else:
        assert kept is not None
        assert next(c.example.image.as_posix() for c in kept) == "a.jpg"
        assert len(kept) == (1 if actions[policy] == "image skipped" else 2)


@pytest.mark.parametrize(
    ("policy", "boxes"),
    [("skip_box", (GOOD,)), ("repair", (GOOD, Box("cat", 30, 5, 64, 20)))],
)
def test_what_is_left_of_the_boxes(tmp_path: Path, policy: str, boxes: tuple[Box, ...]) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})

    kept, _ = run(tmp_path, [example("a.jpg", GOOD, Box("cat", 30, 5, 70, 20))], policy)

    assert kept is not None and kept[0].example.boxes == boxes


def test_a_box_past_several_edges_is_clipped_on_each(tmp_path: Path) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})

    kept, findings = run(tmp_path, [example("a.jpg", Box("dog", -3, 10, 30, 50.5))], "repair")

    what = "box 1 (dog) extends past the left and bottom edges (xmin -3 < 0, ymax 50.5 > height 48)"
    assert findings == [Finding("a.jpg", what, "clipped")]
    assert kept is not None and kept[0].example.boxes == (Box("dog", 0, 10, 30, 48),)


@pytest.mark.parametrize("policy", ["skip_box", "skip_image", "repair"])
def test_too_many_boxes_keeps_the_first(tmp_path: Path, policy: str) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})
    boxes = [Box("cat", i, i, i + 10, i + 10) for i in range(5)]

    kept, _ = run(tmp_path, [example("a.jpg", *boxes)], policy, max_boxes=3)

    assert kept is not None
    assert [c.example.boxes for c in kept] == ([] if policy == "skip_image" else [tuple(boxes[:3])])


@pytest.mark.parametrize("policy", POLICIES)
def test_duplicate_bytes_keep_the_first_path(tmp_path: Path, policy: str) -> None:
    write(tmp_path, {"b.jpg": image_bytes(), "a.jpg": image_bytes(), "c.jpg": image_bytes(colour=(1, 1, 1))})
    entries = [example("b.jpg", GOOD), example("c.jpg"), example("a.jpg", GOOD)]

    kept, findings = run(tmp_path, entries, policy)

    assert findings == [Finding("b.jpg", "same bytes as a.jpg", IMAGE[policy])]
    if policy != "stop":
        assert kept is not None and [c.example.image.as_posix() for c in kept] == ["a.jpg", "c.jpg"]


@pytest.mark.parametrize(("policy", "action"), [("stop", "error"), ("repair", "entry skipped")])
def test_an_image_annotated_twice_keeps_its_first_entry(tmp_path: Path, policy: str, action: str) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})
    first = example("a.jpg", GOOD, source="a.xml")
    second = example("a.jpg", Box("dog", 1, 1, 5, 5), source="b.xml")

    kept, findings = run(tmp_path, [first, second], policy)

    assert findings == [Finding("a.jpg", "annotated twice (a.xml, b.xml)", action)]
    if kept is not None:
        assert [c.example for c in kept] == [first]


@pytest.fixture
def escaping_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write(root, {"a.jpg": image_bytes()})
    write(tmp_path, {"outside/b.jpg": image_bytes(colour=(9, 9, 9))})
    (root / "b.jpg").symlink_to(tmp_path / "outside/b.jpg")
    return root


@pytest.mark.parametrize("policy", POLICIES)
def test_a_path_escaping_the_root_is_always_an_error(escaping_root: Path, policy: str) -> None:
    entries = [example("b.jpg", GOOD), example("a.jpg", GOOD, Box("cat", 30, 5, 70, 20))]

    with pytest.raises(DatasetCheckError) as raised:
        run_raising(escaping_root, entries, policy)

    escape = Finding("b.jpg", "image path escapes the dataset root", "error")
    if policy == "stop":
        assert raised.value.errors[1] == escape and len(raised.value.errors) == 2
        assert raised.value.hint == (
            "set dataset.on_bad_annotation to skip_box, skip_image or repair to build without them; "
            "image paths that escape the dataset root (also through a symbolic link) are errors whatever "
            "dataset.on_bad_annotation says: move those files inside dataset.images or remove their entries"
        )
    else:
        assert raised.value.errors == (escape,)
        assert raised.value.findings == (
            Finding("a.jpg", "box 2 (cat) extends past the right edge (xmax 70 > width 64)", PARTLY[policy]),
            escape,
        )
        assert str(raised.value) == (
            "1 dataset problem stops the build:\n"
            "  b.jpg: image path escapes the dataset root (error) "
            "(image paths that escape the dataset root (also through a symbolic link) are errors whatever "
            "dataset.on_bad_annotation says: move those files inside dataset.images or remove their entries)"
        )


def run_raising(root: Path, examples: Sequence[Example], policy: str) -> None:
    infos = {e.image.as_posix(): inspect_image(root, e.image.as_posix()) for e in examples}
    check_examples(
        examples,
        infos,
        CLASSES,
        policy=policy,  # type: ignore[arg-type]
        max_boxes=10,
        keep_empty=True,
        orientation_fallback="rotated",
    )


def test_stop_lists_the_problems_and_names_the_setting(tmp_path: Path) -> None:
    write(tmp_path, {"a.jpg": image_bytes(), "c.jpg": image_bytes(colour=(1, 2, 3))})
    entries = [example("c.jpg", Box("cat", 30, 5, 70, 20), Box("bird", 1, 1, 5, 5)), example("b.jpg"), example("a.jpg")]

    with pytest.raises(DatasetError) as raised:
        run_raising(tmp_path, entries, "stop")

    assert str(raised.value) == (
        "3 dataset problems stop the build:\n"
        "  b.jpg: image file not found (error)\n"
        "  c.jpg: box 1 (cat) extends past the right edge (xmax 70 > width 64) (error)\n"
        "  c.jpg: box 2 has unknown class 'bird' (error) "
        "(set dataset.on_bad_annotation to skip_box, skip_image or repair to build without them)"
    )


def test_the_listing_stops_at_20_with_a_count(tmp_path: Path) -> None:
    entries = [example(f"{i:02d}.jpg") for i in range(25)]

    with pytest.raises(DatasetCheckError) as raised:
        run_raising(tmp_path, entries, "stop")

    lines = raised.value.message.splitlines()
    assert lines[0] == "25 dataset problems stop the build:"
    assert lines[1:3] == ["  00.jpg: image file not found (error)", "  01.jpg: image file not found (error)"]
    assert lines[20] == "  19.jpg: image file not found (error)"
    assert lines[21:] == ["  ... and 5 more"]
    assert len(raised.value.findings) == 25


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("keep_empty", "findings"), [
    (True, []),
    (False, [Finding("a.jpg", "no boxes (dataset.keep_empty_images: false)", "image skipped")]),
])
def test_images_without_boxes(tmp_path: Path, policy: str, keep_empty: bool, findings: list[Finding]) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})

    kept, found = run(tmp_path, [example("a.jpg", size=None)], policy, keep_empty=keep_empty)

    assert found == findings
    assert kept is not None and len(kept) == int(keep_empty)
    if keep_empty:
        assert (kept[0].example.width, kept[0].example.height, kept[0].example.boxes) == (64, 48, ())
        assert (kept[0].width, kept[0].height, kept[0].rotate) == (64, 48, False)


@pytest.mark.parametrize(
    ("keep_empty", "action", "count"), [(True, "kept as a negative", 1), (False, "image skipped", 0)]
)
def test_an_image_whose_boxes_were_all_dropped(tmp_path: Path, keep_empty: bool, action: str, count: int) -> None:
    write(tmp_path, {"a.jpg": image_bytes()})

    kept, findings = run(tmp_path, [example("a.jpg", Box("bird", 1, 1, 5, 5))], "skip_box", keep_empty=keep_empty)

    assert findings == [
        Finding("a.jpg", "box 1 has unknown class 'bird'", "box dropped"),
        Finding("a.jpg", "no boxes left (all 1 dropped)", action),
    ]
    assert kept is not None and len(kept) == count


def test_examples_come_back_sorted_by_path(tmp_path: Path) -> None:
    files = {"b/x.jpg": image_bytes(colour=(1, 1, 1)), "a.jpg": image_bytes(), "b.jpg": image_bytes(colour=(2, 2, 2))}
    write(tmp_path, files)
    entries = [example("b/x.jpg", GOOD), example("b.jpg", GOOD), example("a.jpg", GOOD)]

    kept, findings = run(tmp_path, entries, "stop")

    assert findings == []
    assert kept is not None and [c.example.image.as_posix() for c in kept] == ["a.jpg", "b.jpg", "b/x.jpg"]


def test_every_example_needs_its_image_inspected() -> None:
    info = ImageInfo("a.jpg", "sha", 1, "JPEG", "RGB", 64, 48, 1, None)

    with pytest.raises(ValueError, match=re.escape("no ImageInfo for b.jpg")):
        check_examples(
            [example("b.jpg")], {"a.jpg": info}, CLASSES,
            policy="stop", max_boxes=1, keep_empty=True, orientation_fallback="rotated",
        )
