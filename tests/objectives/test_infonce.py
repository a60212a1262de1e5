from __future__ import annotations

import math

import pytest
import torch

from wearfm.objectives.infonce import InfoNCELoss


def _ref_infonce(q, k, t, mask=None, symmetric=True):
    """Slow loop reference of the masked (symmetric) InfoNCE."""
    rows = [i for i in range(len(q)) if mask is None or bool(mask[i])]
    if len(rows) < 2:
        return 0.0

    def cos(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    def one_way(a, b):
        total = 0.0
        for i in rows:
            den = sum(math.exp(cos(a[i], b[j]) / t) for j in rows)
            total += -math.log(math.exp(cos(a[i], b[i]) / t) / den)
        return total / len(rows)

    fwd = one_way(q, k)
    return 0.5 * (fwd + one_way(k, q)) if symmetric else fwd


@pytest.mark.parametrize("n,d", [(2, 3), (8, 16), (17, 5)])
@pytest.mark.parametrize("t", [0.07, 0.1, 0.5])
@pytest.mark.parametrize("symmetric", [True, False])
def test_matches_loop_reference(n, d, t, symmetric):
    g = torch.Generator().manual_seed(n * 100 + d)
    q, k = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    loss = InfoNCELoss(init_temperature=t, symmetric=symmetric)
    assert float(loss(q, k)) == pytest.approx(_ref_infonce(q, k, t, symmetric=symmetric), rel=1e-4, abs=1e-5)


def test_masked_matches_reference_on_subset():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(10, 6, generator=g), torch.randn(10, 6, generator=g)
    mask = torch.tensor([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    loss = InfoNCELoss(0.1)
    assert float(loss(q, k, mask)) == pytest.approx(_ref_infonce(q, k, 0.1, mask), rel=1e-4)
    assert float(loss(q, k, mask)) == pytest.approx(float(loss(q[mask], k[mask])), rel=1e-6)


def test_masked_rows_get_no_gradient_and_temperature_learns():
    q = torch.randn(8, 4, requires_grad=True)
    k = torch.randn(8, 4, requires_grad=True)
    mask = torch.tensor([1, 1, 1, 0, 1, 0, 1, 1], dtype=torch.bool)
    loss = InfoNCELoss(0.1)
    loss(q, k, mask).backward()
    assert torch.all(k.grad[~mask] == 0) and torch.all(q.grad[~mask] == 0)
    assert torch.all(k.grad[mask].abs().sum(1) > 0)
    assert loss.log_temperature.grad is not None and loss.log_temperature.grad != 0


def test_all_masked_is_zero_and_differentiable():
    q = torch.randn(4, 3, requires_grad=True)
    out = InfoNCELoss()(q, torch.randn(4, 3), torch.zeros(4, dtype=torch.bool))
    out.backward()
    assert float(out) == 0.0 and torch.all(q.grad == 0)


def test_perfect_alignment_beats_random_and_symmetry():
    x = torch.randn(16, 8)
    loss = InfoNCELoss(0.1)
    assert float(loss(x, x)) < float(loss(x, torch.randn(16, 8)))
    y = torch.randn(16, 8)
    assert float(loss(x, y)) == pytest.approx(float(loss(y, x)), rel=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="init_temperature"):
        InfoNCELoss(init_temperature=0.0)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        InfoNCELoss()(torch.randn(4, 3), torch.randn(4, 5))
