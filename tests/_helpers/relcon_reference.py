"""A straightforward RelCon step, written the way the published code computes it: the test reference.

One distance call per candidate column (K = (B-1) + Cw sequential calls of batch B) through the plain
cross-attention (query, key and value stacks per pair, attention over the 64-d values, then the output layer),
and a Python loop over anchors for the loss. ``benchmarks/relcon.py`` times it against the fast path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from wearfm.models.motif_distance import MotifDistance

__all__ = ["reference_distance", "reference_distances", "reference_loss", "reference_step"]


def reference_distance(net: MotifDistance, anchor: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """(B,) squared error of ``anchor`` (B, C, T) rebuilt from ``cand`` (B, C, T); no shortcuts."""
    mean = cand.mean(dim=2, keepdim=True)
    std = torch.sqrt(cand.var(dim=2, keepdim=True, unbiased=False) + net.eps)
    q = net.f_q(net._normalize(anchor, mean, std)).transpose(1, 2)  # (B, T, E)
    k = net.f_k(net._normalize(cand, mean, std)).transpose(1, 2)
    v = net.f_v(net._normalize(cand, mean, std)).transpose(1, 2)
    scores = q @ k.transpose(1, 2) / math.sqrt(net.embed_dim)  # (B, T, T)
    if net.attention == "softmax":
        w = torch.softmax(scores, dim=-1)
    else:
        from wearfm.models.motif_distance import sparsemax

        w = sparsemax(scores, dim=-1)
    y = net.out(w @ v).transpose(1, 2)  # (B, C, T)
    rec = net._denormalize(y, mean, std)
    return (rec.float() - anchor.float()).pow(2).sum(dim=(1, 2))


@torch.no_grad()
def reference_distances(net: MotifDistance, x: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
    """(B, K): column c < B-1 is the c-th other anchor (in index order), then the Cw within candidates."""
    b, cw = within.shape[:2]
    cols = []
    for c in range(b - 1):
        other = torch.tensor([c if c < i else c + 1 for i in range(b)])
        cols.append(reference_distance(net, x, x[other]))
    for c in range(cw):
        cols.append(reference_distance(net, x, within[:, c]))
    return torch.stack(cols, dim=1)


def reference_loss(za: torch.Tensor, zc: torch.Tensor, d: torch.Tensor, tau: float) -> torch.Tensor:
    """The published loss, one anchor at a time: sort by distance, cumsum of exp from the farthest, log."""
    total = za.new_zeros(())
    for i in range(za.shape[0]):
        sim = F.cosine_similarity(za[i : i + 1], zc[i], dim=-1) / tau  # (K,)
        order = torch.argsort(d[i], descending=True, stable=True)  # farthest first
        s = sim[order]
        total = total + (torch.log(torch.cumsum(torch.exp(s), dim=0)) - s).sum()
    return total / za.shape[0]


def reference_step(
    net: MotifDistance, model: torch.nn.Module, x: torch.Tensor, within: torch.Tensor, tau: float
) -> torch.Tensor:
    """Loss of one training step (encoder forward included; the caller runs backward)."""
    b, cw = within.shape[:2]
    d = reference_distances(net, x, within)
    # one encoder call over all distinct windows, as the fast path (BatchNorm sees the same batch)
    z = model.forward_features(torch.cat([x, within.flatten(0, 1)]))  # (B + B*Cw, D)
    za, zw = z[:b], z[b:].view(b, cw, -1)
    others = [[j for j in range(b) if j != i] for i in range(b)]
    zc = torch.cat([za[torch.tensor(others)], zw], dim=1)  # (B, K, D)
    return reference_loss(za, zc, d, tau)
