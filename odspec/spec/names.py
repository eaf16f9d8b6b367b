"""The project-name rule, importable without pydantic (the no-op fast path checks names too)."""

from __future__ import annotations

import re

# ASCII letters/digits first, then letters, digits, '.', '_', '-': no control characters,
# separators, glob characters (the OD API's input_path is a glob) or leading dot.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

PROJECT_NAME_RULE = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"


def valid_project_name(name: str) -> bool:
    """True when ``name`` is safe as a folder name and inside an OD API glob."""
    return isinstance(name, str) and _PROJECT_NAME.fullmatch(name) is not None and ".." not in name
