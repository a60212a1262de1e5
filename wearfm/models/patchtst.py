"""PatchTST: the channel-independent patch transformer used as the IMU encoder of IMU-video cross-modal pretraining.

Cheshmi et al. 2025 ("Improving OOD HAR via IMU-Video Cross-modal Representation Learning", arXiv 2507.13482)
train a Hugging Face ``PatchTSTModel`` from scratch (Nie et al. 2023, https://arxiv.org/abs/2211.14730) with
patches of 16 samples, stride 16 and a CLS token, otherwise at the library defaults
(``/work/shared/methods/primus.md`` section C2). This is our own implementation of that configuration:

1. Instance scaling ("std" scaler, RevIN-like without affine): each channel of each window is standardised by its
   own mean and ``sqrt(var + 1e-5)`` over time.
2. Patching, channel-independent: each channel is cut into patches of ``patch_len`` samples every ``stride``
   samples; the end is zero-padded (zero = the channel's mean after scaling) so a partial last patch is kept.
   ``T`` samples give ``ceil((T - patch_len) / stride) + 1`` patches (``ceil(T / 16)`` by default); any
   ``T >= patch_len - stride + 1`` works (any ``T >= 1`` by default).
3. A shared ``Linear(patch_len, d_model)`` embeds every patch of every channel; a learnable CLS token is
   prepended to each channel's patch sequence (per-channel CLS tokens); fixed sine-cosine positions
   (standardised and scaled by 1/10, as Hugging Face's ``sincos`` option) are added.
4. Each channel's sequence goes through the same transformer encoder independently (no channel attention):
   ``depth`` pre-norm layers of multi-head self-attention and a GELU feed-forward, with BatchNorm over
   ``d_model`` (the library's default ``norm_type="batchnorm"``) or LayerNorm.
5. Embedding (``pooling``): ``"cls_concat"`` (default; as the paper's code) concatenates the C per-channel CLS
   outputs into a ``C * d_model`` vector (768-d for 6 channels); ``"cls_mean"`` averages them (``d_model``).

ONNX: exports with dynamic batch and dynamic time (no length-dependent Python branches).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from wearfm.models.registry import register_encoder

__all__ = ["PatchTST", "PatchTSTLayer", "patchtst", "patchtst_tiny"]

Pooling = Literal["cls_concat", "cls_mean"]
NormType = Literal["batchnorm", "layernorm"]


class _SeqNorm(nn.Module):
    """BatchNorm1d over the feature axis of (N, L, D) sequences, or LayerNorm."""

    def __init__(self, dim: int, kind: NormType) -> None:
        super().__init__()
        self.kind = kind
        self.norm: nn.Module = nn.BatchNorm1d(dim) if kind == "batchnorm" else nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, D) -> (N, L, D)."""
        if self.kind == "batchnorm":
            return self.norm(x.transpose(1, 2)).transpose(1, 2)  # type: ignore[no-any-return]
        return self.norm(x)  # type: ignore[no-any-return]


class PatchTSTLayer(nn.Module):
    """Pre-norm transformer encoder layer: x + MHSA(norm(x)), then x + FFN(norm(x)).

    Args:
        dim: model width.
        heads: attention heads (must divide ``dim``).
        ffn_dim: hidden size of the feed-forward block.
        dropout: dropout on attention weights and residual branches.
        norm: ``"batchnorm"`` or ``"layernorm"``.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.0, norm: NormType = "batchnorm") -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"PatchTST: heads ({heads}) must divide d_model ({dim})")
        self.heads = heads
        self.norm1 = _SeqNorm(dim, norm)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = _SeqNorm(dim, norm)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, D) -> (N, L, D)."""
        n, length, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (N, heads, L, d_head)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(n, length, d)
        x = x + self.drop(self.proj(y))
        out: torch.Tensor = x + self.drop(self.ffn(self.norm2(x)))
        return out


def _sincos(positions: int | torch.Tensor, dim: int, device: torch.device) -> torch.Tensor:
    """(positions, dim) sine-cosine table, standardised and scaled by 1/10 (Hugging Face PatchTST ``sincos``)."""
    pos = torch.arange(positions, device=device, dtype=torch.float32).unsqueeze(1)  # type: ignore[arg-type]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    ang = pos * div  # (P, dim/2)
    pe = torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1).reshape(-1, dim)  # interleaved sin, cos
    pe = pe - pe.mean()
    return pe / (pe.std() * 10)


class PatchTST(nn.Module):
    """Channel-independent patch transformer with per-channel CLS tokens; (B, C, T) -> (B, embed_dim).

    Args:
        in_channels: input channels.
        patch_len: samples per patch.
        stride: step between patches.
        d_model: transformer width.
        depth: transformer layers.
        heads: attention heads.
        ffn_dim: feed-forward hidden size.
        dropout: dropout (0 as the library default).
        norm: ``"batchnorm"`` (library default) or ``"layernorm"``.
        pooling: ``"cls_concat"`` (``C * d_model``) or ``"cls_mean"`` (``d_model``).
        min_scale: floor added to the variance in instance scaling.

    Attributes:
        embed_dim: size of the embedding.
        min_length: shortest input length accepted (``patch_len - stride + 1``; 1 by default).

    Examples:
        >>> enc = PatchTST(6)
        >>> enc.forward_features(torch.zeros(2, 6, 250)).shape
        torch.Size([2, 768])
    """

    def __init__(
        self,
        in_channels: int = 6,
        patch_len: int = 16,
        stride: int = 16,
        d_model: int = 128,
        depth: int = 3,
        heads: int = 4,
        ffn_dim: int = 512,
        dropout: float = 0.0,
        norm: NormType = "batchnorm",
        pooling: Pooling = "cls_concat",
        min_scale: float = 1e-5,
    ) -> None:
        super().__init__()
        if pooling not in ("cls_concat", "cls_mean"):
            raise ValueError(f"PatchTST: pooling must be 'cls_concat' or 'cls_mean', got {pooling!r}")
        if norm not in ("batchnorm", "layernorm"):
            raise ValueError(f"PatchTST: norm must be 'batchnorm' or 'layernorm', got {norm!r}")
        if not 1 <= stride <= patch_len:
            raise ValueError(f"PatchTST: need 1 <= stride <= patch_len, got stride {stride}, patch_len {patch_len}")
        self.in_channels, self.patch_len, self.stride = in_channels, patch_len, stride
        self.d_model, self.pooling, self.min_scale = d_model, pooling, min_scale
        self.patch_embed = nn.Linear(patch_len, d_model)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.layers = nn.ModuleList([PatchTSTLayer(d_model, heads, ffn_dim, dropout, norm) for _ in range(depth)])
        self.min_length = patch_len - stride + 1  # one full patch once padded; 1 when stride == patch_len
        self.embed_dim = in_channels * d_model if pooling == "cls_concat" else d_model

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) scaled signal -> (B, C, P, patch_len) patches, the last one zero-padded."""
        # Padding by stride - 1 then unfolding keeps a partial last patch: P = ceil((T - patch_len) / stride) + 1.
        x = F.pad(x, (0, self.stride - 1))
        n_patches = (x.shape[-1] - self.patch_len) // self.stride + 1
        # Gather by index rather than Tensor.unfold: the TorchScript ONNX exporter cannot unfold a dynamic length.
        start = torch.arange(n_patches, device=x.device).unsqueeze(1) * self.stride  # (P, 1)
        return x[..., start + torch.arange(self.patch_len, device=x.device)]  # (B, C, P, patch_len)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) float32 -> (B, embed_dim)."""
        b, c, t = x.shape
        if t < self.min_length:
            raise ValueError(
                f"PatchTST needs inputs of at least {self.min_length} samples, got {t}; use longer windows"
            )
        loc = x.mean(dim=-1, keepdim=True)
        scale = torch.sqrt(((x - loc) ** 2).mean(dim=-1, keepdim=True) + self.min_scale)
        patches = self.patchify((x - loc) / scale)  # (B, C, P, patch_len)
        tok = self.patch_embed(patches).reshape(b * c, -1, self.d_model)  # (B*C, P, D): channel-independent
        tok = torch.cat([self.cls_token.expand(b * c, 1, self.d_model), tok], dim=1)  # (B*C, 1+P, D)
        tok = tok + _sincos(tok.shape[1], self.d_model, tok.device)
        for layer in self.layers:
            tok = layer(tok)
        cls = tok[:, 0].reshape(b, c, self.d_model)  # one CLS output per channel
        z: torch.Tensor = cls.reshape(b, c * self.d_model) if self.pooling == "cls_concat" else cls.mean(dim=1)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)


@register_encoder
def patchtst(in_channels: int = 6, **kwargs: object) -> PatchTST:
    """IMU-video paper's IMU encoder: patches 16/16, d_model 128, 3 layers, 4 heads, FFN 512; C*128-d."""
    return PatchTST(in_channels=in_channels, **kwargs)  # type: ignore[arg-type]


@register_encoder
def patchtst_tiny(in_channels: int = 6, **kwargs: object) -> PatchTST:
    """A tiny PatchTST for tests: d_model 16, 1 layer, 2 heads, FFN 32."""
    args: dict[str, object] = dict(d_model=16, depth=1, heads=2, ffn_dim=32)
    args.update(kwargs)
    return PatchTST(in_channels=in_channels, **args)  # type: ignore[arg-type]
