"""Signal checks of raw acceleration in g: epoch statistics, gravity calibration, non-wear and clipping.

Each step is a pure NumPy function on an (N, 3) array in g and its rate, returning ``(result, info)`` as
actipy's processing steps do; the epoch statistics they share can also be accumulated chunk by chunk
(:class:`EpochAccumulator`), which is how ingest applies them to recordings of any length.
"""

from wearfm.signal.calibrate import CalibrationFit, apply_calibration, calibrate_gravity, fit_gravity
from wearfm.signal.clipping import clip_threshold, count_clipped
from wearfm.signal.epochs import EpochAccumulator, EpochStats, epoch_stats
from wearfm.signal.nonwear import detect_nonwear, nonwear_epochs, runs_of

__all__ = [
    "EpochAccumulator",
    "EpochStats",
    "epoch_stats",
    "CalibrationFit",
    "fit_gravity",
    "apply_calibration",
    "calibrate_gravity",
    "detect_nonwear",
    "nonwear_epochs",
    "runs_of",
    "count_clipped",
    "clip_threshold",
]
