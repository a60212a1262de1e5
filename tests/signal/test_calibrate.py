from __future__ import annotations

import logging

import numpy as np
import pytest

from tests._helpers.week import SPEC
from wearfm.signal.calibrate import apply_calibration, calibrate_gravity, fit_gravity, still_points
from wearfm.signal.epochs import epoch_stats


def _sphere(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True))


def test_week_recovers_offset_and_gain(week: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    _, raw, _ = week
    out, info = calibrate_gravity(raw, SPEC.rate_hz)
    assert info["applied"] and info["reason"] is None
    assert np.abs(np.asarray(info["offset"]) - SPEC.offset).max() < 0.005  # within 5 mg
    assert np.abs(np.asarray(info["gain"]) / SPEC.gain - 1).max() < 0.005  # within 0.5 %
    assert info["error_before_g"] > 0.015
    assert info["error_after_g"] < 0.005
    assert info["still_points"] >= 1000
    # the calibrated still epochs lie on the unit sphere: recompute the error from the output itself
    stats = epoch_stats(out, SPEC.rate_hz)
    m = stats.mean[still_points(stats)]
    assert np.mean(np.abs(np.linalg.norm(m, axis=1) - 1)) < 0.005
    assert out.dtype == np.float32 and out.shape == raw.shape


def test_fit_matches_known_distortion_exactly_without_noise() -> None:
    true = _sphere(300)
    offset, gain = np.array([0.05, -0.03, 0.01]), np.array([0.98, 1.02, 1.01])
    fit = fit_gravity((true - offset) / gain)
    assert fit.applied
    np.testing.assert_allclose(fit.offset, offset, atol=1e-6)
    np.testing.assert_allclose(fit.gain, gain, atol=1e-6)
    assert fit.error_after_g is not None and fit.error_after_g < 1e-6


def test_temperature_term_is_recovered() -> None:
    true = _sphere(2000, seed=3)
    temp = np.random.default_rng(4).uniform(18, 34, len(true))
    offset, gain, coef = np.array([0.02, -0.01, 0.0]), np.array([1.01, 1.0, 0.99]), np.array([0.002, -0.001, 0.0015])
    t_ref = temp.mean()
    raw = (true - offset - (temp[:, None] - t_ref) * coef) / gain
    without = fit_gravity(raw)
    fit = fit_gravity(raw, temp)
    assert fit.applied and fit.temp_coef is not None and fit.temp_ref == pytest.approx(t_ref)
    np.testing.assert_allclose(fit.temp_coef, coef, atol=1e-5)
    np.testing.assert_allclose(fit.offset, offset, atol=1e-5)
    assert fit.error_after_g is not None and without.error_after_g is not None
    assert fit.error_after_g < without.error_after_g / 10
    np.testing.assert_allclose(apply_calibration(raw, fit, temp, dtype=np.float64), true, atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        apply_calibration(raw, fit)


def test_too_few_still_periods_leaves_data_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    raw = (rng.normal(0, 0.3, (5 * 600, 3)) + [0, 0, 1]).astype(np.float32)  # 10 min of vigorous motion
    with caplog.at_level(logging.WARNING, logger="wearfm"):
        out, info = calibrate_gravity(raw, 5.0)
    assert out is raw and not info["applied"]
    assert info["reason"].startswith("too few still periods")
    assert "calibration not applied" in caplog.text


def test_poor_sphere_coverage_is_refused() -> None:
    # a device that only ever rests face up: plenty of still epochs, all at one orientation
    rng = np.random.default_rng(0)
    raw = (np.array([0.02, 0.0, 1.03]) + rng.normal(0, 0.003, (5 * 3600, 3))).astype(np.float32)
    out, info = calibrate_gravity(raw, 5.0)
    assert out is raw and not info["applied"] and info["still_points"] >= 300
    assert "do not cover the sphere" in info["reason"] and "axis x,y" in info["reason"]
    assert info["error_after_g"] == info["error_before_g"]


def test_fit_that_stays_poor_is_refused() -> None:
    pts = _sphere(400) * np.random.default_rng(1).uniform(0.9, 1.1, (400, 1))  # 100 mg of radial scatter
    fit = fit_gravity(pts)
    assert not fit.applied and fit.reason is not None and "not below 10 mg" in fit.reason
