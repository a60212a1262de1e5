"""Few-shot probing of encoders, split by subject: protocol, heads, baselines and reports."""

from __future__ import annotations

from wearfm.probe.fewshot import EncoderResult, ProbeResult, draw_shots, probe, split_subjects

__all__ = ["probe", "ProbeResult", "EncoderResult", "split_subjects", "draw_shots"]
