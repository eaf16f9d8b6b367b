"""Shared fixtures, and the order the test files are handed to pytest-xdist's workers in."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import zoo_configs_dir

# The suite runs on two workers (pyproject.toml: ``-n 2 --dist loadfile --no-loadscope-reorder``), a file to a
# worker, each taking the next file in collection order when it is nearly done with its last. The long files
# go first (their minutes in CI, beside the other worker and a side stage), so that no long one is left to start
# when the other worker has nothing more to do; the rest keep pytest's order after them.
LONGEST_FIRST = (
    "test_run_odapi.py",  # the example's 1000 steps, its export and fine-tuning from it: 19
    "test_multi_worker_odapi.py",  # two clusters, the chief evaluating and an evaluator task: 12
    "test_tune_odapi.py",  # a killed study resumed, and two processes on one PostgreSQL study: 16
    "test_run_faults_odapi.py",  # early stopping; Ctrl-C, SIGKILL and a killed evaluator, resumed: 8
    "test_distribute_odapi.py",  # 5
    "test_launcher_odapi.py",  # 5
    "test_seeded_runs_odapi.py",  # 3
)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering (by fixture), which keeps a file's items together
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each worker collects the suite itself, so the order must be the same in every one: a stable sort by file."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def zoo_dir() -> Path:
    found = zoo_configs_dir()
    if found is None:
        pytest.skip("the published zoo configs are not on this machine (set ODSPEC_ZOO_CONFIGS)")
    return found
