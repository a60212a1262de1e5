"""The pretraining engine: the loop, checkpoints, learning-rate schedule and DDP helpers."""

from __future__ import annotations

from wearfm.train.loop import PretrainResult, pretrain

__all__ = ["pretrain", "PretrainResult"]
