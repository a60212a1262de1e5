"""The contract between the training loop and a pretraining method (SimCLR, RelCon, PRIMUS, ...).

A :class:`Method` owns every trainable module of its method (encoder, heads, loss parameters such as
learnable temperatures) and knows (a) how to draw training items from a :class:`WindowSet` and (b) how to
turn a collated batch into a scalar loss. The loop (``wearfm.train.loop``) knows nothing else about it.
Losses themselves live in ``wearfm.objectives`` and take tensors only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from wearfm.config import PretrainConfig
from wearfm.data.dataset import WindowDataset
from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError
from wearfm.models.saved import EmbeddingModel, EncoderSpec, save_encoder
from wearfm.registry import Registry

__all__ = [
    "Method", "MethodContext", "WindowItems", "METHODS", "register_method", "create_method", "list_methods",
    "resolve_encoder",
]  # fmt: skip


@dataclass
class MethodContext:
    """What a method may need beyond its config.

    Attributes:
        dataset_path: the dataset folder being trained on (paired modalities sit beside it).
        windows: the training windows (resampled, cut; shared, read-only).
        device: the device the method's modules will live on.
        rank / world_size: distributed position (0 / 1 when not distributed).
    """

    dataset_path: Path
    windows: WindowSet
    device: torch.device
    rank: int = 0
    world_size: int = 1


class WindowItems(WindowDataset):
    """Default training items: ``{"x": (C, T) float32, "index": int}`` for every window (batched fetch)."""


class Method(nn.Module):
    """Base class of pretraining methods.

    Subclasses set ``name`` and implement :meth:`training_step`; most also override :meth:`make_dataset`.
    ``self.model`` is the :class:`EmbeddingModel` kept after pretraining (what probes and export use);
    other trainable modules (projection heads, temperatures, the distance network) are ordinary attributes,
    so ``method.parameters()`` is what the optimiser trains and ``method.state_dict()`` what is checkpointed.
    """

    name: str = ""
    #: The encoder used when the config leaves ``encoder`` unset (the method's paper's choice).
    default_encoder: str = "resnet1d"
    #: Set True if some parameters get no gradient in a step (passed to DistributedDataParallel).
    find_unused_parameters: bool = False
    #: The smallest batch (per process) the loss is meaningful for: 2 for contrastive methods, whose negatives
    #: are the other windows of the batch (with one window the loss is a constant 0 and nothing is learned).
    min_batch_size: int = 1

    def __init__(self, cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> None:
        super().__init__()
        self.cfg = cfg
        self.spec = spec
        self.ctx = ctx

    def make_dataset(self, windows: WindowSet) -> Dataset:
        """Items the DataLoader draws (numpy arrays / numbers; collated by ``default_collate``)."""
        return WindowItems(windows)

    def collate_fn(self) -> Callable[[list[dict[str, Any]]], dict[str, Any]] | None:
        """A custom collate function, or None for torch's default."""
        return None

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Return (scalar loss, metrics to log). Runs under the loop's autocast context.

        Metric values may be floats or 0-d tensors; the loop converts them only at logging steps (no
        per-step device sync).
        """
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:  # type: ignore[override]
        """Calls :meth:`training_step`; the loop calls the method (or its DDP wrapper) so gradients sync.

        Override :meth:`training_step`, not this.
        """
        return self.training_step(batch)

    def on_step_end(self, step: int) -> None:
        """Hook after each optimiser step (e.g. update a queue or an EMA)."""

    def embedding_model(self) -> EmbeddingModel:
        """The module to save as ``encoder.pt`` (default: ``self.model``)."""
        return self.model  # type: ignore[return-value]

    def save_artifacts(self, out_dir: Path, config: dict[str, Any]) -> dict[str, Path]:
        """Write the method's final outputs into ``out_dir``; returns name -> path."""
        return {"encoder": save_encoder(self.embedding_model(), out_dir, config)}


METHODS: Registry[Callable[..., Method]] = Registry("method")


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: ``@register_method("simclr")``."""

    def _add(cls: type[Method]) -> type[Method]:
        cls.name = name
        METHODS.register(cls, name=name)
        return cls

    return _add


def create_method(cfg: PretrainConfig, spec: EncoderSpec, ctx: MethodContext) -> Method:
    """Instantiate the method named ``cfg.method``."""
    return METHODS.get(cfg.method)(cfg, spec, ctx)  # type: ignore[return-value]


def resolve_encoder(cfg: PretrainConfig) -> PretrainConfig:
    """``cfg`` with ``encoder`` set: the user's choice, else the default of ``cfg.method``.

    Raises:
        ConfigError: unknown method.
    """
    if cfg.encoder is not None:
        return cfg
    if cfg.method not in METHODS.names():
        raise ConfigError(f"unknown method {cfg.method!r}; choose from {METHODS.names()}")
    return dataclasses.replace(cfg, encoder=METHODS.get(cfg.method).default_encoder)  # type: ignore[attr-defined]


def list_methods() -> list[str]:
    """Names of the registered methods."""
    return METHODS.names()
