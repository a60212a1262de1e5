"""Temporal smoothing of per-window class probabilities over consecutive windows of one recording.

- ``none``: the argmax of each window's probabilities.
- ``median:K``: each class probability is replaced by its running median over ``K`` consecutive windows
  (``K`` odd; edges use the nearest window), then the argmax.
- ``hmm``: a hidden Markov model whose states are the classes, decoded with Viterbi. Emissions are the
  classifier's probabilities divided by the class prior of the fitted windows (the usual "scaled
  likelihood" of hybrid classifier/HMM decoders, as in stepcount and actinet); the transition matrix is
  estimated by :func:`estimate_transitions` from the labelled sequences of the fit data, or a sticky default.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from wearfm.errors import ConfigError

__all__ = ["parse_smooth", "smooth", "median_smooth", "viterbi", "estimate_transitions", "sticky_transitions"]


def parse_smooth(spec: str) -> tuple[str, int]:
    """``none`` -> ("none", 1); ``median:K`` -> ("median", K); ``hmm`` -> ("hmm", 1).

    Raises:
        ConfigError: another value, or ``K`` not a positive odd number.

    Examples:
        >>> parse_smooth("median:5")
        ('median', 5)
    """
    if spec in ("none", "hmm"):
        return spec, 1
    if spec.startswith("median:"):
        try:
            k = int(spec.split(":", 1)[1])
        except ValueError:
            k = 0
        if k >= 1 and k % 2 == 1:
            return "median", k
    raise ConfigError(f"--smooth {spec!r}: choose none, hmm or median:K with K an odd number of windows (median:5)")


def median_smooth(proba: np.ndarray, k: int) -> np.ndarray:
    """(W, K) probabilities -> (W,) classes: argmax of the running median of each class over ``k`` windows."""
    if len(proba) == 0:
        return np.zeros(0, np.int64)
    med = median_filter(np.asarray(proba, dtype=np.float64), size=(k, 1), mode="nearest")
    out: np.ndarray = med.argmax(axis=1)
    return out


def viterbi(log_emission: np.ndarray, log_trans: np.ndarray, log_start: np.ndarray) -> np.ndarray:
    """The most likely state sequence of an HMM.

    Args:
        log_emission: (W, K) log-likelihood of each window under each state.
        log_trans: (K, K) log transition probabilities (rows: from, columns: to).
        log_start: (K,) log initial state probabilities.

    Returns:
        (W,) int64 state indices.
    """
    n, k = log_emission.shape
    if n == 0:
        return np.zeros(0, np.int64)
    back = np.zeros((n, k), dtype=np.int64)
    score = log_start + log_emission[0]
    for t in range(1, n):
        cand = score[:, None] + log_trans  # (from, to)
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], np.arange(k)] + log_emission[t]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def sticky_transitions(n_classes: int, stay: float) -> np.ndarray:
    """(K, K) matrix with ``stay`` on the diagonal and the rest shared equally among the other classes."""
    if n_classes == 1:
        return np.ones((1, 1))
    a = np.full((n_classes, n_classes), (1.0 - stay) / (n_classes - 1))
    np.fill_diagonal(a, stay)
    return a


def estimate_transitions(
    sequences: list[np.ndarray], n_classes: int, stay: float, min_changes: int
) -> tuple[np.ndarray, str]:
    """Transition matrix from labelled window sequences, or the sticky default when they show few changes.

    Counts of consecutive pairs (plus one per cell, so no transition is impossible) are normalised per row.
    With fewer than ``min_changes`` class changes in all sequences (e.g. recordings of one activity each), the
    data say nothing about how often activities change, so :func:`sticky_transitions` is used.

    Args:
        sequences: (n_i,) class indices of consecutive labelled windows, one array per run.
        n_classes: K.
        stay: diagonal of the sticky default.
        min_changes: class changes needed to estimate from data.

    Returns:
        ((K, K) matrix, ``"estimated"`` or ``"sticky"``).
    """
    counts = np.zeros((n_classes, n_classes))
    for s in sequences:
        if len(s) > 1:
            np.add.at(counts, (s[:-1], s[1:]), 1.0)
    changes = counts.sum() - np.trace(counts)
    if changes < min_changes:
        return sticky_transitions(n_classes, stay), "sticky"
    counts += 1.0
    return counts / counts.sum(axis=1, keepdims=True), "estimated"


def smooth(
    proba: np.ndarray, method: str, k: int = 1, transitions: np.ndarray | None = None, prior: np.ndarray | None = None
) -> np.ndarray:
    """(W, K) probabilities of consecutive windows -> (W,) classes, smoothed by ``method``.

    Args:
        proba: class probabilities, one row per window, in time order.
        method: ``none``, ``median`` or ``hmm`` (see :func:`parse_smooth`).
        k: window count of the median filter.
        transitions: (K, K) transition matrix for ``hmm``.
        prior: (K,) class prior for ``hmm`` (emissions are ``proba / prior``).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if method == "none" or len(proba) == 0:
        out: np.ndarray = proba.argmax(axis=1) if len(proba) else np.zeros(0, np.int64)
        return out
    if method == "median":
        return median_smooth(proba, k)
    if method == "hmm":
        assert transitions is not None and prior is not None
        with np.errstate(divide="ignore"):
            log_em = np.log(proba) - np.log(prior)
            log_tr = np.log(transitions)
            log_start = np.log(prior)
        return viterbi(log_em, log_tr, log_start)
    raise ConfigError(f"unknown smoothing {method!r}; choose none, median or hmm")
