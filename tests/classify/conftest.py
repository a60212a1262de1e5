"""Fixtures of the classifier tests: every test on one thread (the ``noisy`` dataset is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Tiny models and few-shot heads run far faster on one thread than on oversubscribed shared cores."""
