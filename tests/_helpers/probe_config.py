"""A small few-shot probe configuration for the probe tests."""

from __future__ import annotations

from pathlib import Path

from wearfm.config import ProbeConfig


def probe_config(data: Path, **kw) -> ProbeConfig:
    base = dict(data=str(data), encoders=("features",), shots=(1, 5), trials=3, out="", window_s=2.0)
    base.update(kw)
    return ProbeConfig(**base)
