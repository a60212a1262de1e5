"""Saved encoders: the model kept for downstream use, with the data contract it expects.

A saved encoder (``encoder.pt`` in a run folder) is a plain dict, loadable with ``weights_only=True``::

    {"format": "wearfm-encoder", "format_version": 1, "spec": {...EncoderSpec...},
     "state_dict": {...EmbeddingModel state...}, "config": {...}, "wearfm_version": "..."}
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wearfm import __version__
from wearfm.errors import CheckpointError, describe_load_error
from wearfm.models.registry import create_encoder

__all__ = ["EncoderSpec", "EmbeddingModel", "save_encoder", "load_encoder", "build_model", "ENCODER_FILE"]

ENCODER_FILE = "encoder.pt"
_FORMAT = "wearfm-encoder"


@dataclass(frozen=True)
class EncoderSpec:
    """Everything needed to rebuild an encoder and feed it correctly.

    Attributes:
        encoder: registry name, e.g. ``resnet1d``.
        encoder_kwargs: keyword arguments given to the factory (``in_channels`` included).
        rate_hz: sample rate the model expects.
        window_samples: window length it was trained on (inputs of other lengths work for most encoders).
        channels: input channel names in order, e.g. ``("acc_x", "acc_y", "acc_z")``; acc in g, gyr in deg/s.
        normalization: ``{"mean": [...], "std": [...]}`` applied inside the model, or None.
        head: ``{"in_dim", "hidden_dim", "out_dim"}`` of a projection kept on top of the encoder, or None.
        method: pretraining method that produced it (``random`` for untrained weights).
        embed_dim: size of the output embedding.
    """

    encoder: str
    encoder_kwargs: dict[str, Any]
    rate_hz: float
    window_samples: int
    channels: tuple[str, ...]
    normalization: dict[str, list[float]] | None = None
    head: dict[str, int] | None = None
    method: str = "random"
    embed_dim: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EmbeddingModel(nn.Module):
    """Normalisation (optional) -> encoder -> kept head (optional): the module probes and export use.

    ``forward_features(x)`` and ``forward(x)`` both map (B, C, T) float32 in g (and deg/s) to (B, D).
    """

    def __init__(self, encoder: nn.Module, spec: EncoderSpec, head: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        c = len(spec.channels)
        norm = spec.normalization
        mean = torch.tensor(norm["mean"], dtype=torch.float32) if norm else torch.zeros(c)
        std = torch.tensor(norm["std"], dtype=torch.float32) if norm else torch.ones(c)
        self.register_buffer("mean", mean.view(1, c, 1))
        self.register_buffer("std", std.view(1, c, 1))
        self.spec = spec
        self.embed_dim = int(spec.head["out_dim"]) if spec.head else int(encoder.embed_dim)  # type: ignore[arg-type]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, D)."""
        z: torch.Tensor = self.encoder.forward_features((x - self.mean) / self.std)  # type: ignore[operator]
        return self.head(z) if self.head is not None else z  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features` (so the module can be exported and called directly)."""
        return self.forward_features(x)


def build_model(spec: EncoderSpec) -> EmbeddingModel:
    """A fresh (randomly initialised) EmbeddingModel for ``spec``."""
    encoder = create_encoder(spec.encoder, **spec.encoder_kwargs)
    head = None
    if spec.head:
        from wearfm.models.heads import ProjectionHead

        head = ProjectionHead(spec.head["in_dim"], spec.head["hidden_dim"], spec.head["out_dim"])
    dim = int(spec.head["out_dim"]) if spec.head else int(encoder.embed_dim)  # type: ignore[arg-type]
    spec = dataclasses.replace(spec, embed_dim=dim)
    return EmbeddingModel(encoder, spec, head)


def save_encoder(model: EmbeddingModel, path: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically to ``path`` (a file, or a folder that gets ``encoder.pt``)."""
    path = Path(path)
    if path.suffix != ".pt":
        path = path / ENCODER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = dataclasses.asdict(model.spec)
    spec["channels"] = list(spec["channels"])
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    obj = {
        "format": _FORMAT,
        "format_version": 1,
        "spec": spec,
        "state_dict": state,
        "config": config or {},
        "wearfm_version": __version__,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def load_encoder(path: str | Path, map_location: str = "cpu") -> EmbeddingModel:
    """Load a saved encoder from a run folder or ``.pt`` file, in eval mode.

    Raises:
        CheckpointError: missing file, unreadable file, or not a wearfm encoder.
    """
    p = Path(path)
    if p.is_dir():
        p = p / ENCODER_FILE
    if not p.exists():
        raise CheckpointError(f"{path}: no saved encoder ({ENCODER_FILE}); give a run folder from `wearfm pretrain`")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise CheckpointError(f"{p}: not a readable wearfm encoder ({describe_load_error(p, e)})") from None
    if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
        raise CheckpointError(f"{p}: not a wearfm encoder file (no '{_FORMAT}' marker)")
    s = dict(obj["spec"])
    s["channels"] = tuple(s["channels"])
    spec = EncoderSpec(**s)
    model = build_model(spec)
    try:
        model.load_state_dict(obj["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{p}: weights do not fit encoder {spec.encoder!r} ({str(e)[:200]})") from None
    return model.eval()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
