"""The encoder registry: ``@register_encoder``, ``create_encoder``, ``list_encoders``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from wearfm.registry import Registry

__all__ = ["register_encoder", "create_encoder", "list_encoders", "ENCODERS"]

ENCODERS: Registry[Callable[..., nn.Module]] = Registry("encoder")


def register_encoder(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register an encoder factory under its function name (e.g. ``resnet1d``, ``cnn_gru_tiny``).

    A factory takes ``in_channels`` plus size overrides as keyword arguments and returns a module with an
    ``embed_dim`` attribute and ``forward_features(x: (B, C, T)) -> (B, D)``.
    """
    ENCODERS.register(fn)
    return fn


def create_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered encoder; ``None``-valued kwargs are dropped (as timm does).

    Examples:
        >>> enc = create_encoder("resnet1d_tiny", in_channels=3)
        >>> enc.embed_dim > 0
        True
    """
    factory = ENCODERS.get(name)
    return factory(**{k: v for k, v in kwargs.items() if v is not None})


def list_encoders(pattern: str = "*") -> list[str]:
    """Names of the registered encoders matching the fnmatch ``pattern``."""
    return ENCODERS.names(pattern)
