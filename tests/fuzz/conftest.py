"""Hypothesis profiles: a small derandomised run by default, a longer one with ``--runslow``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "wearfm-default", max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "wearfm-slow", max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("wearfm-slow" if config.getoption("--runslow") else "wearfm-default")
