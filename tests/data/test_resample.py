from __future__ import annotations

import numpy as np
import pytest

from wearfm.resample import measured_rate, resample, split_at_gaps


def sine(hz_in, seconds, f, amp=0.5, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * hz_in)) / hz_in
    t = t + jitter * rng.uniform(-0.5, 0.5, len(t)) / hz_in
    t = np.sort(t)
    v = amp * np.sin(2 * np.pi * f * t)
    return np.round(t * 1e9).astype(np.int64), v[:, None].astype(np.float32)


def dominant(v, hz):
    spec = np.abs(np.fft.rfft(v - v.mean()))
    freqs = np.fft.rfftfreq(len(v), 1 / hz)
    return freqs[np.argmax(spec)], 2 * spec.max() / len(v)


@pytest.mark.parametrize(("hz_in", "hz_out"), [(100, 30), (50, 100), (104, 50)])
def test_sine_keeps_frequency_and_amplitude(hz_in, hz_out):
    t, v = sine(hz_in, 20, f=2.0, jitter=0.3)
    segs, info = resample(t, v, hz_out)
    assert len(segs) == 1 and info["gaps"] == 0
    s = segs[0]
    assert np.all(np.diff(s.time_ns) == pytest.approx(1e9 / hz_out, abs=1))
    f, a = dominant(s.values[:, 0], hz_out)
    assert f == pytest.approx(2.0, abs=0.06)
    assert a == pytest.approx(0.5, rel=0.05)


def test_antialias_removes_frequencies_above_new_nyquist():
    t, v = sine(100, 20, f=17.0)  # 17 Hz tone, 10 Hz output: would alias to 3 Hz
    segs, _ = resample(t, v, 10.0)
    assert np.abs(segs[0].values).max() < 0.05
    segs, _ = resample(t, v, 10.0, antialias=False)
    assert np.abs(segs[0].values).max() > 0.2  # without it the tone aliases


def test_no_values_inside_gaps():
    t1, v1 = sine(50, 10, f=1.0)
    t2, v2 = sine(50, 10, f=1.0)
    t = np.r_[t1, t2 + t1[-1] + 5_000_000_000]  # a 5 s gap
    v = np.r_[v1, v2]
    segs, info = resample(t, v, 25.0, max_gap_s=1.0)
    assert len(segs) == 2 and info["gaps"] == 1
    gap_start, gap_end = t1[-1], t1[-1] + 5_000_000_000
    for s in segs:
        assert not np.any((s.time_ns > gap_start) & (s.time_ns < gap_end))


def test_labels_follow_previous_sample():
    t = (np.arange(100) * 10_000_000).astype(np.int64)
    labels = np.r_[np.zeros(50), np.ones(50)].astype(np.int32)
    segs, _ = resample(t, np.zeros((100, 3), np.float32), 20.0, labels=labels)
    lab = segs[0].labels
    grid = segs[0].time_ns
    assert np.all(lab[grid < t[50]] == 0) and np.all(lab[grid >= t[50]] == 1)


def test_split_and_measured_rate():
    t = np.r_[np.arange(10), 100 + np.arange(5)].astype(np.int64) * 100_000_000
    assert split_at_gaps(t, 1.0) == [(0, 10), (10, 15)]
    assert measured_rate(t) == pytest.approx(10.0)
    assert measured_rate(t[:1]) == 0.0
    with pytest.raises(ValueError):
        resample(t, np.zeros((15, 1)), 0)
