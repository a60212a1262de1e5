"""Fixtures of the signal tests: the simulated week of ``tests/_helpers/week.py``."""

from __future__ import annotations

import numpy as np
import pytest

from tests._helpers.week import SPEC
from wearfm.signal.simulate import simulate_week


@pytest.fixture(scope="session")
def week() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return simulate_week(SPEC)
