"""What a resolved ``--encoder`` is, and the torch embed function: shared by the encoders and the baselines.

Kept apart from :mod:`wearfm.probe.encoders` (which resolves specs, baselines included) so that
:mod:`wearfm.probe.baselines` can build encoders without importing the module that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ResolvedEncoder", "resolve_device", "torch_embedder"]


@dataclass
class ResolvedEncoder:
    """An encoder ready for probing.

    Attributes:
        spec: the ``--encoder`` value as given (used as its name in reports).
        kind: ``pretrained`` | ``onnx`` | ``random`` | ``features`` | ``supervised``.
        rate_hz / window / channels: the windows it takes (window in samples).
        embed_dim: embedding size (0 for ``supervised``, which has no frozen embedding).
        method: pretraining method recorded in the model (``random``, ``features``, ``supervised``, ...).
        architecture: registry name of the torch encoder, if any.
        embed: (B, C, T) float32 -> (B, D) float32; None for ``supervised``.
        make_trainable: builds a fresh trainable torch ``EmbeddingModel`` copy (finetune / supervised).
    """

    spec: str
    kind: str
    rate_hz: float
    window: int
    channels: tuple[str, ...]
    embed_dim: int
    method: str
    architecture: str | None
    embed: Callable[[np.ndarray], np.ndarray] | None
    make_trainable: Callable[[], Any] | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description for results.json."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "rate_hz": self.rate_hz,
            "window_samples": self.window,
            "channels": list(self.channels),
            "embed_dim": self.embed_dim,
            "method": self.method,
            "architecture": self.architecture,
        }


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is returned unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_embedder(model: Any, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """An embed function running ``model.forward_features`` under inference mode on ``device``."""
    import torch

    dev = torch.device(resolve_device(device))
    model = model.to(dev).eval()

    def embed(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            z = model.forward_features(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev))
        return np.asarray(z.float().cpu().numpy())

    return embed
