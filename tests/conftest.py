"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import zoo_configs_dir


@pytest.fixture
def zoo_dir() -> Path:
    found = zoo_configs_dir()
    if found is None:
        pytest.skip("the published zoo configs are not on this machine (set ODSPEC_ZOO_CONFIGS)")
    return found
