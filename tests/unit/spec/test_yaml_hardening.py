"""Issue 8: every hostile or odd YAML file ends in one located SpecError, never a traceback or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from odspec.errors import SpecError
from odspec.spec.load import load_spec
from odspec.spec.names import valid_project_name
from odspec.spec.yamlsrc import load_yaml
from tests.support import GOOD_SPEC, REPO, load_errors, tree_digest

GOOD = GOOD_SPEC
errors = load_errors


def file_errors(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [str(p) for p in caught.value.problems]


# 1. merge keys


def test_merge_key_explicit_keys_win_and_merged_keys_locate_at_the_anchor() -> None:
    text = "base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\n"
    data, source = load_yaml(Path("spec.yaml"), text)
    assert data["other"] == {"y": 3, "x": 1}
    assert source.locate(("other", "x")) == (2, 6)
    assert source.locate(("other", "y")) == (6, 6)


def test_merge_key_list_earlier_sources_win() -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n"
    data, source = load_yaml(Path("spec.yaml"), text)
    assert data["c"] == {"x": 1, "y": 2}
    assert source.locate(("c", "x")) == (1, 11)
    assert source.locate(("c", "y")) == (2, 17)


def test_merge_key_in_a_spec_validates_and_locates_errors_at_the_merged_text() -> None:
    merged = GOOD.replace("  format: voc\n  images: images\n", "  <<: {format: voc, images: images}\n")
    assert load_spec(Path("spec.yaml"), merged).spec.dataset.images == "images"
    assert errors(merged.replace("format: voc", "format: vox")) == [
        "spec.yaml:3:16: dataset.format: expected one of 'voc', 'coco', 'yolo', 'csv', got 'vox', did you mean 'voc'?"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a 1\nb:\n  <<: *a\n", "spec.yaml:1:4: b.<<: '<<' merges mappings only, e.g. <<: *defaults"),
        ("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", "spec.yaml:4:3: b.<<: duplicate key (first given on line 3)"),
        ("a: &a {<<: *a}\n", "spec.yaml:1:4: a.<<: merges nested deeper than 64 levels (a recursive alias?)"),
        ("a: {<<: !!set {x}}\n", "spec.yaml:1:9: a.<<: YAML tag '!!set' is not supported (write the value itself)"),
    ],
)
def test_bad_merge_keys(text: str, expected: str) -> None:
    assert errors(text) == [expected]


# 2. tags


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!env FOO", "!env"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object/apply:os.system [echo hi]", "!!python/object/apply:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2024-01-01", "!!timestamp"),
        ("!!set {a}", "!!set"),
        ("!!omap [a: 1]", "!!omap"),
        ("!!map [a]", "!!map"),
    ],
)
def test_tags_other_than_the_core_ones_are_refused(value: str, tag: str) -> None:
    assert errors(GOOD.replace("project: pets", f"project: {value}")) == [
        f"spec.yaml:1:10: project: YAML tag '{tag}' is not supported (write the value itself)"
    ]


def test_core_tags_are_accepted() -> None:
    text = GOOD.replace("project: pets", "project: !!str pets") + "train: {batch_size: !!int '8'}\n"
    loaded = load_spec(Path("spec.yaml"), text)
    assert (loaded.spec.project, loaded.spec.train.batch_size) == ("pets", 8)


def test_a_core_tag_with_a_wrong_value_is_located() -> None:
    assert errors(GOOD + "train: {batch_size: !!int eight}\n") == [
        "spec.yaml:9:21: train.batch_size: 'eight' is not a valid !!int value"
    ]


def test_unquoted_dates_stay_text() -> None:
    assert load_spec(Path("spec.yaml"), GOOD.replace("project: pets", "project: 2024-01-01")).spec.project == "2024-01-01"
    data, _ = load_yaml(Path("spec.yaml"), "a: 2024-01-01 10:00:00\nb: =\n")
    assert data == {"a": "2024-01-01 10:00:00", "b": "="}


# 3. bombs and limits


def _billion_laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_billion_laughs(), "more than 10000 values once aliases are expanded (an alias bomb?)"),
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "spec.yaml:1:68: refused: nested deeper than 64 levels"),
        ("".join(" " * i + f"k{i}:\n" for i in range(100)), "spec.yaml:64:64: refused: nested deeper than 64 levels"),
        ("a: &a [*a]\n", "nested deeper than 64 levels (a recursive alias?)"),
        ("a: &a x\nb: [" + ", ".join(["*a"] * 1001) + "]\n", "spec.yaml:2:4005: refused: more than 1000 aliases (*name) in one spec"),
        ("a: [" + "1, " * 15_000 + "]\n", "spec.yaml:1:29996: refused: more than 10000 values in one spec"),
    ],
)
def test_bombs_are_refused_fast(text: str, expected: str) -> None:
    started = time.monotonic()
    found = errors(text)
    assert len(found) == 1 and found[0].endswith(expected)
    assert time.monotonic() - started < 3  # the 10,000-value list takes ~0.5 s in pure-Python PyYAML


@pytest.mark.parametrize("text", [_billion_laughs(), "a: &a [*a]\n", "a: &a {<<: *a}\n"])
def test_alias_bombs_use_bounded_memory(text: str) -> None:
    tracemalloc.start()
    try:
        errors(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_billion_laughs_is_refused_in_well_under_a_second() -> None:
    started = time.monotonic()
    errors(_billion_laughs())
    assert time.monotonic() - started < 0.8


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD + "#" * (1 << 20) + "\n")
    assert file_errors(spec) == [f"{spec}:1:1: the file is larger than 1 MiB; a spec is a short text file"]


# 4. duplicates and 5. non-string keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: a\nproject: b\n", "spec.yaml:2:1: project: duplicate key (first given on line 1)"),
        ("x:\n  1: a\n  0x1: b\n", "spec.yaml:3:3: x.1: duplicate key (first given on line 2)"),
        ("x:\n  true: a\n  True: b\n", "spec.yaml:3:3: x.True: duplicate key (first given on line 2)"),
        ("'a': 1\na: 2\n", "spec.yaml:2:1: a: duplicate key (first given on line 1)"),
    ],
)
def test_duplicate_keys_equal_after_construction(text: str, expected: str) -> None:
    assert errors(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "1: x\n", "spec.yaml:9:1: a mapping key must be a word, got 1 (quote it if it is text: '1')"),
        (GOOD + "null: x\n", "spec.yaml:9:1: a mapping key must be a word, got null (quote it if it is text: 'null')"),
        (GOOD + "~: x\n", "spec.yaml:9:1: a mapping key must be a word, got ~ (quote it if it is text: '~')"),
        (GOOD + "[a]: x\n", "spec.yaml:9:1: a mapping key must be a plain word, not a list or mapping"),
        (GOOD + "train: {2.5: x}\n", "spec.yaml:9:9: train: a mapping key must be a word, got 2.5 (quote it if it is text: '2.5')"),
        (GOOD + "overrides: {1: 2}\n", "spec.yaml:9:13: overrides: a mapping key must be a word, got 1 (quote it if it is text: '1')"),
        (GOOD.replace("classes: [cat, dog]", "classes: [{1: cat}]"),
         "spec.yaml:6:14: dataset.classes.0: a mapping key must be a word, got 1 (quote it if it is text: '1')"),
    ],
)
def test_non_string_keys_are_located_errors(text: str, expected: str) -> None:
    assert errors(text) == [expected]


# 6. files that are not a spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "spec.yaml:1:1: the spec is empty; a spec is a mapping of sections (e.g. project: pets)"),
        ("# only a comment\n", "spec.yaml:1:1: the spec is empty; a spec is a mapping of sections (e.g. project: pets)"),
        ("- a\n- b\n", "spec.yaml:1:1: a spec is a mapping of sections, got a list (e.g. project: pets)"),
        ("\n  pets\n", "spec.yaml:2:3: a spec is a mapping of sections, got the single value 'pets' (e.g. project: pets)"),
        (GOOD + "---\nproject: other\n", "spec.yaml:9:1: not valid YAML: but found another document"),
        (GOOD.replace("pets", "pe\x00ts"), "spec.yaml:1:12: not valid YAML: character '\\x00' is not allowed in YAML text"),
    ],
)
def test_texts_that_are_not_a_spec(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(GOOD.replace("pets", "p\xe9ts").encode("latin-1"))
    assert file_errors(spec) == [f"{spec}:1:11: not UTF-8 text (byte 0xe9); save the file as UTF-8"]


def test_a_folder_is_not_a_spec(tmp_path: Path) -> None:
    assert file_errors(tmp_path) == [f"{tmp_path}:1:1: is a folder, not a spec file"]


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert file_errors(fifo) == [f"{fifo}:1:1: is not a regular file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway, so there is nothing to refuse")
def test_an_unreadable_file(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD)
    spec.chmod(0)
    assert file_errors(spec) == [f"{spec}:1:1: cannot read the file: Permission denied"]


# 7. project names

RULE = "expected 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"


@pytest.mark.parametrize(
    ("yaml_name", "shown"),
    [
        ('"shapes\\n"', "'shapes\\n'"),
        ('"sha\\tpes"', "'sha\\tpes'"),
        ("../../victim", "'../../victim'"),
        ("a/b", "'a/b'"),
        ("'a\\b'", "'a\\\\b'"),
        ("a..b", "'a..b'"),
        (".hidden", "'.hidden'"),
        ("'exp[1]'", "'exp[1]'"),
        ("'exp*'", "'exp*'"),
        ("exp?", "'exp?'"),
        ("a" * 101, repr("a" * 101)),
        ("pétanque", "'pétanque'"),
    ],
)
def test_bad_project_names(yaml_name: str, shown: str) -> None:
    assert errors(GOOD.replace("project: pets", f"project: {yaml_name}")) == [f"spec.yaml:1:10: project: {RULE}, got {shown}"]


def test_valid_project_name_is_the_same_rule() -> None:
    assert valid_project_name("shapes") and valid_project_name("a" * 100) and valid_project_name("v1.2_x-y")
    assert not any(valid_project_name(n) for n in ("shapes\n", "", "a" * 101, "a..b", ".a", "exp[1]", "a b"))


def test_names_module_imports_nothing_heavy() -> None:
    code = "import sys, odspec.spec.names; print(sorted(m for m in ('pydantic', 'yaml', 'typer') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


# through the CLI: exit 2, one located line, nothing written


@pytest.mark.parametrize("command", ["validate", "build"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("project: pets", "project: !!python/object/apply:os.system [touch pwned]"),
         "1:10: project: YAML tag '!!python/object/apply:os.system' is not supported (write the value itself)"),
        (GOOD.replace("project: pets", 'project: "shapes\\n"'), f"1:10: project: {RULE}, got 'shapes\\n'"),
        (GOOD + _billion_laughs(), "9:18: e.0.2.0.4.2: more than 10000 values once aliases are expanded (an alias bomb?)"),
        (GOOD + "train: {<<: [1]}\n", "9:14: train.<<: '<<' merges mappings only, e.g. <<: *defaults"),
    ],
)
def test_cli_exits_2_with_the_located_message_and_writes_nothing(
    tmp_path: Path, command: str, text: str, expected: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    before = tree_digest(tmp_path)
    result = subprocess.run([sys.executable, "-m", "odspec", command, str(spec)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert (result.returncode, result.stderr) == (2, f"error: {spec}:{expected}\n")
    assert tree_digest(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations", "images", "spec.yaml"]


# 8. the last line of defence

_BOOM = """
import sys
import odspec.api, odspec.build
def boom(*args, **kwargs):
    raise ZeroDivisionError("boom\\nsecond line")
odspec.api.validate = boom
odspec.build.up_to_date_for = boom
from odspec.{module} import main
sys.argv = ["odspec", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(("module", "command"), [("cli", "validate"), ("fast", "build")])
def test_an_unexpected_exception_is_one_line_and_a_saved_trace(tmp_path: Path, module: str, command: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD)
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, "-c", _BOOM.format(module=module), command, str(spec)],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    traces = list((tmp_path / "state" / "odspec").glob("crash-*.txt"))
    assert result.returncode == 70
    assert len(traces) == 1 and "ZeroDivisionError: boom" in traces[0].read_text()
    assert result.stderr == (f"error: internal error: ZeroDivisionError: boom second line — this is a bug in odspec; "
                             f"the full traceback is in {traces[0]}\n")
