from __future__ import annotations

import math

import pytest
import torch

from wearfm.objectives.siglip import SigLIPLoss


def _ref_siglip(a, b, scale, bias, mask=None):
    rows = [i for i in range(len(a)) if mask is None or bool(mask[i])]
    if not rows:
        return 0.0
    total = 0.0
    for i in rows:
        for j in rows:
            cos = float(a[i] @ b[j]) / (float(a[i].norm()) * float(b[j].norm()))
            logit = cos * math.exp(scale) + bias
            label = 1.0 if i == j else -1.0
            total += -math.log(1.0 / (1.0 + math.exp(-label * logit)))
    return total / len(rows)


@pytest.mark.parametrize("n,d", [(1, 4), (6, 8), (13, 3)])
@pytest.mark.parametrize("scale,bias", [(math.log(10), -10.0), (0.0, 0.0), (1.5, -2.0)])
def test_matches_loop_reference(n, d, scale, bias):
    g = torch.Generator().manual_seed(n + d)
    a, b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    loss = SigLIPLoss(scale, bias)
    assert float(loss(a, b)) == pytest.approx(_ref_siglip(a, b, scale, bias), rel=1e-4)


def test_mask_matches_reference_and_blocks_gradient():
    a = torch.randn(9, 5, requires_grad=True)
    b = torch.randn(9, 5, requires_grad=True)
    mask = torch.tensor([1, 0, 1, 1, 0, 1, 1, 0, 1], dtype=torch.bool)
    loss = SigLIPLoss(1.0, -1.0)
    out = loss(a, b, mask)
    assert float(out) == pytest.approx(_ref_siglip(a.detach(), b.detach(), 1.0, -1.0, mask), rel=1e-4)
    out.backward()
    assert torch.all(b.grad[~mask] == 0) and torch.all(a.grad[~mask] == 0)
    assert torch.all(b.grad[mask].abs().sum(1) > 0)
    assert loss.logit_scale.grad is not None and loss.logit_bias.grad is not None


def test_aligned_pairs_score_lower():
    x = torch.randn(12, 6)
    loss = SigLIPLoss(math.log(10), -5.0)
    assert float(loss(x, x)) < float(loss(x, torch.randn(12, 6)))
