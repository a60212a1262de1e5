"""Fixtures of the probe tests: a labelled dataset, and every test on one thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._helpers.labelled import write_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Tiny models and few-shot heads run far faster on one thread than on oversubscribed shared cores."""
