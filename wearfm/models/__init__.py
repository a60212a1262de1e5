"""Encoders (a timm-like registry), projection heads and saved encoders.

Importing this package imports every model module, so the registry is full. Every encoder maps (B, C, T)
float32 to (B, embed_dim) through ``forward_features`` and has ``embed_dim`` and ``min_length`` attributes:

=================  ====================================  ==========  =====================  ==========
name               source                                embed_dim   parameters (C=3 / 6)   min_length
=================  ====================================  ==========  =====================  ==========
``resnet1d``       RelCon (pre-activation 1-D ResNet)    256         3,635,840 / 3,637,184  11
``cnn_gru``        IMU2CLIP / PRIMUS (conv + GRU 512)    512         849,926 / 850,892      141
``patchtst``       IMU-video cross-modal (PatchTST)      C x 128     597,120 / 597,120      1
``*_tiny``         the same code at test sizes           32/16/C*16  < 10 k
=================  ====================================  ==========  =====================  ==========

Factories take ``in_channels`` plus size overrides (``create_encoder("resnet1d", in_channels=6,
widths=(32, 64), blocks=(1, 1), kernels=(3, 3))``).
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
