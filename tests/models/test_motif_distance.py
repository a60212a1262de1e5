"""MotifDistance: shapes, asymmetry, RevIN with the candidate's statistics, batched == per-pair loop."""

from __future__ import annotations

import pytest
import torch

from wearfm.models.motif_distance import MotifDistance, sparsemax

T = 64


def _net(attention: str = "softmax", seed: int = 0) -> MotifDistance:
    torch.manual_seed(seed)
    net = MotifDistance(in_channels=3, embed_dim=16, kernel_size=7, attention=attention)
    with torch.no_grad():  # non-trivial RevIN affine so that the tests see it
        net.revin_weight.uniform_(0.5, 1.5)
        net.revin_bias.uniform_(-0.3, 0.3)
    return net.eval()


def test_shapes_and_full_size_param_count() -> None:
    net = _net()
    x = torch.randn(5, 3, T)
    assert net(x, torch.randn(5, 3, T)).shape == (5, 3, T)
    assert net.distance(x, x).shape == (5,)
    # any length works; the paper's configuration has about 58.6k parameters
    assert net(torch.randn(2, 3, 37), torch.randn(2, 3, 37)).shape == (2, 3, 37)
    assert sum(p.numel() for p in MotifDistance().parameters()) == pytest.approx(58_600, rel=0.01)


@pytest.mark.parametrize("attention", ["softmax", "sparsemax"])
def test_not_symmetric_and_nonnegative(attention: str) -> None:
    net = _net(attention)
    a, b = torch.randn(4, 3, T), 2.0 * torch.randn(4, 3, T) + 0.5
    with torch.no_grad():
        dab, dba = net.distance(a, b), net.distance(b, a)
    assert (dab >= 0).all() and (dba >= 0).all()
    assert not torch.allclose(dab, dba, rtol=1e-3)


def test_revin_uses_candidate_statistics() -> None:
    net = _net()
    a, c = torch.randn(3, 3, T), torch.randn(3, 3, T)
    shift, scale = torch.tensor([0.7, -2.0, 1.0]).view(1, 3, 1), 3.0
    with torch.no_grad():
        rec = net(a, c)
        # transform both windows by the same affine map: the candidate's statistics follow, the normalised
        # inputs are unchanged, so the reconstruction follows the same map exactly
        rec2 = net(a * scale + shift, c * scale + shift)
        assert torch.allclose(rec2, rec * scale + shift, atol=1e-4)
        # transforming only the anchor (whose statistics are NOT used) changes the normalised query
        rec3 = net(a * scale + shift, c)
    assert not torch.allclose(rec3, rec * scale + shift, atol=1e-2)


@pytest.mark.parametrize("attention", ["softmax", "sparsemax"])
def test_batched_all_pairs_equals_per_candidate_loop(attention: str) -> None:
    net = _net(attention, seed=1)
    g = torch.Generator().manual_seed(0)
    b, cw = 5, 3
    anchors = torch.randn(b, 3, T, generator=g) + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1)
    within = torch.randn(b, cw, 3, T, generator=g)
    # straightforward: one call per candidate column (other anchors, then within candidates)
    ref = torch.zeros(b, b - 1 + cw)
    with torch.no_grad():
        for i in range(b):
            others = [j for j in range(b) if j != i]
            for col, j in enumerate(others):
                ref[i, col] = net.distance(anchors[i : i + 1], anchors[j : j + 1])[0]
            for c in range(cw):
                ref[i, b - 1 + c] = net.distance(anchors[i : i + 1], within[i, c : c + 1])[0]
    # batched: distinct candidate windows once, every pair by index, in chunks of 4
    cands = torch.cat([anchors, within.reshape(b * cw, 3, T)])
    ai = torch.arange(b).repeat_interleave(b - 1 + cw)
    ci = torch.tensor([[j for j in range(b) if j != i] + [b + i * cw + c for c in range(cw)] for i in range(b)])
    got = net.pair_distances(anchors, cands, ai, ci.reshape(-1), chunk=4).view(b, -1)
    assert torch.allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_training_mode_has_dropout_and_gradients() -> None:
    net = _net().train()
    x, c = torch.randn(4, 3, T), torch.randn(4, 3, T)
    torch.manual_seed(0)
    r1 = net(x, c)
    torch.manual_seed(1)
    r2 = net(x, c)
    assert not torch.allclose(r1, r2)
    r1.pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_sparsemax_against_sorting_reference() -> None:
    g = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(6, 9, generator=g)
    p = sparsemax(z, dim=-1)
    assert torch.allclose(p.sum(-1), torch.ones(6), atol=1e-6) and (p >= 0).all()
    assert (p == 0).any()
    for row, out in zip(z.tolist(), p.tolist(), strict=True):  # textbook algorithm, one row at a time
        zs = sorted(row, reverse=True)
        k = max(k for k in range(1, len(zs) + 1) if 1 + k * zs[k - 1] > sum(zs[:k]))
        tau = (sum(zs[:k]) - 1) / k
        assert out == pytest.approx([max(v - tau, 0.0) for v in row], abs=1e-6)
    assert torch.allclose(sparsemax(z.T, dim=0), p.T)


def test_bad_attention_name() -> None:
    with pytest.raises(ValueError, match="softmax"):
        MotifDistance(attention="entmax")


def test_center_ignores_each_windows_offset_and_round_trips(tmp_path) -> None:
    from wearfm.models.motif_distance import load_distance_model, save_distance_model

    torch.manual_seed(0)
    net = MotifDistance(in_channels=3, embed_dim=16, kernel_size=7, center=True).eval()
    a, c = torch.randn(4, 3, T), torch.randn(4, 3, T)
    tilt_a, tilt_c = torch.tensor([0.1, -0.9, 0.4]).view(1, 3, 1), torch.tensor([0.8, 0.2, -0.5]).view(1, 3, 1)
    with torch.no_grad():
        d = net.distance(a, c)
        # a different orientation offset on each window changes nothing: only the motion is compared
        assert torch.allclose(net.distance(a + tilt_a, c + tilt_c), d, rtol=1e-5, atol=1e-4)
        # without centring the same offsets move the distance
        raw = MotifDistance(in_channels=3, embed_dim=16, kernel_size=7).eval()
        raw.load_state_dict(net.state_dict())
        assert not torch.allclose(raw.distance(a + tilt_a, c + tilt_c), raw.distance(a, c), rtol=1e-2)
        # the batched all-pairs path agrees with the pairwise one
        ai, ci = torch.arange(4), torch.tensor([1, 2, 3, 0])
        assert torch.allclose(net.pair_distances(a, c, ai, ci, chunk=3), net.distance(a, c[ci]), rtol=1e-5, atol=1e-4)
    path = save_distance_model(net, tmp_path, rate_hz=20, window_samples=T, channels=("acc_x", "acc_y", "acc_z"))
    back, spec = load_distance_model(path)
    assert back.center and spec["center"] is True
    with torch.no_grad():
        assert torch.allclose(back.distance(a, c), d)
    # files written before the option existed load as uncentred
    obj = torch.load(path, weights_only=True)
    del obj["spec"]["center"]
    torch.save(obj, path)
    assert load_distance_model(path)[0].center is False
