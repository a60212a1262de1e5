"""The learnable motif distance of RelCon: reconstruct an anchor from a candidate by cross-attention.

``d(anchor, candidate)`` is the squared error of the anchor rebuilt from the candidate's motifs (Xu et al.,
ICLR 2025, arXiv 2411.18822). Query features come from the anchor, keys and values from the candidate,
each through its own dilated-convolution stack; both windows are normalised with the candidate's
statistics (RevIN) and the reconstruction is de-normalised back to the candidate's scale. The distance is
not symmetric.

Attention normalisation: the released RelCon code trains with sparsemax but measures distances with
softmax (an inverted flag plus a fast path taken only in eval mode). We use ONE normalisation in both
places, chosen by ``attention``: ``"softmax"`` (default) or ``"sparsemax"``. Softmax is the default because
it is what the reference code actually used to rank candidates (its distance path), it has no
non-differentiable points, and it runs through fused ``scaled_dot_product_attention`` kernels that do not
materialise the (T, T) weights of every pair, which is what makes all-pairs distances cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wearfm import __version__
from wearfm._atomic import remove_stale_temporaries, temp_path
from wearfm.errors import CheckpointError
from wearfm.models.files import load_marked

__all__ = [
    "MotifDistance",
    "CandidateFeatures",
    "sparsemax",
    "save_distance_model",
    "load_distance_model",
    "ATTENTIONS",
    "DISTANCE_FILE",
]

ATTENTIONS = ("softmax", "sparsemax")
DISTANCE_FILE = "distance.pt"
_FORMAT = "wearfm-motif-distance"
_ARCH_KEYS = ("embed_dim", "kernel_size", "double_receptive_field", "attention", "dropout", "center")


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo, 2016): the Euclidean projection of ``z`` onto the simplex.

    Args:
        z: scores of any shape.
        dim: dimension that sums to one.

    Returns:
        Weights of ``z``'s shape, non-negative, summing to 1 along ``dim``, typically with exact zeros.

    Examples:
        >>> sparsemax(torch.tensor([[2.0, 1.0, -1.0]]))
        tensor([[1., 0., 0.]])
    """
    z = z.transpose(dim, -1)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cs = zs.cumsum(-1)
    support = (1 + k * zs) > cs  # true for the first k(z) entries
    k_z = support.sum(-1, keepdim=True)  # (..., 1) >= 1
    tau = (cs.gather(-1, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0).transpose(dim, -1)


class _PartialConv1d(nn.Conv1d):
    """'Same'-padded Conv1d whose border outputs are rescaled as if the padding were missing data.

    With an all-ones mask (RelCon uses no masking) this is ``conv(x) * k / (#valid taps) + bias``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        ones = torch.ones(1, 1, t, device=x.device, dtype=x.dtype)
        taps = torch.ones(1, 1, self.kernel_size[0], device=x.device, dtype=x.dtype)
        count = F.conv1d(ones, taps, padding="same", dilation=self.dilation)  # (1, 1, T)
        ratio = self.kernel_size[0] / count.clamp(min=1.0)
        out = F.conv1d(x, self.weight, None, padding="same", dilation=self.dilation)
        return out * ratio + self.bias.view(1, -1, 1)  # type: ignore[union-attr]


def _instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    # InstanceNorm1d without affine == layer norm over time; the layer_norm kernel is ~2.5x faster on CPU.
    return F.layer_norm(x, x.shape[-1:], eps=eps)


class _Block(nn.Module):
    """Residual bottleneck: 1x1 conv E->E/8, dilated conv E/8->E, add, GELU, InstanceNorm."""

    def __init__(self, dim: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.reduce = nn.Conv1d(dim, max(dim // 8, 1), 1)
        self.expand = nn.Conv1d(max(dim // 8, 1), dim, kernel_size, padding="same", dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _instance_norm(F.gelu(x + self.expand(self.reduce(x))))


class _DilatedStack(nn.Module):
    """(N, C, T) -> (N, E, T): partial conv + GELU + InstanceNorm, then residual blocks of dilation 2^i."""

    def __init__(self, in_channels: int, dim: int, kernel_size: int, blocks: int) -> None:
        super().__init__()
        self.stem = _PartialConv1d(in_channels, dim, kernel_size)
        self.blocks = nn.Sequential(*[_Block(dim, kernel_size, 2**i) for i in range(blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.blocks(_instance_norm(F.gelu(self.stem(x))))
        return out


@dataclass
class CandidateFeatures:
    """The candidate (key/value) side of the distance, computed once per distinct window.

    Attributes:
        key: (N, T, E) keys.
        value_out: (N, T, C) values already mapped through the output layer (``V @ W_out^T``), which
            is exact because the output layer is linear and follows the attention.
        mean: (N, C, 1) RevIN mean of each candidate.
        std: (N, C, 1) RevIN standard deviation of each candidate.
    """

    key: torch.Tensor
    value_out: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def take(self, idx: torch.Tensor) -> CandidateFeatures:
        """The features of candidates ``idx`` (a gather along the first axis)."""
        return CandidateFeatures(self.key[idx], self.value_out[idx], self.mean[idx], self.std[idx])


class MotifDistance(nn.Module):
    """One-head convolutional cross-attention that rebuilds a query window from a candidate window.

    Args:
        in_channels: channels C of the windows (3 for an accelerometer).
        embed_dim: feature size E of the query/key/value stacks.
        kernel_size: kernel of every convolution but the 1x1 bottlenecks.
        double_receptive_field: number of residual blocks (dilations 1, 2, 4, ...).
        attention: ``"softmax"`` or ``"sparsemax"``, used in training and at distance time alike.
        dropout: dropout on the attention weights (training only).
        eps: RevIN epsilon.
        center: remove each window's own per-channel mean (its gravity/orientation offset) before the
            network sees it, in training and at distance time alike; the distance then compares motion,
            not orientation. Off by default (the paper's distance sees the raw windows).

    Shape:
        - query, key (candidate): (B, C, T) float32 in g
        - output of ``forward``: (B, C, T), the query rebuilt from the candidate, in the input's units
        - output of ``distance``: (B,)

    Examples:
        >>> net = MotifDistance(in_channels=3).eval()
        >>> net.distance(torch.randn(2, 3, 64), torch.randn(2, 3, 64)).shape
        torch.Size([2])
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dim: int = 64,
        kernel_size: int = 15,
        double_receptive_field: int = 2,
        attention: str = "softmax",
        dropout: float = 0.1,
        eps: float = 1e-5,
        center: bool = False,
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.attention = attention
        self.dropout = dropout
        self.eps = eps
        self.center = bool(center)
        self.f_q = _DilatedStack(in_channels, embed_dim, kernel_size, double_receptive_field)
        self.f_k = _DilatedStack(in_channels, embed_dim, kernel_size, double_receptive_field)
        self.f_v = _DilatedStack(in_channels, embed_dim, kernel_size, double_receptive_field)
        self.out = nn.Linear(embed_dim, in_channels)
        self.revin_weight = nn.Parameter(torch.ones(1, in_channels, 1))
        self.revin_bias = nn.Parameter(torch.zeros(1, in_channels, 1))

    # --- pieces -------------------------------------------------------------------------------------

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The window as the network sees it (and as the distance compares it): centred if ``center``."""
        return x - x.mean(dim=-1, keepdim=True) if self.center else x

    def _normalize(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return (x - mean) / std * self.revin_weight + self.revin_bias

    def _denormalize(self, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return (y - self.revin_bias) / (self.revin_weight + self.eps**2) * std + mean

    def encode_candidates(self, cand: torch.Tensor) -> CandidateFeatures:
        """Keys, output-mapped values and RevIN statistics of candidates (N, C, T)."""
        cand = self.prepare(cand)
        mean = cand.mean(dim=2, keepdim=True)
        std = torch.sqrt(cand.var(dim=2, keepdim=True, unbiased=False) + self.eps)
        xn = self._normalize(cand, mean, std)
        key = self.f_k(xn).transpose(1, 2)  # (N, T, E)
        value_out = F.linear(self.f_v(xn).transpose(1, 2), self.out.weight)  # (N, T, C)
        return CandidateFeatures(key, value_out, mean, std)

    def reconstruct(self, query: torch.Tensor, feats: CandidateFeatures) -> torch.Tensor:
        """Rebuild queries (P, C, T) (as :meth:`prepare` leaves them) from the features of the same P pairs."""
        query = self.prepare(query)
        q = self.f_q(self._normalize(query, feats.mean, feats.std)).transpose(1, 2)  # (P, T, E)
        p_drop = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.embed_dim)
        if self.attention == "softmax" and q.device.type == "cuda":
            # fused kernels: the (P, T, T) weights are never materialised
            y = F.scaled_dot_product_attention(q, feats.key, feats.value_out, dropout_p=p_drop, scale=scale)
        else:
            # On CPU SDPA takes its unfused path anyway (values are C-wide, not E-wide). Few pairs at a time
            # keep the (p, T, T) weights in cache: the attention is memory-bound here.
            step = max(1, (1 << 20) // max(q.shape[1] * feats.key.shape[1], 1))
            y = torch.cat(
                [
                    self._attend(q[i : i + step], feats.key[i : i + step], feats.value_out[i : i + step], scale)
                    for i in range(0, q.shape[0], step)
                ]
            )
        y = (y + self.out.bias).transpose(1, 2)  # (P, C, T)
        return self._denormalize(y, feats.mean, feats.std)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(1, 2)) * scale  # (p, T, T)
        w = torch.softmax(scores, dim=-1) if self.attention == "softmax" else sparsemax(scores, dim=-1)
        return torch.matmul(F.dropout(w, self.dropout, self.training), v)  # (p, T, C)

    # --- public API ---------------------------------------------------------------------------------

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Rebuild ``query`` (B, C, T) from ``key`` (B, C, T), pair by pair; returns (B, C, T)."""
        return self.reconstruct(query, self.encode_candidates(key))

    def distance(self, anchor: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """Squared reconstruction error of ``anchor`` from ``candidate`` per pair, summed in fp32; (B,)."""
        rec: torch.Tensor = self(anchor, candidate)
        return (rec.float() - self.prepare(anchor).float()).pow(2).sum(dim=(1, 2))

    @torch.no_grad()
    def pair_distances(
        self,
        anchors: torch.Tensor,
        candidates: torch.Tensor,
        anchor_idx: torch.Tensor,
        cand_idx: torch.Tensor,
        chunk: int = 4096,
    ) -> torch.Tensor:
        """Distances of many (anchor, candidate) pairs in a few batched calls.

        The key/value side is computed once per distinct candidate window; the query side is computed per
        pair (it depends on the candidate's statistics through RevIN). Pairs are processed ``chunk`` at a
        time to bound memory.

        Args:
            anchors: (A, C, T) distinct anchor windows.
            candidates: (N, C, T) distinct candidate windows.
            anchor_idx: (P,) index into ``anchors`` of each pair.
            cand_idx: (P,) index into ``candidates`` of each pair.
            chunk: pairs (and candidates) per batched call.

        Returns:
            (P,) float32 distances ``d(anchors[anchor_idx[p]], candidates[cand_idx[p]])``.
        """
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        parts = [self.encode_candidates(candidates[i : i + chunk]) for i in range(0, len(candidates), chunk)]
        feats = CandidateFeatures(
            *(torch.cat([getattr(p, f) for p in parts]) for f in ("key", "value_out", "mean", "std"))
        )
        out = torch.empty(len(anchor_idx), dtype=torch.float32, device=anchors.device)
        for s in range(0, len(anchor_idx), chunk):
            a = anchors[anchor_idx[s : s + chunk]]  # (p, C, T)
            rec = self.reconstruct(a, feats.take(cand_idx[s : s + chunk]))
            out[s : s + chunk] = (rec.float() - self.prepare(a).float()).pow(2).sum(dim=(1, 2))
        return out


def save_distance_model(
    net: MotifDistance,
    path: str | Path,
    *,
    rate_hz: float,
    window_samples: int,
    channels: tuple[str, ...] | list[str],
    config: dict[str, Any] | None = None,
) -> Path:
    """Write a trained distance network with its data contract to ``path`` (a file or a run folder).

    The file is a plain dict loadable with ``weights_only=True``: ``{"format", "format_version", "spec":
    {"rate_hz", "window_samples", "channels", "in_channels", <architecture>}, "state_dict", "config",
    "wearfm_version"}``.
    """
    path = Path(path)
    if path.suffix != ".pt":
        path = path / DISTANCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {
        "rate_hz": float(rate_hz),
        "window_samples": int(window_samples),
        "channels": list(channels),
        "in_channels": net.in_channels,
        **{k: getattr(net, k) for k in ("embed_dim", "attention", "dropout", "center")},
        "kernel_size": int(net.f_q.stem.kernel_size[0]),
        "double_receptive_field": len(net.f_q.blocks),
    }
    obj = {
        "format": _FORMAT,
        "format_version": 1,
        "spec": spec,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "config": config or {},
        "wearfm_version": __version__,
    }
    remove_stale_temporaries(path)
    tmp = temp_path(path)
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def load_distance_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[MotifDistance, dict]:
    """Load a distance network saved by :func:`save_distance_model` (eval mode, gradients off).

    Args:
        path: a ``relcon-distance`` run folder or its ``distance.pt``.
        map_location: device to load onto.

    Returns:
        ``(network, spec)`` where spec holds ``rate_hz``, ``window_samples``, ``channels`` and the architecture.

    Raises:
        CheckpointError: no such file, unreadable, or not a distance model.
    """
    p = Path(path)
    if p.is_dir():
        p = p / DISTANCE_FILE
    if not p.exists():
        raise CheckpointError(
            f"{path}: no distance model ({DISTANCE_FILE}); train one first with "
            "`wearfm pretrain DATA --method relcon-distance --out RUN` and pass that RUN folder"
        )
    obj = load_marked(
        p,
        _FORMAT,
        unreadable="not a readable distance model",
        unmarked="not a wearfm distance model",
        map_location=map_location,
        marker_hint="give the run folder of `wearfm pretrain --method relcon-distance`",
    )
    spec = dict(obj["spec"])
    spec["channels"] = tuple(spec["channels"])
    spec.setdefault("center", False)  # files written before the option existed
    net = MotifDistance(in_channels=int(spec["in_channels"]), **{k: spec[k] for k in _ARCH_KEYS})
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{p}: weights do not fit the saved architecture ({str(e)[:200]})") from None
    net.requires_grad_(False)
    return net.to(map_location).eval(), spec
