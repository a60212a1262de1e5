"""The simulated week (5 Hz) with known calibration error and non-wear that the signal tests share."""

from __future__ import annotations

from wearfm.signal.simulate import WeekSpec

SPEC = WeekSpec(days=7, rate_hz=5.0, seed=1)
