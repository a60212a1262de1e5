"""What the multimodal methods (primus, imu2clip, imu-video) share: paired training items and target adapters."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from wearfm.data.paired import WindowPairs, load_pairs
from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError, DataError
from wearfm.methods.base import Method, MethodContext

__all__ = ["PairedItems", "PairedMethod", "aligned_mask", "make_adapters"]

log = logging.getLogger(__name__)


def aligned_mask(n: int, fraction: float, seed: int) -> np.ndarray:
    """(n,) bool: a deterministic ``fraction`` of the windows keep their paired modalities.

    The same ``(n, fraction, seed)`` always gives the same windows, so runs are comparable and resumable.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"aligned_fraction must be within [0, 1], got {fraction}")
    mask = np.zeros(n, dtype=bool)
    k = int(round(fraction * n))
    mask[np.random.default_rng(seed + 7919).permutation(n)[:k]] = True
    return mask


class PairedItems(Dataset):
    """Items ``{"x": (C, T), "index": i, m: (D_m,), m + "_mask": bool}`` for every paired modality ``m``."""

    def __init__(self, windows: WindowSet, pairs: WindowPairs, aligned: np.ndarray) -> None:
        self.windows = windows
        self.vectors = pairs.vectors
        self.present = {m: p & aligned for m, p in pairs.present.items()}

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"x": np.array(self.windows.get(i), dtype=np.float32), "index": i}
        for m, v in self.vectors.items():
            item[m] = v[i]
            item[f"{m}_mask"] = bool(self.present[m][i])
        return item


class PairedMethod(Method):
    """Base of methods trained on a paired dataset: loads ``pairs/`` for the training windows.

    Subclasses call :meth:`_setup_pairs` with the modalities they need (``required``) and may use
    (``optional``); :attr:`targets` then lists the modalities used and :attr:`target_dims` their sizes.
    """

    min_batch_size = 2  # the other windows of the batch are the negatives

    find_unused_parameters = True  # a batch may lack a modality entirely (masked): its adapter gets no grad

    def _setup_pairs(
        self, ctx: MethodContext, required: tuple[str, ...], wanted: tuple[str, ...], fraction: float
    ) -> None:
        self.pairs = load_pairs(ctx.dataset_path, ctx.windows)
        have = tuple(m for m in self.pairs.vectors if self.pairs.present[m].any())
        missing = [m for m in required if m not in have]
        if missing:
            raise DataError(
                f"{ctx.dataset_path}: method {self.name!r} needs {missing} pairs but the dataset has "
                f"{list(have) or 'none'}; add them with `wearfm pair --video ...`"
            )
        targets = tuple(wanted) if wanted else have
        unknown = [m for m in targets if m not in have]
        if unknown:
            raise DataError(f"{ctx.dataset_path}: no {unknown} pairs to train on (has {list(have)})")
        if not targets:
            raise DataError(f"{ctx.dataset_path}: no window overlaps any paired span; check the pair times")
        self.targets = targets
        self.target_dims = {m: int(self.pairs.vectors[m].shape[1]) for m in targets}
        self.pairs.vectors = {m: self.pairs.vectors[m] for m in targets}
        self.pairs.present = {m: self.pairs.present[m] for m in targets}
        self.fraction = fraction
        self.aligned = aligned_mask(len(ctx.windows), fraction, self.cfg.seed)
        for m in targets:
            log.info("%s: %d of %d windows paired and aligned", m, int((self.pairs.present[m] & self.aligned).sum()),
                     len(ctx.windows))  # fmt: skip

    def make_dataset(self, windows: WindowSet) -> Dataset:
        """Windows with their (masked) paired vectors."""
        pairs = self.pairs
        if windows is not self.ctx.windows:  # a different window set: attach pairs afresh
            pairs = load_pairs(self.ctx.dataset_path, windows, self.targets)
        same = len(windows) == len(self.aligned)
        aligned = self.aligned if same else aligned_mask(len(windows), self.fraction, self.cfg.seed)
        return PairedItems(windows, pairs, aligned)

    def _batch_targets(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        targets = {m: batch[m].float() for m in self.targets}
        masks = {m: batch[f"{m}_mask"].to(torch.bool) for m in self.targets}
        return targets, masks


def make_adapters(in_dim: int, dims: dict[str, int]) -> nn.ModuleDict:
    """Per target: identity when its size is ``in_dim``, else a bias-free Linear(in_dim, D_m).

    PRIMUS and IMU2CLIP compare the IMU embedding directly with 512-d CLIP targets; targets of another size
    (384-d MiniLM text, any video feature) need a map into their space. It is trained, and not kept.
    """
    return nn.ModuleDict(
        {m: nn.Identity() if d == in_dim else nn.Linear(in_dim, d, bias=False) for m, d in dims.items()}
    )
