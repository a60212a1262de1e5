"""RelConLoss against a slow loop-based reference (the formula as written in the paper/README)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wearfm.objectives.relcon import RelConLoss


def _loop_reference(anchor: torch.Tensor, cands: torch.Tensor, dist: torch.Tensor, tau: float) -> float:
    """For each anchor and each candidate i: InfoNCE with i positive and every candidate after it
    (farther, ties broken by column order) as negatives; summed over candidates, averaged over anchors."""
    total = 0.0
    b, k, _ = cands.shape
    for n in range(b):
        sims = [F.cosine_similarity(anchor[n], cands[n, j], dim=0).item() / tau for j in range(k)]
        # nearest first; among equal distances the later column counts as nearer (the documented tie rule)
        order = sorted(range(k), key=lambda j: (dist[n, j].item(), -j))
        for r, pos in enumerate(order):
            farther = order[r:]
            lse = math.log(sum(math.exp(sims[m]) for m in farther))
            total += lse - sims[pos]
    return total / b


@pytest.mark.parametrize("b,k,d", [(1, 1, 4), (3, 1, 8), (4, 7, 16), (8, 83, 32)])
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_matches_loop_reference(b: int, k: int, d: int, tau: float) -> None:
    g = torch.Generator().manual_seed(b * 100 + k)
    a, c, dist = torch.randn(b, d, generator=g), torch.randn(b, k, d, generator=g), torch.rand(b, k, generator=g)
    got = RelConLoss(tau)(a, c, dist).item()
    assert got == pytest.approx(_loop_reference(a, c, dist, tau), rel=1e-5, abs=1e-4)


def test_k1_is_zero() -> None:
    # a single candidate is its own only "farther" set: log(exp(s)) - s = 0
    loss = RelConLoss()(torch.randn(5, 8), torch.randn(5, 1, 8), torch.rand(5, 1))
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


def test_ties_follow_reference_and_are_deterministic() -> None:
    g = torch.Generator().manual_seed(3)
    a, c = torch.randn(4, 8, generator=g), torch.randn(4, 6, 8, generator=g)
    dist = torch.tensor([[1.0, 1.0, 2.0, 2.0, 0.5, 0.5]]).repeat(4, 1)
    got = RelConLoss()(a, c, dist).item()
    assert got == pytest.approx(_loop_reference(a, c, dist, 0.1), rel=1e-5)
    assert RelConLoss()(a, c, dist).item() == got


def test_only_the_ranking_matters() -> None:
    g = torch.Generator().manual_seed(1)
    a, c, dist = torch.randn(4, 8, generator=g), torch.randn(4, 10, 8, generator=g), torch.rand(4, 10, generator=g)
    loss = RelConLoss()(a, c, dist)
    assert RelConLoss()(a, c, dist.exp() * 7 + 3).item() == pytest.approx(loss.item(), rel=1e-6)
    # reversing the ranking changes the loss
    assert RelConLoss()(a, c, -dist).item() != pytest.approx(loss.item(), rel=1e-3)


def test_nearest_aligned_gives_lower_loss() -> None:
    # candidates whose similarity decreases with distance are the loss's optimum direction
    torch.manual_seed(0)
    a = torch.randn(2, 16)
    c = torch.randn(2, 12, 16)
    sims = F.cosine_similarity(a[:, None], c, dim=-1)
    good = RelConLoss()(a, c, -sims)  # nearest = most similar
    bad = RelConLoss()(a, c, sims)
    assert good.item() < bad.item()


def test_fp32_under_bf16_autocast_and_grads() -> None:
    g = torch.Generator().manual_seed(2)
    a = torch.randn(6, 32, generator=g, requires_grad=True)
    c = torch.randn(6, 20, 32, generator=g, requires_grad=True)
    dist = torch.rand(6, 20, generator=g)
    ref = RelConLoss(0.05)(a, c, dist)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = RelConLoss(0.05)(a.bfloat16(), c.bfloat16(), dist.bfloat16())
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss)
    # inputs were rounded to bf16, the loss itself was not
    assert loss.item() == pytest.approx(ref.item(), rel=2e-2)
    ref.backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and c.grad is not None and c.grad.abs().sum() > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="temperature"):
        RelConLoss(0.0)
    with pytest.raises(ValueError, match="shapes do not agree"):
        RelConLoss()(torch.randn(3, 8), torch.randn(3, 4, 8), torch.rand(3, 5))
    with pytest.raises(ValueError, match="expects"):
        RelConLoss()(torch.randn(3, 8), torch.randn(3, 8), torch.rand(3, 5))
