"""Shared fixtures: synthetic accelerometer signals in g, tiny datasets, and the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SAMPLE_RATE = 30  # Hz
GRAVITY = 1.0  # g


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def real_data_dir() -> Path | None:
    """``$WEARFM_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("WEARFM_DATA")
    cand = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    d = real_data_dir()
    if d is None:
        pytest.skip("real data not found: set WEARFM_DATA or place it at ../shared/data")
    return d


def make_accel(
    seconds: float = 60.0, hz: float = SAMPLE_RATE, activity: str = "walk", seed: int = 0, gyro: bool = False
) -> np.ndarray:
    """(N, 3) or (N, 6) float32: acceleration in g with gravity on z (+ deg/s gyroscope)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * hz)
    t = np.arange(n) / hz
    acc = np.zeros((n, 3))
    acc[:, 2] = GRAVITY
    if activity == "walk":
        cadence = 1.8 + 0.1 * rng.standard_normal()
        acc[:, 2] += 0.3 * np.sin(2 * np.pi * cadence * t)
        acc[:, 0] += 0.15 * np.sin(2 * np.pi * cadence / 2 * t + 0.3)
    elif activity == "run":
        cadence = 2.7 + 0.1 * rng.standard_normal()
        acc[:, 2] += 0.9 * np.sin(2 * np.pi * cadence * t)
        acc[:, 0] += 0.4 * np.sin(2 * np.pi * cadence / 2 * t)
    elif activity == "lie":
        acc[:, :] = [GRAVITY, 0.0, 0.0]
    acc += 0.01 * rng.standard_normal(acc.shape)
    if gyro:
        g = 5.0 * rng.standard_normal((n, 3)) + (30 * np.sin(2 * np.pi * 1.8 * t))[:, None]
        acc = np.concatenate([acc, g], axis=1)
    return acc.astype(np.float32)


def make_windows(n: int = 32, channels: int = 3, length: int = 300, seed: int = 0) -> np.ndarray:
    """(n, channels, length) float32 random windows with gravity on the last channel."""
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((n, channels, length)).astype(np.float32)
    x[:, min(2, channels - 1)] += 1.0
    return x


@pytest.fixture(autouse=True)
def _reset_wearfm_logging():
    """CLI tests install a Rich handler on the `wearfm` logger; undo it so caplog sees records again."""
    import logging

    yield
    lg = logging.getLogger("wearfm")
    lg.handlers[:] = []
    lg.propagate = True
    lg.setLevel(logging.NOTSET)
