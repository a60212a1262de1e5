"""Synthetic accelerometer signals in g: whole recordings (``make_accel``) and model windows (``make_windows``)."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 30  # Hz
GRAVITY = 1.0  # g


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
