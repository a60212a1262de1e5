from __future__ import annotations

import math

import pytest
import torch

from tests._helpers.signals import make_windows
from wearfm.data.augment import (
    PRIMUS_AUGMENTATIONS,
    RELCON_AUGMENTATIONS,
    TRANSFORMS,
    Augmenter,
    AxisPermutation,
    Chain,
    Jitter,
    Rotation,
    Scaling,
    SegmentPermutation,
    TimeWarp,
    random_rotation_matrices,
)
from wearfm.errors import ConfigError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _acc_gyr(n: int = 16, t: int = 120) -> torch.Tensor:
    acc = torch.from_numpy(make_windows(n=n, channels=3, length=t))
    return torch.cat([acc, acc * 30], dim=1)  # gyro = a scaled copy of acc, so a shared transform keeps them equal


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_shape_dtype_seeded_determinism_and_no_inplace(name: str) -> None:
    x = _acc_gyr()
    before = x.clone()
    t = TRANSFORMS[name]()
    y1, y2 = t(x, _gen(1)), t(x, _gen(1))
    assert y1.shape == x.shape and y1.dtype == x.dtype
    assert torch.equal(y1, y2)
    assert torch.equal(x, before)
    assert torch.isfinite(y1).all()
    if name in ("negation", "time_reversal"):  # deterministic: the seed changes nothing
        assert torch.equal(t(x, _gen(2)), y1)
    else:
        assert not torch.equal(t(x, _gen(2)), y1)


def test_scaling_one_factor_per_channel_or_sample() -> None:
    x = torch.ones(4000, 3, 10)
    y = Scaling(sigma=0.25)(x, _gen())
    assert torch.allclose(y, y[..., :1].expand_as(y))  # constant over time
    assert float(y[..., 0].mean()) == pytest.approx(1.0, abs=0.02)
    assert float(y[..., 0].std()) == pytest.approx(0.25, abs=0.02)
    z = Scaling(sigma=0.25, per_channel=False)(x, _gen())
    assert torch.allclose(z, z[:, :1, :1].expand_as(z))


def test_jitter_noise_level() -> None:
    x = torch.zeros(64, 3, 500)
    assert float(Jitter(sigma=0.1)(x, _gen()).std()) == pytest.approx(0.1, rel=0.03)


def test_negation_and_time_reversal_exact() -> None:
    x = _acc_gyr()
    assert torch.equal(TRANSFORMS["negation"]()(x), -x)
    assert torch.equal(TRANSFORMS["time_reversal"]()(x), x.flip(-1))


def test_rotation_matrices_are_proper_and_angles_uniform() -> None:
    like = torch.zeros(1)
    r = random_rotation_matrices(20000, like, _gen())
    eye = torch.eye(3).expand_as(r)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(20000), atol=1e-5)
    angle = torch.arccos(((r.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1))  # |theta| in [0, pi]
    assert float(angle.mean()) == pytest.approx(math.pi / 2, abs=0.03)  # |U(-pi, pi)| is U(0, pi)
    small = random_rotation_matrices(100, like, _gen(), max_angle=0.01)
    assert torch.allclose(small, torch.eye(3).expand_as(small), atol=0.02)


def test_rotation_keeps_norms_and_turns_gyro_with_acc() -> None:
    x = _acc_gyr()
    y = Rotation()(x, _gen())
    assert torch.allclose(y[:, :3].norm(dim=1), x[:, :3].norm(dim=1), atol=1e-5)
    assert torch.allclose(y[:, 3:], 30 * y[:, :3], atol=1e-4)  # same matrix for both sensors
    assert not torch.allclose(y, x, atol=1e-2)
    with pytest.raises(ValueError, match="3-axis groups"):
        Rotation()(torch.zeros(2, 4, 10))


def test_axis_permutation_is_never_identity_and_shared_by_sensors() -> None:
    x = _acc_gyr(n=200)
    y = AxisPermutation()(x, _gen())
    assert torch.allclose(y[:, 3:], 30 * y[:, :3], atol=1e-5)
    for i in range(200):
        perm = [int((x[i, :3] == y[i, a]).all(dim=1).nonzero()[0]) for a in range(3)]
        assert sorted(perm) == [0, 1, 2] and perm != [0, 1, 2]


def test_time_warp_is_a_smooth_monotone_resampling() -> None:
    t = 200
    ramp = torch.linspace(0, 1, t).expand(32, 3, t).contiguous()
    y = TimeWarp(sigma=0.2, knots=4)(ramp, _gen())
    assert torch.allclose(y[..., 0], ramp[..., 0]) and torch.allclose(y[..., -1], ramp[..., -1], atol=1e-5)
    steps = y.diff(dim=-1)
    assert (steps > 0).all()  # monotone, no folds
    assert float((y - ramp).abs().max()) > 0.01  # it does warp
    assert float(steps.diff(dim=-1).abs().max()) < 0.01  # smooth: the speed changes gradually
    const = torch.full((4, 3, t), 0.7)
    assert torch.allclose(TimeWarp()(const, _gen()), const)
    assert torch.allclose(TimeWarp(sigma=0.0)(ramp, _gen()), ramp, atol=1e-5)


@pytest.mark.parametrize("segments", [2, 5, 6])
def test_segment_permutation_reorders_contiguous_pieces(segments: int) -> None:
    t = 50
    idx = torch.arange(t, dtype=torch.float32).expand(64, 3, t).contiguous()
    y = SegmentPermutation(segments)(idx, _gen())
    assert torch.equal(y.sort(dim=-1).values, idx)  # a permutation of the time steps
    breaks = (y[:, 0].diff(dim=-1) != 1).sum(dim=1)
    assert int(breaks.max()) <= segments - 1
    assert int((breaks > 0).sum()) > 32  # most samples are actually shuffled
    assert torch.equal(y[:, 0], y[:, 2])  # channels move together


def test_augmenter_probability_and_validation() -> None:
    x = _acc_gyr()
    assert torch.equal(Augmenter(("negation", "time_reversal"), p=0.0, generator=_gen())(x), x)
    assert torch.equal(Augmenter(("negation",), p=1.0, generator=_gen())(x), -x)
    with pytest.raises(ConfigError, match="choose from"):
        Augmenter(("flip_upside_down",))
    with pytest.raises(ConfigError, match="p must be"):
        Augmenter(("negation",), p=1.5)
    with pytest.raises(ConfigError, match="n_select"):
        Augmenter(("negation",), n_select=2)
    with pytest.raises(ConfigError, match="not in"):
        Augmenter(("negation",), params={"scaling": {"sigma": 0.1}})


def test_augmenter_p_applies_per_sample() -> None:
    x = torch.arange(1.0, 11.0).expand(1000, 3, 10).contiguous()
    y = Augmenter(("negation",), p=0.3, generator=_gen())(x)
    negated = (y < 0).all(dim=2).all(dim=1)
    assert torch.equal(y[~negated], x[~negated])
    assert float(negated.float().mean()) == pytest.approx(0.3, abs=0.05)


def test_augmenter_n_select_picks_exactly_k_distinct() -> None:
    x = torch.arange(1.0, 11.0).expand(500, 3, 10).contiguous()
    one = Augmenter(("negation", "time_reversal"), n_select=1, generator=_gen())(x)
    is_neg = (one == -x).all(dim=2).all(dim=1)
    is_rev = (one == x.flip(-1)).all(dim=2).all(dim=1)
    assert torch.equal(is_neg ^ is_rev, torch.ones(500, dtype=torch.bool))
    assert 0.4 < float(is_neg.float().mean()) < 0.6
    both = Augmenter(("negation", "time_reversal"), n_select=2, generator=_gen())(x)
    assert torch.equal(both, -x.flip(-1))
    relcon = Augmenter(RELCON_AUGMENTATIONS, n_select=2, generator=_gen())
    assert relcon(_acc_gyr()).shape == (16, 6, 120)


def test_augmenter_is_reproducible_and_uses_params() -> None:
    x = _acc_gyr()
    a = Augmenter(PRIMUS_AUGMENTATIONS, p=0.5, params={"scaling": {"sigma": 0.5}})
    assert a.transforms[0].sigma == 0.5
    assert torch.equal(a(x, _gen(3)), a(x, _gen(3)))
    assert not torch.equal(a(x, _gen(3)), a(x, _gen(4)))
    seeded = Augmenter(generator=_gen(5))
    first = seeded(x)
    seeded.generator = _gen(5)
    assert torch.equal(seeded(x), first)


@pytest.mark.gpu
def test_cuda_batches_with_cpu_generator() -> None:
    x = _acc_gyr().cuda()
    aug = Augmenter(RELCON_AUGMENTATIONS, n_select=2)
    y1, y2 = aug(x, _gen(7)), aug(x, _gen(7))
    assert y1.device.type == "cuda" and torch.equal(y1, y2)
    assert torch.allclose(y1.cpu(), aug(x.cpu(), _gen(7)), atol=1e-5)


def test_real_wisdm_walking_windows(real_data) -> None:
    """Augment real 20 Hz phone accelerometer windows (WISDM, activity A = walking) and encode them."""
    import numpy as np

    from wearfm.models import create_encoder

    path = real_data / "wisdm-phone" / "raw" / "phone" / "accel" / "data_1600_accel_phone.txt"
    with path.open() as f:
        rows = [f.readline().rstrip(";\n").split(",") for _ in range(2400)]
    acc = np.array([[float(v) for v in r[3:6]] for r in rows if r[1] == "A"], dtype=np.float32) / 9.80665  # g
    n = acc.shape[0] // 200
    assert n >= 8
    x = torch.from_numpy(acc[: n * 200].reshape(n, 200, 3).transpose(0, 2, 1).copy())  # (n, 3, 200) at 20 Hz
    y = Rotation()(x, _gen())
    assert torch.allclose(y.norm(dim=1), x.norm(dim=1), atol=1e-4)  # |a| (gravity + motion) survives rotation
    assert float(x.norm(dim=1).mean()) == pytest.approx(1.0, abs=0.3)
    z = Augmenter(RELCON_AUGMENTATIONS, n_select=2, generator=_gen())(x)
    assert z.shape == x.shape and torch.isfinite(z).all()
    for name in ("resnet1d_tiny", "cnn_gru_tiny", "patchtst_tiny"):
        enc = create_encoder(name, in_channels=3).eval()
        assert torch.isfinite(enc(z)).all()


def test_time_warp_shared_or_per_channel() -> None:
    t = torch.linspace(0, 6 * math.pi, 200)
    x = torch.sin(t).expand(4, 3, 200).clone()  # three identical channels
    shared = TimeWarp(sigma=0.3)(x, torch.Generator().manual_seed(0))
    assert torch.equal(shared[:, 0], shared[:, 1]) and torch.equal(shared[:, 1], shared[:, 2])
    per = TimeWarp(sigma=0.3, per_channel=True)(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(per[:, 0], per[:, 1]) and not torch.allclose(per[:, 1], per[:, 2])
    assert torch.equal(per[:, :, 0], x[:, :, 0]) and torch.equal(per[:, :, -1], x[:, :, -1])  # ends fixed


def test_augmenter_random_order_applies_each_chosen_transform_once() -> None:
    x = torch.randn(64, 3, 50)
    aug = Augmenter(("negation", "time_reversal"), n_select=2, random_order=True)
    torch.testing.assert_close(aug(x, torch.Generator().manual_seed(0)), -x.flip(-1))
    one = Augmenter(("negation", "time_reversal"), n_select=1, random_order=True)
    y = one(x, torch.Generator().manual_seed(1))
    neg, rev = (y == -x).all(dim=(1, 2)), (y == x.flip(-1)).all(dim=(1, 2))
    assert bool((neg ^ rev).all()) and 0 < int(neg.sum()) < 64  # exactly one of the two, both drawn


def test_relcon_stage1_augmentation_follows_the_released_code() -> None:
    from wearfm.data.augment import RELCON_AUGMENT_PARAMS

    aug = Augmenter(RELCON_AUGMENTATIONS, n_select=2, params=RELCON_AUGMENT_PARAMS, random_order=True)
    by_name = dict(zip(aug.names, aug.transforms, strict=True))
    assert by_name["segment_permutation"].segments == 6  # 5 cuts
    assert by_name["time_warp"].per_channel and aug.random_order


def test_chain_applies_every_transform_in_order_with_their_own_draws() -> None:
    x = _acc_gyr(8, 100)
    params = {"scaling": {"sigma": 0.3}, "segment_permutation": {"segments": 4}}
    y = Chain(("scaling", "segment_permutation", "negation"), params=params, generator=_gen(5))(x)
    g = _gen(5)
    expected = -SegmentPermutation(4)(Scaling(0.3)(x, g), g)
    assert torch.equal(y, expected)


def test_chain_checks_names_like_augmenter() -> None:
    with pytest.raises(ConfigError, match="unknown augmentation"):
        Chain(("scaling", "mirror"))
    with pytest.raises(ConfigError, match="repeat"):
        Chain(("negation", "negation"))
    with pytest.raises(ConfigError, match="not in"):
        Chain(("negation",), params={"scaling": {"sigma": 0.1}})
