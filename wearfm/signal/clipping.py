"""Clipping: samples where an axis reaches the accelerometer's configured range.

A sensor saturates at its range (e.g. +-8 g) and reports the top code, which is a step or two below the
range itself (an AX3 at +-8 g with 13 bits tops out at 7.996 g). A sample counts as clipped when any axis
reaches ``clip_fraction`` (0.99) of ``device_range_g``. GGIR's clipping check counts values beyond the range
minus 0.5 g (``clipthres``); 0.99 of the range is closer to "at or beyond the range" and still catches the
top code. Counted on the raw values, before calibration.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip_threshold", "count_clipped", "clipped_mask"]


def clip_threshold(range_g: float, fraction: float = 0.99) -> float:
    """The absolute value (g) at or beyond which an axis counts as clipped."""
    return float(range_g) * fraction


def clipped_mask(xyz: np.ndarray, range_g: float, fraction: float = 0.99) -> np.ndarray:
    """(N,) bool: samples with any axis at or beyond ``fraction * range_g`` in absolute value."""
    return np.asarray((np.abs(np.asarray(xyz)) >= clip_threshold(range_g, fraction)).any(axis=1))


def count_clipped(xyz: np.ndarray, range_g: float | None, fraction: float = 0.99) -> int | None:
    """Number of clipped samples of an (N, 3) array in g; None when the range is unknown.

    Examples:
        >>> count_clipped(np.array([[0.0, 0.0, 1.0], [8.0, 0.0, 0.0], [0.0, -7.95, 0.0]]), 8.0)
        2
    """
    if range_g is None or not np.isfinite(range_g) or range_g <= 0:
        return None
    return int(np.count_nonzero(clipped_mask(xyz, range_g, fraction)))
