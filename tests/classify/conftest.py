"""Synthetic labelled datasets for classifier tests (noisy enough that macro-F1 is below 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_accel
from tests.probe.conftest import (
    _one_torch_thread,  # noqa: F401  (autouse: one thread on shared cores)
    write_recording,
)

ACTIVITIES = ("walk", "run", "lie")


def write_noisy_dataset(
    root: Path,
    subjects: tuple[str, ...] = ("s1", "s2", "s3", "s4", "s5"),
    seconds: float = 60.0,
    hz: float = 30.0,
    noise: float = 1.5,
) -> Path:
    """One recording per subject x activity; Gaussian noise of ``noise`` g blurs the classes."""
    rng = np.random.default_rng(7)
    for si, s in enumerate(subjects):
        for ai, a in enumerate(ACTIVITIES):
            x = make_accel(seconds=seconds, hz=hz, activity=a, seed=100 * si + ai)
            x = (x + noise * rng.standard_normal(x.shape)).astype(np.float32)
            write_recording(root / f"{s}_{a}.parquet", x, hz, s, [a] * len(x))
    return root


@pytest.fixture
def noisy(tmp_path: Path) -> Path:
    return write_noisy_dataset(tmp_path / "data")
