"""Temporal smoothing: Viterbi against exhaustive search, median filter, transition estimates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wearfm.classify.smooth import estimate_transitions, parse_smooth, smooth, sticky_transitions, viterbi
from wearfm.errors import ConfigError


def _brute_force(log_em: np.ndarray, log_tr: np.ndarray, log_start: np.ndarray) -> np.ndarray:
    n, k = log_em.shape
    best, arg = -np.inf, None
    for path in itertools.product(range(k), repeat=n):
        s = log_start[path[0]] + log_em[0, path[0]]
        s += sum(log_tr[path[t - 1], path[t]] + log_em[t, path[t]] for t in range(1, n))
        if s > best:
            best, arg = s, path
    return np.array(arg)


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_matches_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 6, 3
    log_em = np.log(rng.dirichlet(np.ones(k), size=n))
    log_tr = np.log(rng.dirichlet(np.ones(k), size=k))
    log_start = np.log(rng.dirichlet(np.ones(k)))
    np.testing.assert_array_equal(viterbi(log_em, log_tr, log_start), _brute_force(log_em, log_tr, log_start))


def test_hmm_removes_an_isolated_flip() -> None:
    p = np.array([[0.9, 0.1]] * 5 + [[0.4, 0.6]] + [[0.9, 0.1]] * 5)
    assert smooth(p, "none").tolist() == [0] * 5 + [1] + [0] * 5
    tr, prior = sticky_transitions(2, 0.95), np.array([0.5, 0.5])
    assert smooth(p, "hmm", transitions=tr, prior=prior).tolist() == [0] * 11
    assert smooth(p, "median", 3).tolist() == [0] * 11
    assert smooth(p, "median", 1).tolist() == smooth(p, "none").tolist()


def test_hmm_keeps_a_lasting_change() -> None:
    p = np.array([[0.8, 0.2]] * 6 + [[0.2, 0.8]] * 6)
    out = smooth(p, "hmm", transitions=sticky_transitions(2, 0.95), prior=np.array([0.5, 0.5]))
    assert out.tolist() == [0] * 6 + [1] * 6


def test_transitions_estimated_or_sticky() -> None:
    seqs = [np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1])]
    a, how = estimate_transitions(seqs, 2, stay=0.95, min_changes=5)
    assert how == "estimated" and np.allclose(a.sum(1), 1.0)
    assert a[0, 1] > 0.05  # frequent changes seen in the data, far from the sticky default
    b, how = estimate_transitions([np.array([0] * 50), np.array([1] * 50)], 2, stay=0.95, min_changes=5)
    assert how == "sticky" and np.allclose(b, [[0.95, 0.05], [0.05, 0.95]])


@pytest.mark.parametrize("bad", ["median", "median:4", "median:x", "mode:3", ""])
def test_parse_smooth_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match="median:K"):
        parse_smooth(bad)
