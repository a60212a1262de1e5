"""A simulated week (5 Hz) with known calibration error and non-wear, shared by the signal tests."""

from __future__ import annotations

import numpy as np
import pytest

from wearfm.signal.simulate import WeekSpec, simulate_week

SPEC = WeekSpec(days=7, rate_hz=5.0, seed=1)


@pytest.fixture(scope="session")
def week() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return simulate_week(SPEC)
