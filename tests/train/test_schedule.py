import math

import pytest
import torch

from wearfm.train.schedule import lr_factor, warmup_cosine


def test_warmup_is_linear_then_cosine_to_floor():
    assert [lr_factor(s, 4, 20) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lr_factor(4, 4, 20) == pytest.approx(1.0)
    mid = 4 + (20 - 4) / 2
    assert lr_factor(int(mid), 4, 20) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(20, 4, 20) == pytest.approx(0.1)
    assert lr_factor(500, 4, 20) == pytest.approx(0.1)
    vals = [lr_factor(s, 4, 20) for s in range(4, 21)]
    assert all(a >= b for a, b in zip(vals, vals[1:], strict=False))  # monotone decay after warmup


def test_no_warmup():
    assert lr_factor(0, 0, 10) == pytest.approx(1.0)


def test_scheduler_follows_factor_and_short_runs_still_decay():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = warmup_cosine(opt, warmup_steps=100, total_steps=10)  # warmup capped at half the run
    lrs = []
    for _ in range(10):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(2.0 / 5)
    assert max(lrs) == pytest.approx(2.0)
    assert lrs[-1] < lrs[5]
