"""Resampling of irregularly timed samples onto a uniform grid, split at gaps.

Signal processing below both layers that use it: ingest (`--resample`, :mod:`wearfm.io.convert`) and
windowing (:mod:`wearfm.data.windows`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

__all__ = ["Segment", "split_at_gaps", "measured_rate", "resample"]

log = logging.getLogger(__name__)


@dataclass
class Segment:
    """A contiguous stretch of samples.

    Attributes:
        time_ns: (N,) int64 timestamps.
        values: (N, C) float32.
        labels: (N,) int32 label codes (-1: unlabelled), or None.
    """

    time_ns: np.ndarray
    values: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.time_ns)


def measured_rate(time_ns: np.ndarray) -> float:
    """Median sample rate (Hz) from timestamps; 0.0 when fewer than two samples."""
    if len(time_ns) < 2:
        return 0.0
    dt = np.diff(time_ns)
    dt = dt[dt > 0]
    return float(1e9 / np.median(dt)) if len(dt) else 0.0


def split_at_gaps(time_ns: np.ndarray, max_gap_s: float) -> list[tuple[int, int]]:
    """Index ranges ``[start, stop)`` of runs whose consecutive timestamps differ by <= ``max_gap_s``."""
    if len(time_ns) == 0:
        return []
    breaks = np.flatnonzero(np.diff(time_ns) > max_gap_s * 1e9) + 1
    edges = np.concatenate([[0], breaks, [len(time_ns)]])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def resample(
    time_ns: np.ndarray,
    values: np.ndarray,
    rate_hz: float,
    *,
    labels: np.ndarray | None = None,
    max_gap_s: float = 1.0,
    antialias: bool = True,
) -> tuple[list[Segment], dict[str, Any]]:
    """Resample to a uniform ``rate_hz`` grid, never interpolating across a gap longer than ``max_gap_s``.

    Each gap-free run becomes its own :class:`Segment` whose grid starts at the run's first timestamp.
    When downsampling, a zero-phase Butterworth low-pass at 0.8x the new Nyquist frequency is applied
    first (anti-aliasing); values are then linearly interpolated. Labels take the value of the nearest
    earlier sample.

    Args:
        time_ns: (N,) int64, sorted ascending.
        values: (N, C) float.
        rate_hz: target rate.
        labels: optional (N,) int codes (-1 unlabelled).
        max_gap_s: longest gap that is bridged by interpolation.
        antialias: low-pass before downsampling.

    Returns:
        The segments, and an info dict with ``segments``, ``gaps`` and the input ``measured_rate_hz``.

    Examples:
        >>> t = (np.arange(100) * 1e7).astype(np.int64)  # 100 Hz
        >>> segs, info = resample(t, np.zeros((100, 3), np.float32), 50.0)
        >>> len(segs[0]), info["gaps"]
        (50, 0)
    """
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    runs = split_at_gaps(time_ns, max_gap_s)
    src_rate = measured_rate(time_ns)
    step = 1e9 / rate_hz
    out: list[Segment] = []
    for a, b in runs:
        t = time_ns[a:b]
        v = values[a:b].astype(np.float64)
        if b - a < 2:
            continue
        run_rate = measured_rate(t)
        if antialias and run_rate > rate_hz * 1.05 and len(t) > 30:
            sos = signal.butter(4, 0.8 * (rate_hz / 2), btype="low", fs=run_rate, output="sos")
            padlen = min(len(t) - 1, 3 * 2 * len(sos))
            v = signal.sosfiltfilt(sos, v, axis=0, padlen=padlen)
        rel = (t - t[0]).astype(np.float64)
        n = int(np.floor(rel[-1] / step)) + 1
        grid = np.arange(n, dtype=np.float64) * step
        res = np.empty((n, v.shape[1]), dtype=np.float32)
        for c in range(v.shape[1]):
            res[:, c] = np.interp(grid, rel, v[:, c])
        lab = None
        if labels is not None:
            idx = np.searchsorted(rel, grid, side="right") - 1
            lab = labels[a:b][np.clip(idx, 0, b - a - 1)].astype(np.int32)
        out.append(Segment(t[0] + np.round(grid).astype(np.int64), res, lab))
    info = {"segments": len(out), "gaps": max(len(runs) - 1, 0), "measured_rate_hz": src_rate}
    return out, info
