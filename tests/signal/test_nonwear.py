from __future__ import annotations

import numpy as np

from tests._helpers.week import SPEC
from wearfm.signal.epochs import epoch_stats
from wearfm.signal.nonwear import detect_nonwear, nonwear_epochs, runs_of


def test_known_nonwear_spans_are_found(week: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    t, raw, truth = week
    mask, info = detect_nonwear(raw, SPEC.rate_hz, t_ns=t)
    assert mask[truth].mean() >= 0.95  # >= 95 % of the non-wear minutes found
    assert mask[~truth].mean() <= 0.01  # <= 1 % false non-wear while worn
    assert info["episodes"] == len(SPEC.nonwear_h)
    assert abs(info["nonwear_s"] - sum(d for _, d in SPEC.nonwear_h) * 3600) < 30 * 60
    # every found episode overlaps a true one
    for s, e in info["spans_ns"]:
        assert truth[(t >= s) & (t < e)].mean() > 0.9


def test_still_night_with_small_movements_stays_wear(week: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    t, raw, _ = week
    mask, _ = detect_nonwear(raw, SPEC.rate_hz, t_ns=t)
    hours = (t - t[0]) / 3.6e12
    night = (hours >= 24 * SPEC.still_night) & (hours < 24 * SPEC.still_night + 7)  # one posture for 7 h
    assert night.sum() > 0 and not mask[night].any()
    # without its twitches the same night would be flagged: the rule is what keeps it as wear
    quiet = raw[night].copy()
    quiet[:] = np.median(quiet, axis=0) + np.random.default_rng(0).normal(0, 0.004, quiet.shape)
    assert detect_nonwear(quiet, SPEC.rate_hz)[0].mean() > 0.99


def test_runs_shorter_than_the_minimum_are_wear() -> None:
    rng = np.random.default_rng(0)
    hz = 5.0
    still = lambda minutes: np.array([0, 0, 1.0]) + rng.normal(0, 0.003, (int(minutes * 60 * hz), 3))  # noqa: E731
    move = rng.normal(0, 0.3, (int(60 * hz), 3))
    x = np.concatenate([still(80), move, still(100), move])
    mask, info = detect_nonwear(x, hz, min_minutes=90)
    n80 = int(80 * 60 * hz)
    assert not mask[:n80].any()
    assert mask[n80 + len(move) + 60 : n80 + len(move) + int(100 * 60 * hz) - 60].all()
    assert info["episodes"] == 1


def test_range_criterion_is_optional() -> None:
    hz = 5.0
    n = int(2 * 3600 * hz)
    x = np.tile([0.0, 0.0, 1.0], (n, 1))
    x[:: int(10 * hz), 0] += 0.03  # one 30 mg step per epoch: SD stays below 15 mg, range does not fall below 20 mg
    stats = epoch_stats(x, hz)
    assert nonwear_epochs(stats).all()
    assert not nonwear_epochs(stats, range_g=0.02).any()


def test_runs_of() -> None:
    starts, ends = runs_of(np.array([1, 1, 0, 0, 1, 0, 1], bool))
    assert starts.tolist() == [0, 4, 6] and ends.tolist() == [2, 5, 7]
    assert [len(a) for a in runs_of(np.zeros(3, bool))] == [0, 0]
