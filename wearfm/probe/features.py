"""Handcrafted window features: the classical baseline every learned encoder must beat.

For a window ``x`` of shape (C, T) sampled at ``rate_hz`` the feature vector is, in this order:

1. **Per-channel statistics** (7 per channel): mean, standard deviation, and the 5th, 25th, 50th, 75th and
   95th percentiles.
2. **Magnitude statistics** (the same 7) of the Euclidean norm of each complete sensor triad present
   (``acc_x/y/z`` -> ``acc_mag``, ``gyr_x/y/z`` -> ``gyr_mag``).
3. **Spectral band powers** of each magnitude signal (mean removed, Hann window, real FFT): the log of
   the total power, the share of power in the bands 0.3-1, 1-3, 3-5, 5-8 and 8-12 Hz (bands above the
   Nyquist frequency are 0), and the dominant frequency in Hz.
4. **Axis correlations**: the Pearson correlation of each pair of axes within a triad (x-y, x-z, y-z);
   0 where an axis is constant.

Channels that belong to no complete triad only contribute (1). :func:`feature_names` lists the names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BANDS_HZ", "PERCENTILES", "handcrafted_features", "feature_names"]

PERCENTILES = (5, 25, 50, 75, 95)
BANDS_HZ: tuple[tuple[float, float], ...] = ((0.3, 1.0), (1.0, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 12.0))
_STATS = ("mean", "std", *(f"p{p}" for p in PERCENTILES))
_PAIRS = ((0, 1), (0, 2), (1, 2))


def _triads(channels: Sequence[str]) -> list[tuple[str, list[int]]]:
    out = []
    for sensor in ("acc", "gyr"):
        idx = [list(channels).index(f"{sensor}_{a}") for a in "xyz" if f"{sensor}_{a}" in channels]
        if len(idx) == 3:
            out.append((sensor, idx))
    return out


def feature_names(channels: Sequence[str]) -> list[str]:
    """Names of the columns :func:`handcrafted_features` returns for these channels.

    Examples:
        >>> len(feature_names(["acc_x", "acc_y", "acc_z"]))
        38
    """
    names = [f"{c}_{s}" for c in channels for s in _STATS]
    for sensor, _ in _triads(channels):
        names += [f"{sensor}_mag_{s}" for s in _STATS]
        names += [f"{sensor}_mag_logpower"]
        names += [f"{sensor}_mag_band_{lo:g}-{hi:g}hz" for lo, hi in BANDS_HZ]
        names += [f"{sensor}_mag_dominant_hz"]
        names += [f"{sensor}_corr_{'xyz'[i]}{'xyz'[j]}" for i, j in _PAIRS]
    return names


def _stats(x: np.ndarray) -> np.ndarray:
    """(B, K, T) -> (B, K, 7)."""
    pct = np.percentile(x, PERCENTILES, axis=-1)  # (5, B, K)
    return np.concatenate([x.mean(-1)[..., None], x.std(-1)[..., None], np.moveaxis(pct, 0, -1)], axis=-1)


def _spectral(mag: np.ndarray, rate_hz: float) -> np.ndarray:
    """(B, T) magnitude -> (B, 1 + len(BANDS_HZ) + 1): log power, band shares, dominant frequency."""
    t = mag.shape[-1]
    sig = (mag - mag.mean(-1, keepdims=True)) * np.hanning(t)[None, :]
    power = np.abs(np.fft.rfft(sig, axis=-1)) ** 2  # (B, F)
    freqs = np.fft.rfftfreq(t, d=1.0 / rate_hz)
    power[:, 0] = 0.0  # the mean is removed; drop residual DC
    total = power.sum(-1)  # (B,)
    shares = [power[:, (freqs >= lo) & (freqs < hi)].sum(-1) / np.maximum(total, 1e-12) for lo, hi in BANDS_HZ]
    dominant = freqs[np.argmax(power, axis=-1)]
    return np.stack([np.log(total + 1e-12), *shares, dominant], axis=-1)


def _corr(x: np.ndarray) -> np.ndarray:
    """(B, 3, T) -> (B, 3) Pearson correlations of axis pairs (0 where an axis is constant)."""
    xc = x - x.mean(-1, keepdims=True)
    sd = np.sqrt((xc**2).sum(-1))  # (B, 3)
    out = []
    for i, j in _PAIRS:
        den = sd[:, i] * sd[:, j]
        num = (xc[:, i] * xc[:, j]).sum(-1)
        out.append(np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), 0.0))
    return np.stack(out, axis=-1)


def handcrafted_features(x: np.ndarray, rate_hz: float, channels: Sequence[str]) -> np.ndarray:
    """The documented feature set (see the module docstring) of a batch of windows.

    Args:
        x: (B, C, T) windows, acceleration in g and angular velocity in deg/s.
        rate_hz: sample rate of ``x``.
        channels: the C channel names (``acc_x`` ...), used to find sensor triads.

    Returns:
        (B, F) float32 with ``F == len(feature_names(channels))``.

    Examples:
        >>> x = np.random.default_rng(0).normal(size=(4, 3, 300)).astype(np.float32)
        >>> handcrafted_features(x, 30.0, ["acc_x", "acc_y", "acc_z"]).shape
        (4, 38)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != len(channels):
        raise ValueError(f"expected (B, {len(channels)}, T) windows for channels {list(channels)}, got {x.shape}")
    parts = [_stats(x).reshape(len(x), -1)]
    for _, idx in _triads(channels):
        tri = x[:, idx]  # (B, 3, T)
        mag = np.sqrt((tri**2).sum(1))  # (B, T)
        parts += [_stats(mag[:, None]).reshape(len(x), -1), _spectral(mag, rate_hz), _corr(tri)]
    return np.concatenate(parts, axis=1).astype(np.float32)
