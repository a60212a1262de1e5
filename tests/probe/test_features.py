import numpy as np
import pytest

from wearfm.probe.features import BANDS_HZ, feature_names, handcrafted_features

ACC3 = ["acc_x", "acc_y", "acc_z"]


def _col(x, channels, name, rate=30.0):
    return handcrafted_features(x, rate, channels)[:, feature_names(channels).index(name)]


def test_shapes_match_names():
    x = np.random.default_rng(0).normal(size=(5, 6, 120)).astype(np.float32)
    ch = ACC3 + ["gyr_x", "gyr_y", "gyr_z"]
    f = handcrafted_features(x, 30.0, ch)
    assert f.shape == (5, len(feature_names(ch)))
    assert f.dtype == np.float32 and np.isfinite(f).all()
    # a lone channel contributes only its 7 statistics
    assert len(feature_names(["acc_x"])) == 7


def test_per_axis_stats_against_numpy():
    x = np.random.default_rng(1).normal(size=(3, 3, 200))
    assert _col(x, ACC3, "acc_y_mean") == pytest.approx(x[:, 1].mean(-1), abs=1e-5)
    assert _col(x, ACC3, "acc_z_std") == pytest.approx(x[:, 2].std(-1), abs=1e-5)
    assert _col(x, ACC3, "acc_x_p95") == pytest.approx(np.percentile(x[:, 0], 95, axis=-1), abs=1e-5)
    mag = np.sqrt((x**2).sum(1))
    assert _col(x, ACC3, "acc_mag_p50") == pytest.approx(np.median(mag, -1), abs=1e-5)


def test_spectral_finds_the_cadence():
    rate, t = 30.0, np.arange(300) / 30.0
    x = np.zeros((1, 3, 300))
    x[0, 2] = 1.0 + 0.5 * np.sin(2 * np.pi * 2.0 * t)  # 2 Hz bounce on gravity
    assert _col(x, ACC3, "acc_mag_dominant_hz", rate)[0] == pytest.approx(2.0, abs=0.1)
    assert _col(x, ACC3, "acc_mag_band_1-3hz", rate)[0] > 0.9
    shares = [_col(x, ACC3, f"acc_mag_band_{lo:g}-{hi:g}hz", rate)[0] for lo, hi in BANDS_HZ]
    assert sum(shares) <= 1.0 + 1e-6


def test_axis_correlations():
    rng = np.random.default_rng(2)
    s = rng.normal(size=200)
    x = np.stack([s, -s, np.full(200, 1.0)])[None]
    assert _col(x, ACC3, "acc_corr_xy")[0] == pytest.approx(-1.0, abs=1e-5)
    assert _col(x, ACC3, "acc_corr_xz")[0] == 0.0  # constant axis: defined as 0


def test_wrong_channel_count_raises():
    with pytest.raises(ValueError, match="expected"):
        handcrafted_features(np.zeros((2, 3, 10)), 30.0, ["acc_x"])
