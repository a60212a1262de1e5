from __future__ import annotations

import math

import pytest
import torch

from wearfm.objectives.primus import PrimusLoss


def _ref(q, k, t, mask=None):
    rows = [i for i in range(len(q)) if mask is None or bool(mask[i])]
    if len(rows) < 2:
        return 0.0

    def cos(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    def one(a, b):
        return sum(
            -math.log(math.exp(cos(a[i], b[i]) / t) / sum(math.exp(cos(a[i], b[j]) / t) for j in rows)) for i in rows
        ) / len(rows)

    return 0.5 * (one(q, k) + one(k, q))


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(
        ss_a=r(n, 6),
        ss_b=r(n, 6),
        imu_to={"video": r(n, 5), "text": r(n, 4)},
        targets={"video": r(n, 5), "text": r(n, 4)},
        target_masks={"video": torch.rand(n, generator=g) > 0.3, "text": torch.ones(n, dtype=torch.bool)},
        nn_imu=r(n, 6),
        nn_imu_mask=torch.rand(n, generator=g) > 0.2,
        nn_targets={"video": r(n, 5), "text": r(n, 4)},
        nn_masks={"video": torch.rand(n, generator=g) > 0.2, "text": torch.rand(n, generator=g) > 0.2},
    )


@pytest.mark.parametrize("a,b,c", [(1, 1, 1), (0.5, 2, 0.25), (0, 1, 0), (1, 0, 1)])
def test_matches_reference(a, b, c):
    t = 0.1
    x = _batch()
    loss = PrimusLoss(a, b, c, init_temperature=t)
    total, parts = loss(**x)
    ss = _ref(x["ss_a"], x["ss_b"], t)
    mm = sum(_ref(x["imu_to"][m], x["targets"][m], t, x["target_masks"][m]) for m in ("video", "text"))
    nn = _ref(x["ss_a"], x["nn_imu"], t, x["nn_imu_mask"]) + sum(
        _ref(x["imu_to"][m], x["nn_targets"][m], t, x["nn_masks"][m]) for m in ("video", "text")
    )
    assert float(total) == pytest.approx(a * ss + b * mm + c * nn, rel=1e-4)
    if a:
        assert float(parts["ss"]) == pytest.approx(ss, rel=1e-4)
    if b:
        assert float(parts["mm"]) == pytest.approx(mm, rel=1e-4)
    if c:
        assert float(parts["nn"]) == pytest.approx(nn, rel=1e-4)


def test_masking_a_modality_removes_its_gradient():
    x = _batch()
    x["targets"] = {m: v.clone().requires_grad_() for m, v in x["targets"].items()}
    x["imu_to"] = {m: v.clone().requires_grad_() for m, v in x["imu_to"].items()}
    x["target_masks"]["video"] = torch.zeros(8, dtype=torch.bool)
    x["nn_masks"]["video"] = torch.zeros(8, dtype=torch.bool)
    total, _ = PrimusLoss()(**x)
    total.backward()
    assert torch.all(x["targets"]["video"].grad == 0)
    assert torch.all(x["imu_to"]["video"].grad == 0)  # no video term left anywhere
    assert x["targets"]["text"].grad.abs().sum() > 0


def test_temperatures_are_learnable_and_separate():
    loss = PrimusLoss()
    names = {n for n, _ in loss.named_parameters()}
    assert names == {"ss.log_temperature", "mm.log_temperature"}
    total, _ = loss(**_batch())
    total.backward()
    assert all(p.grad is not None and p.grad != 0 for p in loss.parameters())


def test_negative_weight_rejected():
    with pytest.raises(ValueError, match="weight_nn"):
        PrimusLoss(weight_nn=-1)
