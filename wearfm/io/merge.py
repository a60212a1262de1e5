"""Merging sensors recorded in separate streams onto one time base, pairing samples within a tolerance."""

from __future__ import annotations

import numpy as np

__all__ = ["pair_nearest"]


def pair_nearest(ta: np.ndarray, tb: np.ndarray, tolerance_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs of samples of two sorted streams that lie within ``tolerance_ns`` of each other.

    Each sample of ``a`` is matched to its nearest sample of ``b``; when several ``a`` samples pick the same
    ``b`` sample, the closest one keeps it and the others stay unpaired. Nothing is interpolated: samples
    without a partner are left out (the caller drops and counts them).

    Args:
        ta: (N,) int64 sorted timestamps of stream a (its time base is kept).
        tb: (M,) int64 sorted timestamps of stream b.
        tolerance_ns: largest accepted distance between partners.

    Returns:
        ``(ia, ib)``: indices into a and b of the pairs, in increasing time.

    Examples:
        >>> pair_nearest(np.array([0, 10, 20]), np.array([1, 19, 40]), 2)
        (array([0, 2]), array([0, 1]))
    """
    ta = np.asarray(ta, dtype=np.int64)
    tb = np.asarray(tb, dtype=np.int64)
    if len(ta) == 0 or len(tb) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    j = np.searchsorted(tb, ta)
    left = np.clip(j - 1, 0, len(tb) - 1)
    right = np.clip(j, 0, len(tb) - 1)
    dl = np.abs(ta - tb[left])
    dr = np.abs(tb[right] - ta)
    ib = np.where(dr < dl, right, left)
    dist = np.minimum(dl, dr)
    ok = dist <= tolerance_ns
    ia = np.flatnonzero(ok)
    ib, dist = ib[ok], dist[ok]
    order = np.lexsort((dist, ib))  # by b, then distance: the first of each b is the closest a
    first = np.ones(len(order), dtype=bool)
    first[1:] = ib[order][1:] != ib[order][:-1]
    keep = np.sort(order[first])
    return ia[keep], ib[keep]
