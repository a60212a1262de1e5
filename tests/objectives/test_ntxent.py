from __future__ import annotations

import math

import pytest
import torch

from wearfm.objectives.ntxent import NTXentLoss


def _manual_ntxent(z0: torch.Tensor, z1: torch.Tensor, temperature: float) -> float:
    """Slow reference: loop over the 2B views and their 2B - 1 candidates."""
    views = [v / v.norm() for v in torch.cat([z0, z1]).double()]
    b = z0.shape[0]
    total = 0.0
    for i, a in enumerate(views):
        pos = i + b if i < b else i - b
        denom = sum(math.exp(float(a @ views[k]) / temperature) for k in range(2 * b) if k != i)
        total += -math.log(math.exp(float(a @ views[pos]) / temperature) / denom)
    return total / (2 * b)


@pytest.mark.parametrize("batch", [1, 2, 7, 16])
@pytest.mark.parametrize("dim", [3, 32])
@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5, 1.0])
def test_matches_loop_reference(batch: int, dim: int, temperature: float) -> None:
    g = torch.Generator().manual_seed(batch * 100 + dim)
    z0, z1 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    loss = NTXentLoss(temperature=temperature)
    assert float(loss(z0, z1)) == pytest.approx(_manual_ntxent(z0, z1, temperature), abs=1e-5)


def test_learnable_temperature_matches_reference_and_trains() -> None:
    torch.manual_seed(0)
    z0, z1 = torch.randn(8, 16), torch.randn(8, 16)
    loss = NTXentLoss(temperature=0.2, learnable_temperature=True)
    assert float(loss.temperature.detach()) == pytest.approx(0.2)
    out = loss(z0, z1)
    assert float(out.detach()) == pytest.approx(_manual_ntxent(z0, z1, 0.2), abs=1e-5)
    out.backward()
    assert loss.log_temperature.grad is not None and torch.isfinite(loss.log_temperature.grad)
    assert [n for n, _ in loss.named_parameters()] == ["log_temperature"]
    assert list(NTXentLoss(0.2).parameters()) == []


def test_symmetric_in_views() -> None:
    torch.manual_seed(1)
    z0, z1 = torch.randn(10, 8), torch.randn(10, 8)
    loss = NTXentLoss(0.1)
    assert float(loss(z0, z1)) == pytest.approx(float(loss(z1, z0)), abs=1e-6)
    perm = torch.randperm(10)
    assert float(loss(z0[perm], z1[perm])) == pytest.approx(float(loss(z0, z1)), abs=1e-5)


def test_scale_invariant_and_lower_for_matching_views() -> None:
    torch.manual_seed(2)
    z = torch.randn(16, 32)
    loss = NTXentLoss(0.1)
    assert float(loss(z, 3 * z)) == pytest.approx(float(loss(z, z)), abs=1e-5)  # L2-normalised
    assert float(loss(z, z + 0.01 * torch.randn_like(z))) < float(loss(z, torch.randn_like(z)))


def test_finite_gradients_and_float32_from_half() -> None:
    torch.manual_seed(3)
    z0 = torch.randn(6, 8, requires_grad=True)
    z1 = torch.randn(6, 8, requires_grad=True)
    out = NTXentLoss(0.05)(z0, z1)
    out.backward()
    assert torch.isfinite(out)
    assert z0.grad is not None and torch.isfinite(z0.grad).all() and z0.grad.abs().sum() > 0
    assert z1.grad is not None and torch.isfinite(z1.grad).all()
    half = NTXentLoss(0.1)(z0.detach().bfloat16(), z1.detach().bfloat16())
    assert half.dtype == torch.float32 and torch.isfinite(half)


@pytest.mark.parametrize("t", [0.0, 1e-9, -1e-9])
def test_rejects_tiny_temperature(t: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature=t)


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(5, 8))


def test_gather_distributed_without_process_group_equals_local() -> None:
    torch.manual_seed(4)
    z0, z1 = torch.randn(5, 8), torch.randn(5, 8)
    assert float(NTXentLoss(0.1, gather_distributed=True)(z0, z1)) == pytest.approx(float(NTXentLoss(0.1)(z0, z1)))


def _ddp_worker(rank: int, world: int, init_file: str, z0: torch.Tensor, z1: torch.Tensor, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    b = z0.shape[0] // world
    a0 = z0[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    a1 = z1[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    loss = NTXentLoss(0.1, gather_distributed=True)(a0, a1)
    loss.backward()
    torch.save({"loss": loss.detach(), "g0": a0.grad, "g1": a1.grad}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow  # ~25 s: two spawned processes importing torch
def test_gather_distributed_two_gloo_ranks_equal_one_big_batch(tmp_path) -> None:
    import torch.multiprocessing as mp

    torch.manual_seed(5)
    world, b = 2, 4
    z0, z1 = torch.randn(world * b, 8), torch.randn(world * b, 8)
    out = str(tmp_path / "res")
    mp.spawn(_ddp_worker, args=(world, str(tmp_path / "init"), z0, z1, out), nprocs=world, join=True)
    res = [torch.load(f"{out}.{r}") for r in range(world)]
    f0, f1 = z0.clone().requires_grad_(True), z1.clone().requires_grad_(True)
    full = NTXentLoss(0.1)(f0, f1)
    full.backward()
    # The mean of the per-rank losses is the full-batch loss; DDP's gradient averaging (sum / world) then gives
    # the full-batch gradient.
    assert float(sum(r["loss"] for r in res)) / world == pytest.approx(float(full.detach()), abs=1e-5)
    g0 = torch.cat([r["g0"] for r in res]) / world
    g1 = torch.cat([r["g1"] for r in res]) / world
    assert torch.allclose(g0, f0.grad, atol=1e-5) and torch.allclose(g1, f1.grad, atol=1e-5)
