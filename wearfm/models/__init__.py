"""Encoders (a timm-like registry), projection heads and saved encoders.

Importing this package imports every model module, so the registry is full: ``list_encoders()`` gives
``resnet1d``, ``resnet1d_tiny``, ``cnn_gru``, ``cnn_gru_tiny``, ``patchtst``, ``patchtst_tiny``.
"""

from __future__ import annotations

from wearfm.models import cnn_gru as _cnn_gru  # noqa: F401  (fills the registry)
from wearfm.models import patchtst as _patchtst  # noqa: F401
from wearfm.models import resnet1d as _resnet1d  # noqa: F401
from wearfm.models.cnn_gru import CNNGRU
from wearfm.models.heads import ProjectionHead
from wearfm.models.patchtst import PatchTST
from wearfm.models.registry import create_encoder, list_encoders, register_encoder
from wearfm.models.resnet1d import ResNet1D
from wearfm.models.saved import EmbeddingModel, EncoderSpec, build_model, load_encoder, save_encoder

__all__ = [
    "create_encoder",
    "list_encoders",
    "register_encoder",
    "EncoderSpec",
    "EmbeddingModel",
    "build_model",
    "save_encoder",
    "load_encoder",
    "ProjectionHead",
    "ResNet1D",
    "CNNGRU",
    "PatchTST",
]
