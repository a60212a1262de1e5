"""CNN-GRU: the IMU2CLIP / PRIMUS IMU encoder ("MW2StackRNNPooling"; Moon et al. 2022, Das et al. 2025).

Layout (``/work/shared/methods/primus.md`` section 0): GroupNorm on the raw input, three dilated Conv1d blocks of
32 channels (kernel 10/5/5, dilation 2, no bias, no activation) each followed by MaxPool1d(3), GroupNorm(4, 32),
then a one-layer unidirectional GRU with 512 hidden units; the embedding is the GRU's final hidden state
(512-d). The backbone has 850,892 parameters with 6 input channels (849,926 with 3).

Where the paper and its code disagree (``gru_over``):

* ``"time"`` (default; the PRIMUS paper's reading and the 2025 IMU-video paper's code): the conv output
  (B, 32, L) is transposed so the GRU runs over the L pooled time steps with 32 features each.
* ``"channels"`` (the released IMU2CLIP/PRIMUS code): the conv output goes into the GRU untransposed, so the
  GRU runs over the 32 conv channels as "time steps" with the pooled time positions as features. As in the
  PRIMUS code, the third pool is then ``AdaptiveAvgPool1d(32)`` so the feature size is fixed for any input
  length. Choose it to reproduce the released models' axis layout.

Input GroupNorm: the code's GroupNorm(2, 6) normalises the accelerometer and the gyroscope separately; here the
default is one group per 3-axis sensor (``in_channels // 3``), one group otherwise.

Minimum input length: 141 samples for the default sizes over time (123 over channels), from the unpadded
convolutions and pools; ``min_length`` holds it and shorter inputs raise a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from wearfm.models._layers import AdaptiveAvgPool1d, MaxPool1d
from wearfm.models.registry import register_encoder

__all__ = ["CNNGRU", "cnn_gru", "cnn_gru_tiny"]

GruOver = Literal["time", "channels"]


class CNNGRU(nn.Module):
    """GroupNorm -> 3 dilated conv blocks with pooling -> GroupNorm -> GRU; (B, C, T) -> (B, hidden).

    Args:
        in_channels: input channels (3 for acc, 6 for acc+gyr).
        conv_channels: width of the conv blocks.
        kernels: kernel size of each conv block.
        dilation: dilation of every conv.
        pool: max-pool kernel (= stride) after each block.
        hidden: GRU hidden size (= embedding size).
        gru_over: ``"time"`` (paper) or ``"channels"`` (released code); see the module docstring.
        channel_pool: pooled length fed as GRU features when ``gru_over="channels"`` (32 in PRIMUS).
        input_groups: groups of the input GroupNorm; default one per 3-axis sensor.
        feature_groups: groups of the GroupNorm after the convs.

    Attributes:
        embed_dim: size of the embedding (``hidden``).
        min_length: shortest input length accepted.

    Examples:
        >>> enc = CNNGRU(6)
        >>> enc.forward_features(torch.zeros(2, 6, 250)).shape
        torch.Size([2, 512])
    """

    def __init__(
        self,
        in_channels: int = 6,
        conv_channels: int = 32,
        kernels: Sequence[int] = (10, 5, 5),
        dilation: int = 2,
        pool: int = 3,
        hidden: int = 512,
        gru_over: GruOver = "time",
        channel_pool: int = 32,
        input_groups: int | None = None,
        feature_groups: int = 4,
    ) -> None:
        super().__init__()
        if gru_over not in ("time", "channels"):
            raise ValueError(f"CNNGRU: gru_over must be 'time' or 'channels', got {gru_over!r}")
        if len(kernels) != 3:
            raise ValueError(f"CNNGRU: kernels must give 3 conv blocks, got {tuple(kernels)}")
        if input_groups is None:
            input_groups = in_channels // 3 if in_channels % 3 == 0 else 1
        if in_channels % input_groups or conv_channels % feature_groups:
            raise ValueError(
                f"CNNGRU: input_groups {input_groups} must divide in_channels {in_channels} and feature_groups "
                f"{feature_groups} must divide conv_channels {conv_channels}"
            )
        self.in_channels = in_channels
        self.gru_over = gru_over
        self.input_norm = nn.GroupNorm(input_groups, in_channels)
        convs: list[nn.Module] = []
        c = in_channels
        for i, k in enumerate(kernels):
            last_pool: nn.Module = (
                AdaptiveAvgPool1d(channel_pool) if (gru_over == "channels" and i == 2) else MaxPool1d(pool)
            )
            convs += [nn.Conv1d(c, conv_channels, k, dilation=dilation, bias=False), last_pool]
            c = conv_channels
        self.convs = nn.Sequential(*convs)
        self.feature_norm = nn.GroupNorm(feature_groups, conv_channels)
        self.gru = nn.GRU(conv_channels if gru_over == "time" else channel_pool, hidden, batch_first=True)
        self.embed_dim = hidden
        self.min_length = self._min_length(kernels, dilation, pool)

    def _min_length(self, kernels: Sequence[int], dilation: int, pool: int) -> int:
        def out_len(t: int) -> int:
            for i, k in enumerate(kernels):
                t = t - dilation * (k - 1)
                if t < 1:
                    return 0
                t = t if (self.gru_over == "channels" and i == 2) else t // pool
            return t

        t = 1
        while out_len(t) < 1:
            t += 1
        return t

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) float32 -> (B, hidden): the GRU's final hidden state."""
        if x.shape[-1] < self.min_length:
            raise ValueError(
                f"CNNGRU needs inputs of at least {self.min_length} samples, got {x.shape[-1]}; "
                "use longer windows or a higher sample rate"
            )
        h = self.feature_norm(self.convs(self.input_norm(x)))  # (B, 32, L)
        if self.gru_over == "time":
            h = h.transpose(1, 2)  # (B, L, 32): L time steps of 32 features
        # else (B, 32, channel_pool): 32 "steps" (conv channels) of channel_pool features, as the released code
        _, h_n = self.gru(h)  # h_n: (1, B, hidden)
        z: torch.Tensor = h_n[0]
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)


@register_encoder
def cnn_gru(in_channels: int = 6, **kwargs: object) -> CNNGRU:
    """IMU2CLIP/PRIMUS encoder: 3 dilated conv blocks of 32, GRU of 512 over time; 512-d, ~0.85 M parameters."""
    return CNNGRU(in_channels=in_channels, **kwargs)  # type: ignore[arg-type]


@register_encoder
def cnn_gru_tiny(in_channels: int = 6, **kwargs: object) -> CNNGRU:
    """A tiny CNN-GRU for tests: 8 conv channels, kernels 3, dilation 1, pool 2, GRU of 16 (min length 22)."""
    args: dict[str, object] = dict(
        conv_channels=8, kernels=(3, 3, 3), dilation=1, pool=2, hidden=16, channel_pool=4, feature_groups=2
    )
    args.update(kwargs)
    return CNNGRU(in_channels=in_channels, **args)  # type: ignore[arg-type]
