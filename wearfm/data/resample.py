"""Resampling, re-exported from :mod:`wearfm.resample` (a leaf module that both ingest and windowing import)."""

from wearfm.resample import Segment, measured_rate, resample, split_at_gaps

__all__ = ["Segment", "split_at_gaps", "measured_rate", "resample"]
