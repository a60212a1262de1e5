from __future__ import annotations

import numpy as np
import pytest

from wearfm.signal.clipping import count_clipped
from wearfm.signal.epochs import EpochAccumulator, epoch_stats


def test_chunked_accumulation_equals_one_pass() -> None:
    rng = np.random.default_rng(0)
    hz = 7.3  # epochs do not hold a whole number of samples
    x = rng.normal(size=(5000, 3))
    t = np.round(np.arange(len(x)) * 1e9 / hz).astype(np.int64) + 123
    whole = epoch_stats(x, hz, t_ns=t)
    acc = EpochAccumulator(int(t[0]))
    for a in range(0, len(x), 777):
        acc.add(t[a : a + 777], x[a : a + 777])
    parts = acc.result()
    np.testing.assert_array_equal(whole.count, parts.count)
    for name in ("mean", "sd", "range"):
        np.testing.assert_allclose(getattr(whole, name), getattr(parts, name), rtol=1e-9, atol=1e-12)


def test_statistics_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 3))
    s = epoch_stats(x, rate_hz=10.0)  # 100 samples per 10 s epoch
    assert s.count.tolist() == [100] * 10
    ref = x.reshape(10, 100, 3)
    np.testing.assert_allclose(s.mean, ref.mean(axis=1))
    np.testing.assert_allclose(s.sd, ref.std(axis=1, ddof=1))
    np.testing.assert_allclose(s.range, np.ptp(ref, axis=1))


def test_empty_epochs_are_nan_and_not_full() -> None:
    t = np.array([0, 1, 2, 25_000_000_000, 25_000_000_001], dtype=np.int64)  # nothing in epoch 1
    s = epoch_stats(np.ones((5, 3)), 1.0, t_ns=t)
    assert s.count.tolist() == [3, 0, 2]
    assert np.isnan(s.mean[1]).all() and not s.full()[1]


def test_chunks_must_not_go_back_before_origin() -> None:
    acc = EpochAccumulator(10**9)
    with pytest.raises(ValueError, match="origin"):
        acc.add(np.array([0]), np.zeros((1, 3)))


def test_count_clipped() -> None:
    x = np.array([[0.0, 0.0, 1.0], [7.996, 0.0, 0.0], [0.0, -8.0, 0.0], [7.5, 0.0, 0.0]])
    assert count_clipped(x, 8.0) == 2
    assert count_clipped(x, None) is None
    assert count_clipped(x, 16.0) == 0
