"""Non-wear detection: long runs of still 10 s epochs (the standard-deviation method of actipy and GGIR).

Rule (actipy ``flag_nonwear``/``find_nonwear_segments``, Oxford Wearables; after van Hees et al. 2011,
PLoS ONE 6(7): e22922 and 2013, and GGIR's standard-deviation non-wear method):

- cut the recording into 10 s epochs aligned to its first sample (``SignalConfig.epoch_s``);
- an epoch is *still* when every axis has a standard deviation below 15 mg (``nonwear_sd_g``; actipy's
  ``stdtol``); optionally also a range (max - min) below ``nonwear_range_g`` (off by default; GGIR's
  2013 rule adds a 50 mg range over 60 min windows);
- a run of consecutive still epochs lasting at least 90 minutes (``nonwear_min_minutes``; actipy's
  ``patience``) is non-wear. A worn device, even in deep sleep, moves well within 90 minutes.

Epochs with too few samples (under half the typical count, e.g. the partial last one) are not still.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wearfm.signal.epochs import EpochStats, epoch_stats

__all__ = ["runs_of", "still_epochs", "nonwear_epochs", "detect_nonwear"]


def runs_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in a 1-D bool array.

    Examples:
        >>> runs_of(np.array([0, 1, 1, 0, 1], bool))
        (array([1, 4]), array([3, 5]))
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]])))
    return edges[::2], edges[1::2]


def still_epochs(stats: EpochStats, sd_g: float = 0.015, range_g: float | None = None) -> np.ndarray:
    """(E,) bool: well-filled epochs whose every axis has SD below ``sd_g`` (and range below ``range_g``)."""
    with np.errstate(invalid="ignore"):
        still = stats.full() & np.all(stats.sd < sd_g, axis=1)
        if range_g is not None:
            still &= np.all(stats.range < range_g, axis=1)
    return np.asarray(still)


def nonwear_epochs(
    stats: EpochStats, sd_g: float = 0.015, min_minutes: float = 90.0, range_g: float | None = None
) -> np.ndarray:
    """(E,) bool: epochs inside a still run lasting at least ``min_minutes``."""
    still = still_epochs(stats, sd_g, range_g)
    out = np.zeros(len(still), dtype=bool)
    need = min_minutes * 60e9 / stats.epoch_ns
    for a, b in zip(*runs_of(still), strict=True):
        if b - a >= need - 1e-9:
            out[a:b] = True
    return out


def detect_nonwear(
    xyz: np.ndarray,
    rate_hz: float,
    *,
    t_ns: np.ndarray | None = None,
    epoch_s: float = 10.0,
    sd_g: float = 0.015,
    min_minutes: float = 90.0,
    range_g: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Flag non-wear samples of an (N, 3) recording in g; returns ``(mask (N,), info)``.

    ``info``: ``nonwear_s``, ``wear_s`` (seconds), ``episodes`` and ``spans_ns`` (start, end) per episode,
    times from ``t_ns`` (or from 0 at ``rate_hz``).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> still = np.array([0, 0, 1.0]) + rng.normal(0, 0.003, (100 * 3600 * 2, 3))  # 2 h on a desk, 100 Hz
        >>> mask, info = detect_nonwear(still, 100.0)
        >>> bool(mask.all()), info["episodes"]
        (True, 1)
    """
    xyz = np.asarray(xyz)
    if t_ns is None:
        t_ns = np.round(np.arange(len(xyz)) * (1e9 / rate_hz)).astype(np.int64)
    stats = epoch_stats(xyz, rate_hz, epoch_s, t_ns)
    flags = nonwear_epochs(stats, sd_g, min_minutes, range_g)
    mask = flags[(np.asarray(t_ns, np.int64) - stats.origin_ns) // stats.epoch_ns] if len(flags) else flags
    spans = spans_ns(flags, stats, int(t_ns[-1]) if len(t_ns) else 0)
    nonwear_s = sum(e - s for s, e in spans) / 1e9
    total = (int(t_ns[-1]) - int(t_ns[0])) / 1e9 if len(t_ns) else 0.0
    return mask, {
        "nonwear_s": nonwear_s,
        "wear_s": max(total - nonwear_s, 0.0),
        "episodes": len(spans),
        "spans_ns": spans,
    }


def spans_ns(flags: np.ndarray, stats: EpochStats, last_ns: int) -> list[list[int]]:
    """[start, end) times (ns) of the runs of flagged epochs, the last one ending at ``last_ns`` at most."""
    starts, ends = runs_of(flags)
    return [
        [stats.origin_ns + int(a) * stats.epoch_ns, min(stats.origin_ns + int(b) * stats.epoch_ns, last_ns)]
        for a, b in zip(starts, ends, strict=True)
    ]
