"""IMU augmentations on (B, C, T) batches, vectorised over the batch and seeded by a ``torch.Generator``.

Signals are acc in g (and gyr in deg/s); channels come in 3-axis groups (``acc_x/y/z``, then ``gyr_x/y/z``), and
the transforms that act on directions (rotation, axis permutation) apply the *same* matrix to every group of a
sample, so a gyroscope turns with its accelerometer. Every transform draws its random numbers from the
generator it is given (on the generator's device, then moved), so a seeded generator gives identical outputs.

Transforms (each a small ``nn.Module``; ``forward(x, generator=None)``):

========================  ============================================================================
``scaling``               multiply by factors ~ N(1, sigma) (one per channel, or per sample)
``jitter``                add Gaussian noise N(0, sigma)
``negation``              multiply by -1
``time_reversal``         reverse time
``rotation``              random 3-D rotation: axis uniform on the sphere, angle uniform in [-max, max]
``axis_permutation``      a random non-identity permutation of the 3 axes
``time_warp``             smooth random warp: speed knots ~ N(1, sigma) interpolated, integrated, resampled
``segment_permutation``   cut at random points into ``segments`` pieces and shuffle them
========================  ============================================================================

:class:`Augmenter` composes them: each transform is applied to each sample with probability ``p``, or (with
``n_select=k``) each sample gets exactly ``k`` distinct transforms, as RelCon's distance training does (2 of 8).
The order of application is the order of ``names``. :class:`Chain` applies every named transform to every sample,
in order (PRIMUS's ``L_SS`` view: scaling then time reversal).

Differences from the sources (``/work/shared/methods/relcon.md`` section 2, ``primus.md`` A3): the rotation axis is
uniform on the sphere (the released code normalises a point uniform in a cube, which favours the diagonals); time
warping integrates a piecewise-linear speed curve (a C1 warp) rather than a cubic spline of the speed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from wearfm.errors import ConfigError

__all__ = [
    "RELCON_AUGMENT_PARAMS",
    "Scaling",
    "Jitter",
    "Negation",
    "TimeReversal",
    "Rotation",
    "AxisPermutation",
    "TimeWarp",
    "SegmentPermutation",
    "Augmenter",
    "Chain",
    "TRANSFORMS",
    "SIMCLR_AUGMENTATIONS",
    "PRIMUS_AUGMENTATIONS",
    "RELCON_AUGMENTATIONS",
    "random_rotation_matrices",
]


def _rand(shape: Sequence[int], x: torch.Tensor, g: torch.Generator | None, normal: bool = False) -> torch.Tensor:
    """Uniform [0, 1) (or standard normal) numbers drawn from ``g`` and moved to ``x``'s device, in x's dtype."""
    dev = g.device if g is not None else x.device
    fn = torch.randn if normal else torch.rand
    return fn(tuple(shape), generator=g, device=dev).to(device=x.device, dtype=x.dtype)


def _groups(x: torch.Tensor, what: str) -> torch.Tensor:
    """(B, C, T) -> (B, C/3, 3, T); ``C`` must be a multiple of 3 (acc, acc+gyr)."""
    b, c, t = x.shape
    if c % 3:
        raise ValueError(f"{what} needs channels in 3-axis groups (acc, acc+gyr); got {c} channels")
    return x.reshape(b, c // 3, 3, t)


class _Transform(nn.Module):
    """Base: ``forward(x (B, C, T), generator) -> (B, C, T)``."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform every sample of the batch."""
        raise NotImplementedError


class Scaling(_Transform):
    """Multiply by random factors ~ N(1, sigma): one per channel (RelCon) or one per sample (``per_channel=False``).

    Args:
        sigma: standard deviation of the factors.
        per_channel: independent factor for each channel.
    """

    def __init__(self, sigma: float = 0.25, per_channel: bool = True) -> None:
        super().__init__()
        self.sigma, self.per_channel = sigma, per_channel

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        shape = (x.shape[0], x.shape[1] if self.per_channel else 1, 1)
        return x * (1 + self.sigma * _rand(shape, x, generator, normal=True))


class Jitter(_Transform):
    """Add Gaussian noise N(0, sigma) in the signal's units (g for acc).

    Args:
        sigma: noise standard deviation.
    """

    def __init__(self, sigma: float = 0.1) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        return x + self.sigma * _rand(x.shape, x, generator, normal=True)


class Negation(_Transform):
    """Multiply every channel by -1."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        return -x


class TimeReversal(_Transform):
    """Reverse the time axis."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        return x.flip(-1)


def random_rotation_matrices(
    n: int, like: torch.Tensor, generator: torch.Generator | None = None, max_angle: float = math.pi
) -> torch.Tensor:
    """(n, 3, 3) rotations: axis uniform on the unit sphere, angle uniform in [-max_angle, max_angle] (Rodrigues)."""
    axis = _rand((n, 3), like, generator, normal=True)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    angle = (2 * _rand((n, 1, 1), like, generator) - 1) * max_angle
    kx, ky, kz = axis.unbind(1)
    zero = torch.zeros_like(kx)
    k = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(n, 3, 3)  # cross-product matrix
    eye = torch.eye(3, device=like.device, dtype=like.dtype).expand(n, 3, 3)
    return eye + torch.sin(angle) * k + (1 - torch.cos(angle)) * (k @ k)


class Rotation(_Transform):
    """Rotate each sample by a random 3-D rotation, the same one for every 3-axis sensor of the sample.

    Args:
        max_angle: angles are uniform in [-max_angle, max_angle] radians (pi: any orientation).
    """

    def __init__(self, max_angle: float = math.pi) -> None:
        super().__init__()
        self.max_angle = max_angle

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T), C a multiple of 3."""
        g = _groups(x, "rotation")
        r = random_rotation_matrices(x.shape[0], x, generator, self.max_angle)
        return torch.einsum("bij,bgjt->bgit", r, g).reshape(x.shape)


_PERMS = [p for p in itertools.permutations(range(3)) if p != (0, 1, 2)]


class AxisPermutation(_Transform):
    """Permute the x/y/z axes by a random non-identity permutation, the same for every sensor of a sample."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T), C a multiple of 3."""
        g = _groups(x, "axis_permutation")
        choice = (_rand((x.shape[0],), x, generator) * len(_PERMS)).long().clamp_max(len(_PERMS) - 1)
        perm = torch.tensor(_PERMS, device=x.device)[choice]  # (B, 3)
        idx = perm.view(-1, 1, 3, 1).expand_as(g)
        return torch.gather(g, 2, idx).reshape(x.shape)


def _interp_time(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of (B, C, T) at fractional sample positions ``pos`` (B, T) in [0, T-1]."""
    t = x.shape[-1]
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp_max(t - 1)
    w = (pos - lo.to(pos.dtype)).unsqueeze(1)  # (B, 1, T)
    lo_v = torch.gather(x, 2, lo.unsqueeze(1).expand_as(x))
    hi_v = torch.gather(x, 2, hi.unsqueeze(1).expand_as(x))
    return lo_v + w * (hi_v - lo_v)


class TimeWarp(_Transform):
    """Smooth random time warp (Um et al. 2017): speed ~ N(1, sigma) at ``knots + 2`` even points, integrated.

    The speed curve is interpolated linearly between the knots, clamped positive, integrated to a monotone
    time map from [0, T-1] onto itself (ends fixed) and the signal resampled there by linear interpolation.

    Args:
        sigma: spread of the speed at the knots.
        knots: interior knots (RelCon: 4, sigma 0.2).
        per_channel: draw a separate warp for every channel (the time warp of RelCon's released code, from
            Um et al.); False: one warp shared by every channel of a sample, which keeps the axes in sync.
    """

    def __init__(self, sigma: float = 0.2, knots: int = 4, per_channel: bool = False) -> None:
        super().__init__()
        self.sigma, self.knots, self.per_channel = sigma, knots, per_channel

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        b, c, t = x.shape
        if t < 2:
            return x
        if self.per_channel:  # each channel is its own (B*C, 1, T) sample with its own warp
            return self._warp(x.reshape(b * c, 1, t), generator).reshape(b, c, t)
        return self._warp(x, generator)

    def _warp(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b, _, t = x.shape
        speed_knots = (1 + self.sigma * _rand((b, 1, self.knots + 2), x, generator, normal=True)).clamp_min(0.05)
        speed = nn.functional.interpolate(speed_knots, size=t, mode="linear", align_corners=True)[:, 0]  # (B, T)
        cum = torch.cumsum(speed, dim=1) - speed[:, :1]  # starts at 0
        pos = cum / cum[:, -1:].clamp_min(1e-12) * (t - 1)  # monotone map onto [0, T-1]
        return _interp_time(x, pos)


class SegmentPermutation(_Transform):
    """Cut each sample at ``segments - 1`` random points and concatenate the pieces in a random order.

    Args:
        segments: number of pieces (PRIMUS code: 5; RelCon: 6 from 5 cuts).
    """

    def __init__(self, segments: int = 5) -> None:
        super().__init__()
        if segments < 2:
            raise ValueError(f"segment_permutation needs segments >= 2, got {segments}")
        self.segments = segments

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T)."""
        b, _, t = x.shape
        k = min(self.segments, t)
        if k < 2:
            return x
        # Distinct cut points in 1..T-1: the k-1 smallest of T-1 random keys (vectorised sampling w/o replacement).
        keys = _rand((b, t - 1), x, generator)
        cuts = keys.topk(k - 1, dim=1, largest=False).indices.sort(dim=1).values + 1  # (B, k-1)
        zeros = torch.zeros(b, 1, dtype=torch.long, device=x.device)
        starts = torch.cat([zeros, cuts], dim=1)  # (B, k)
        lengths = torch.cat([cuts, torch.full_like(zeros, t)], dim=1) - starts
        order = _rand((b, k), x, generator).argsort(dim=1)  # random permutation of the pieces
        p_starts, p_lengths = starts.gather(1, order), lengths.gather(1, order)
        out_ends = p_lengths.cumsum(dim=1)  # where each permuted piece ends in the output
        pos = torch.arange(t, device=x.device).expand(b, t).contiguous()
        piece = torch.searchsorted(out_ends, pos, right=True)  # (B, T) index of the permuted piece
        offset = pos - (out_ends.gather(1, piece) - p_lengths.gather(1, piece))
        src = p_starts.gather(1, piece) + offset  # (B, T)
        return torch.gather(x, 2, src.unsqueeze(1).expand_as(x))


TRANSFORMS: dict[str, type[_Transform]] = {
    "scaling": Scaling,
    "jitter": Jitter,
    "negation": Negation,
    "time_reversal": TimeReversal,
    "rotation": Rotation,
    "axis_permutation": AxisPermutation,
    "time_warp": TimeWarp,
    "segment_permutation": SegmentPermutation,
}

SIMCLR_AUGMENTATIONS = ("scaling", "rotation", "time_warp", "jitter")
PRIMUS_AUGMENTATIONS = ("scaling", "time_reversal")
RELCON_AUGMENTATIONS = tuple(TRANSFORMS)
#: RelCon stage 1 as in the released code: cut at 5 points (6 pieces), a separate time warp per channel.
RELCON_AUGMENT_PARAMS: dict[str, dict[str, Any]] = {
    "segment_permutation": {"segments": 6},
    "time_warp": {"sigma": 0.2, "knots": 4, "per_channel": True},
}


class Augmenter(nn.Module):
    """Compose named transforms, each applied per sample with probability ``p`` (or exactly ``n_select`` of them).

    Args:
        names: transforms to use, in application order; see :data:`TRANSFORMS`.
        p: probability that a transform is applied to a sample (ignored with ``n_select``).
        n_select: if given, every sample gets exactly this many distinct transforms from ``names``.
        random_order: with ``n_select``, apply each sample's transforms in the random order they were drawn
            (RelCon's code) instead of the order of ``names``.
        params: per-transform keyword arguments, e.g. ``{"scaling": {"sigma": 0.1}}``.
        generator: default source of randomness (a seeded ``torch.Generator`` makes outputs reproducible).

    Examples:
        >>> aug = Augmenter(("scaling", "time_reversal"), p=1.0, generator=torch.Generator().manual_seed(0))
        >>> aug(torch.zeros(4, 3, 100)).shape
        torch.Size([4, 3, 100])
        >>> relcon = Augmenter(RELCON_AUGMENTATIONS, n_select=2)  # 2 distinct transforms out of 8 per sample
    """

    def __init__(
        self,
        names: Sequence[str] = SIMCLR_AUGMENTATIONS,
        p: float = 0.8,
        n_select: int | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        generator: torch.Generator | None = None,
        random_order: bool = False,
    ) -> None:
        super().__init__()
        names = _check_names(names, params)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"augmentation probability p must be in [0, 1], got {p}")
        if n_select is not None and not 1 <= n_select <= len(names):
            raise ConfigError(f"n_select must be between 1 and {len(names)} (the number of names), got {n_select}")
        self.names, self.p, self.n_select, self.generator = names, p, n_select, generator
        self.random_order = random_order
        self.transforms = _build(names, params)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a (B, C, T) batch; returns a new tensor of the same shape (the input is not modified)."""
        g = generator if generator is not None else self.generator
        b = x.shape[0]
        if self.n_select is not None:
            scores = _rand((b, len(self.names)), x, g)
            chosen = scores.argsort(dim=1)[:, : self.n_select]  # (B, n_select), in random draw order
            if self.random_order:
                for slot in range(self.n_select):
                    for j, transform in enumerate(self.transforms):
                        x = torch.where((chosen[:, slot] == j).view(b, 1, 1), transform(x, g), x)
                return x
            use = torch.zeros(b, len(self.names), dtype=torch.bool, device=x.device).scatter_(1, chosen, True)
        else:
            use = _rand((b, len(self.names)), x, g) < self.p
        for j, transform in enumerate(self.transforms):
            mask = use[:, j]
            # Whole-batch transform, then keep it where selected: vectorised, and the random draws (hence the
            # result of a seeded run) do not depend on which samples were selected.
            x = torch.where(mask.view(b, 1, 1), transform(x, g), x)
        return x

    def extra_repr(self) -> str:  # noqa: D102
        return f"names={self.names}, p={self.p}, n_select={self.n_select}, random_order={self.random_order}"


def _check_names(names: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None) -> tuple[str, ...]:
    """``names`` as a tuple, after checking them (and the keys of ``params``) against :data:`TRANSFORMS`."""
    names = tuple(names)
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown or not names:
        raise ConfigError(f"unknown augmentation(s) {unknown or names}; choose from {sorted(TRANSFORMS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"augmentations repeat a name: {list(names)}")
    bad_params = sorted(set(params or {}) - set(names))
    if bad_params:
        raise ConfigError(f"augmentation params given for {bad_params}, which are not in {list(names)}")
    return names


def _build(names: tuple[str, ...], params: Mapping[str, Mapping[str, Any]] | None) -> nn.ModuleList:
    """One transform module per name, built with its ``params``."""
    return nn.ModuleList([TRANSFORMS[n](**dict((params or {}).get(n, {}))) for n in names])


class Chain(nn.Module):
    """Apply every named transform to every sample, in the order of ``names`` (no random selection).

    Each transform draws only its own random numbers, so ``Chain(("scaling",))`` with a seeded generator gives
    the same factors as ``Scaling()`` alone.

    Args:
        names: transforms to apply, in order; see :data:`TRANSFORMS`.
        params: per-transform keyword arguments, e.g. ``{"scaling": {"sigma": 0.1}}``.
        generator: default source of randomness.

    Examples:
        >>> view = Chain(PRIMUS_AUGMENTATIONS, params={"scaling": {"sigma": 0.1}})
        >>> view(torch.zeros(4, 3, 100)).shape
        torch.Size([4, 3, 100])
    """

    def __init__(
        self,
        names: Sequence[str],
        params: Mapping[str, Mapping[str, Any]] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.names = _check_names(names, params)
        self.generator = generator
        self.transforms = _build(self.names, params)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T) -> (B, C, T); the input is not modified."""
        g = generator if generator is not None else self.generator
        for transform in self.transforms:
            x = transform(x, g)
        return x

    def extra_repr(self) -> str:  # noqa: D102
        return f"names={self.names}"
