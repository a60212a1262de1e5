"""Gravity autocalibration: the sphere fit of van Hees et al. (2014) on still epochs.

A still wrist device measures only gravity, so the mean acceleration of every still epoch should have a
vector magnitude of 1 g. Per-axis offset and gain (and optionally a temperature coefficient) are fitted so
that the calibrated still means lie on the unit sphere:

    calibrated_k = offset_k + gain_k * raw_k [+ temp_k * (T - T_ref)]

Method (van Hees VT et al., "Autocalibration of accelerometer data for free-living physical activity
assessment using local gravity and temperature: an evaluation on four continents", J Appl Physiol 117:
738-744, 2014; as implemented in GGIR ``g.calibrate`` and actipy ``calibrate_gravity``):

1. Cut the recording into 10 s epochs; an epoch is *still* when every axis has a standard deviation below
   13 mg (``SignalConfig.calib_sd_g``; GGIR's ``sdcriter``; actipy uses 15 mg). Its mean is one point.
2. Refuse (keep the data as it is, record why) when fewer than 50 points exist (``calib_min_points``;
   actipy's ``calib_min_samples``) or when the points do not reach beyond +-0.3 g on both sides of every
   axis (``calib_sphere_g``; GGIR's ``spherecrit``, actipy's ``calib_cube``): a fit then is not identifiable.
3. Iterate: project the calibrated points onto the unit sphere (closest points), refit each axis by weighted
   least squares of closest point on raw value (and temperature), with weights ``min(1 / |residual|, 100)``
   as in the paper, until the error improves by less than a relative 1e-6 or ``calib_max_iter`` passes.
4. Apply the fit only if the error after (mean | ||a|| - 1 g | over still points) is below 10 mg
   (``calib_max_error_g``; GGIR and actipy) and below the error before.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from wearfm.signal.epochs import EpochStats, epoch_stats

__all__ = ["CalibrationFit", "still_points", "fit_gravity", "apply_calibration", "calibrate_gravity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationFit:
    """The outcome of a gravity calibration (``applied`` False: keep the data as it is, ``reason`` says why).

    Attributes:
        offset: per-axis offset (g).
        gain: per-axis gain.
        temp_coef: per-axis temperature coefficient (g per degree C) or None without temperature.
        temp_ref: the mean temperature of the still points the coefficient is centred on.
        applied: whether the fit passed every check and should be applied.
        reason: why it was not applied (None when applied).
        still_points: number of still epochs used.
        error_before_g: mean | ||a|| - 1 | of the still points before (g).
        error_after_g: the same after applying the fit (g); equal to before when no fit was made.
        iterations: passes of the iterative fit.
    """

    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    temp_coef: tuple[float, float, float] | None = None
    temp_ref: float | None = None
    applied: bool = False
    reason: str | None = None
    still_points: int = 0
    error_before_g: float | None = None
    error_after_g: float | None = None
    iterations: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (the ``wearfm.calibration`` metadata)."""
        return asdict(self)


def _error(points: np.ndarray) -> float:
    return float(np.mean(np.abs(np.linalg.norm(points, axis=1) - 1.0)))


def still_points(stats: EpochStats, sd_g: float = 0.013, max_g: float = 2.0) -> np.ndarray:
    """(E,) bool: epochs usable as calibration points (well filled, every axis SD < ``sd_g``, |mean| < ``max_g``)."""
    with np.errstate(invalid="ignore"):
        ok = stats.full() & np.all(stats.sd < sd_g, axis=1) & np.all(np.abs(stats.mean) < max_g, axis=1)
    return np.asarray(ok & np.isfinite(stats.mean).all(axis=1))


def fit_gravity(
    points: np.ndarray,
    temperature: np.ndarray | None = None,
    *,
    sphere_g: float = 0.3,
    min_points: int = 50,
    max_error_g: float = 0.01,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> CalibrationFit:
    """Fit offset, gain (and temperature coefficient) so that still ``points`` (K, 3) in g lie on the unit sphere.

    Never raises for unusable data: the returned fit then has ``applied=False`` and a ``reason``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> true = rng.normal(size=(200, 3)); true /= np.linalg.norm(true, axis=1, keepdims=True)
        >>> raw = (true - 0.02) / 1.01  # offset 0.02 g, gain 1.01 to recover
        >>> fit = fit_gravity(raw)
        >>> fit.applied, round(fit.offset[0], 3), round(fit.gain[0], 3)
        (True, 0.02, 1.01)
    """
    x = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    keep = np.isfinite(x).all(axis=1) & (np.linalg.norm(x, axis=1) > 1e-8)
    temp = None
    if temperature is not None:
        temp = np.asarray(temperature, dtype=np.float64).reshape(-1)
        keep &= np.isfinite(temp)
    x = x[keep]
    n = len(x)
    if n < min_points:
        return CalibrationFit(
            still_points=n,
            error_before_g=_error(x) if n else None,
            error_after_g=_error(x) if n else None,
            reason=f"too few still periods: {n} of 10 s, need {min_points}",
        )
    before = _error(x)
    lo, hi = x.min(axis=0), x.max(axis=0)
    short = [ax for k, ax in enumerate("xyz") if lo[k] > -sphere_g or hi[k] < sphere_g]
    if short:
        return CalibrationFit(
            still_points=n,
            error_before_g=before,
            error_after_g=before,
            reason=f"still orientations do not cover the sphere: axis {','.join(short)} never beyond +-{sphere_g:g} g",
        )
    t_ref = float(temp[keep].mean()) if temp is not None else None
    tc = temp[keep] - t_ref if temp is not None and t_ref is not None else None
    offset, gain = np.zeros(3), np.ones(3)
    tcoef = np.zeros(3)
    weights = np.ones(n)
    best = (before, offset.copy(), gain.copy(), tcoef.copy())
    err_prev = before
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (reported as iterations)
        curr = offset + gain * x + (tc[:, None] * tcoef if tc is not None else 0.0)
        norm = np.linalg.norm(curr, axis=1, keepdims=True)
        target = curr / norm
        sw = np.sqrt(weights)
        for k in range(3):
            cols = [np.ones(n), x[:, k]] + ([tc] if tc is not None else [])
            design = np.column_stack(cols) * sw[:, None]
            coef, *_ = np.linalg.lstsq(design, target[:, k] * sw, rcond=None)
            offset[k], gain[k] = coef[0], coef[1]
            if tc is not None:
                tcoef[k] = coef[2]
        curr = offset + gain * x + (tc[:, None] * tcoef if tc is not None else 0.0)
        resid = np.abs(np.linalg.norm(curr, axis=1) - 1.0)
        err = float(resid.mean())
        weights = np.minimum(1.0 / np.maximum(resid, 1e-12), 100.0)  # van Hees 2014: 1 / residual, capped
        if err < best[0]:
            best = (err, offset.copy(), gain.copy(), tcoef.copy())
        if abs(err_prev - err) <= tol * max(err_prev, 1e-12):
            break
        err_prev = err
    after, off, gn, tcf = best
    reason = None
    if after >= max_error_g:
        reason = f"error after the fit {after * 1000:.1f} mg is not below {max_error_g * 1000:g} mg"
    elif after >= before:
        reason = f"the fit does not lower the error ({before * 1000:.1f} mg before)"
    return CalibrationFit(
        offset=(float(off[0]), float(off[1]), float(off[2])),
        gain=(float(gn[0]), float(gn[1]), float(gn[2])),
        temp_coef=(float(tcf[0]), float(tcf[1]), float(tcf[2])) if tc is not None else None,
        temp_ref=t_ref,
        applied=reason is None,
        reason=reason,
        still_points=n,
        error_before_g=before,
        error_after_g=after if reason is None else before,
        iterations=it,
    )


def apply_calibration(
    xyz: np.ndarray, fit: CalibrationFit, temperature: np.ndarray | None = None, dtype: Any = np.float32
) -> np.ndarray:
    """``offset + gain * xyz [+ temp_coef * (T - temp_ref)]`` as a new (N, 3) array of ``dtype``."""
    out = np.asarray(fit.offset) + np.asarray(fit.gain) * np.asarray(xyz, dtype=np.float64)
    if fit.temp_coef is not None:
        if temperature is None:
            raise ValueError("this fit has a temperature term; pass the temperature of every sample")
        out += (np.asarray(temperature, np.float64)[:, None] - (fit.temp_ref or 0.0)) * np.asarray(fit.temp_coef)
    result: np.ndarray = out.astype(dtype, copy=False)
    return result


def calibrate_gravity(
    xyz: np.ndarray,
    rate_hz: float,
    temperature: np.ndarray | None = None,
    *,
    epoch_s: float = 10.0,
    sd_g: float = 0.013,
    sphere_g: float = 0.3,
    min_points: int = 50,
    max_error_g: float = 0.01,
    max_iter: int = 1000,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Calibrate an (N, 3) recording in g sampled at ``rate_hz``; returns ``(calibrated or unchanged, info)``.

    ``info`` is :meth:`CalibrationFit.to_dict`. A recording that cannot be calibrated comes back unchanged
    with ``applied=False`` and the ``reason`` (and a logged warning), never an exception.

    Examples:
        >>> out, info = calibrate_gravity(np.tile([0.0, 0.0, 1.0], (1000, 1)), rate_hz=50.0)
        >>> info["applied"], info["reason"]
        (False, 'too few still periods: 2 of 10 s, need 50')
    """
    xyz = np.asarray(xyz)
    stats = epoch_stats(xyz, rate_hz, epoch_s)
    still = still_points(stats, sd_g)
    temp_means = None
    if temperature is not None:
        temp_means = epoch_stats(np.asarray(temperature, np.float64)[:, None], rate_hz, epoch_s).mean[:, 0][still]
    fit = fit_gravity(
        stats.mean[still],
        temp_means,
        sphere_g=sphere_g,
        min_points=min_points,
        max_error_g=max_error_g,
        max_iter=max_iter,
    )
    if not fit.applied:
        log.warning("calibration not applied: %s", fit.reason)
        return xyz, fit.to_dict()
    return apply_calibration(xyz, fit, temperature, dtype=xyz.dtype), fit.to_dict()
