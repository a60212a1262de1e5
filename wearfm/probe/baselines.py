"""Built-in baselines every pretrained encoder is compared with.

- ``random:<name>``: the registered architecture ``<name>`` with random weights (seeded), probed frozen
  exactly as a pretrained encoder. It separates what pretraining adds from what the architecture gives.
- ``features``: the handcrafted set of :mod:`wearfm.probe.features` (per-channel statistics, magnitude
  statistics, spectral band powers, axis correlations) under the same head.
- ``supervised:<name>``: the architecture trained from scratch, end to end with a linear head, on the
  same shots (see :mod:`wearfm.probe.finetune`); it has no frozen embedding.

Baselines take their rate, window and channels from the probe (``--rate``/``--window``/``--set
channels=``), by default those of the first learned encoder, else 30 Hz, 10 s and ``acc``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wearfm.errors import ConfigError
from wearfm.probe.features import feature_names, handcrafted_features
from wearfm.probe.resolved import ResolvedEncoder, torch_embedder

__all__ = ["features_encoder", "random_encoder", "supervised_encoder", "random_model"]


def features_encoder(rate_hz: float, window: int, channels: tuple[str, ...]) -> ResolvedEncoder:
    """The handcrafted-feature baseline as an encoder (no torch involved)."""

    def embed(x: np.ndarray) -> np.ndarray:
        return handcrafted_features(x, rate_hz, channels)

    return ResolvedEncoder(
        spec="features",
        kind="features",
        rate_hz=float(rate_hz),
        window=int(window),
        channels=tuple(channels),
        embed_dim=len(feature_names(channels)),
        method="features",
        architecture=None,
        embed=embed,
    )


def random_model(name: str, rate_hz: float, window: int, channels: tuple[str, ...], seed: int) -> Any:
    """A randomly initialised ``EmbeddingModel`` of registered architecture ``name`` (seeded).

    Raises:
        ConfigError: ``name`` is not a registered encoder.
    """
    import torch

    import wearfm.models  # noqa: F401 - fills the encoder registry
    from wearfm.models.registry import list_encoders
    from wearfm.models.saved import EncoderSpec, build_model

    if name not in list_encoders():
        raise ConfigError(f"unknown encoder {name!r} in random:/supervised:; choose from {list_encoders()}")
    torch.manual_seed(seed)
    spec = EncoderSpec(
        encoder=name,
        encoder_kwargs={"in_channels": len(channels)},
        rate_hz=float(rate_hz),
        window_samples=int(window),
        channels=tuple(channels),
        method="random",
    )
    return build_model(spec)


def random_encoder(
    spec: str, name: str, rate_hz: float, window: int, channels: tuple[str, ...], seed: int, device: str
) -> ResolvedEncoder:
    """``random:<name>``: frozen random weights of architecture ``name``."""
    model = random_model(name, rate_hz, window, channels, seed).eval()
    return ResolvedEncoder(
        spec=spec,
        kind="random",
        rate_hz=float(rate_hz),
        window=int(window),
        channels=tuple(channels),
        embed_dim=int(model.embed_dim),
        method="random",
        architecture=name,
        embed=torch_embedder(model, device),
        make_trainable=lambda: random_model(name, rate_hz, window, channels, seed).train(),
    )


def supervised_encoder(
    spec: str, name: str, rate_hz: float, window: int, channels: tuple[str, ...], seed: int
) -> ResolvedEncoder:
    """``supervised:<name>``: architecture ``name`` trained from scratch on the shots (no frozen embedding)."""
    random_model(name, rate_hz, window, channels, seed)  # validates the name early
    return ResolvedEncoder(
        spec=spec,
        kind="supervised",
        rate_hz=float(rate_hz),
        window=int(window),
        channels=tuple(channels),
        embed_dim=0,
        method="supervised",
        architecture=name,
        embed=None,
        make_trainable=lambda: random_model(name, rate_hz, window, channels, seed).train(),
    )
