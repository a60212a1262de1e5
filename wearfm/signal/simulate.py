"""A simulated free-living wrist recording with known calibration error and known non-wear, for tests and benchmarks.

Each day: sleep from 00:00 to 07:00 and from 23:00 (postures held for 20-90 min with a small twitch every
5-30 min; on night 3 one posture is held for the whole night, moved only by twitches), awake in between
(walking bouts alternating with still postures of 20 s to 5 min at random orientations). Non-wear spans put
the device on a table (a fixed orientation, sensor noise only). The true signal is then distorted by a
per-axis offset and gain: ``raw = (true - offset) / gain``, so ``offset + gain * raw`` recovers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["WeekSpec", "simulate_days", "simulate_week"]

DAY_S = 86_400


@dataclass(frozen=True)
class WeekSpec:
    """What to simulate; ``nonwear_h`` holds (start hour from the first midnight, duration in hours) spans."""

    days: int = 7
    rate_hz: float = 5.0
    seed: int = 0
    offset: tuple[float, float, float] = (0.03, -0.02, 0.015)
    gain: tuple[float, float, float] = (1.01, 0.99, 1.005)
    noise_g: float = 0.004
    nonwear_h: tuple[tuple[float, float], ...] = ((34.0, 3.0), (86.0, 6.0), (119.0, 9.0))
    start_ns: int = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % (DAY_S * 10**9)
    still_night: int = 3  # the night (day index) with a single whole-night posture
    extra: dict[str, float] = field(default_factory=dict)


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return np.asarray(v / np.linalg.norm(v))


def _fill_sleep(true: np.ndarray, a: int, b: int, hz: float, rng: np.random.Generator, one_posture: bool) -> None:
    i = a
    while i < b:
        n = b - i if one_posture else min(b - i, int(rng.uniform(20, 90) * 60 * hz))
        true[i : i + n] = _unit(rng)
        j = i + int(rng.uniform(5, 30) * 60 * hz)
        while j < i + n:  # twitches: 2 s bursts of about 0.15 g
            m = min(int(2 * hz) + 1, i + n - j)
            true[j : j + m] += rng.normal(0, 0.15, (m, 3))
            j += int(rng.uniform(5, 30) * 60 * hz)
        i += n


def _fill_awake(true: np.ndarray, a: int, b: int, hz: float, rng: np.random.Generator) -> None:
    i = a
    while i < b:
        if rng.random() < 0.5:  # walking bout
            n = min(b - i, int(rng.uniform(60, 600) * hz))
            tt = np.arange(n) / hz
            f = rng.uniform(1.6, 2.1)
            swing = 0.3 * np.sin(2 * np.pi * f * tt) + 0.1 * np.sin(4 * np.pi * f * tt + 1.0)
            true[i : i + n] = _unit(rng) + swing[:, None] * _unit(rng)
        else:  # still posture
            n = min(b - i, int(rng.uniform(20, 300) * hz))
            true[i : i + n] = _unit(rng)
        i += n


def simulate_days(spec: WeekSpec = WeekSpec()) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield one day at a time: ``(t_ns (N,), raw xyz (N, 3) float32 in g, true non-wear (N,) bool)``."""
    hz = spec.rate_hz
    n_day = int(round(DAY_S * hz))
    offset, gain = np.asarray(spec.offset), np.asarray(spec.gain)
    for d in range(spec.days):
        rng = np.random.default_rng([spec.seed, d])
        true = np.zeros((n_day, 3))
        h = int(round(3600 * hz))
        _fill_sleep(true, 0, 7 * h, hz, rng, one_posture=d == spec.still_night)
        _fill_awake(true, 7 * h, 23 * h, hz, rng)
        _fill_sleep(true, 23 * h, n_day, hz, rng, one_posture=False)
        k = np.arange(n_day) + d * n_day
        t_ns = spec.start_ns + np.round(k * (1e9 / hz)).astype(np.int64)
        hours = k / (3600 * hz)
        nonwear = np.zeros(n_day, dtype=bool)
        for s, dur in spec.nonwear_h:
            sel = (hours >= s) & (hours < s + dur)
            if sel.any():
                nonwear |= sel
                true[sel] = [(0, 0, 1), (0, 0, -1), (1, 0, 0)][int(s) % 3]  # on a table, one face down
        true += rng.normal(0, spec.noise_g, true.shape)
        raw = ((true - offset) / gain).astype(np.float32)
        yield t_ns, raw, nonwear


def simulate_week(spec: WeekSpec = WeekSpec()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole recording of :func:`simulate_days` as ``(t_ns, raw xyz, true non-wear)``.

    Examples:
        >>> t, xyz, nw = simulate_week(WeekSpec(days=1, rate_hz=1.0))
        >>> xyz.shape, xyz.dtype.name
        ((86400, 3), 'float32')
    """
    parts = list(simulate_days(spec))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )
