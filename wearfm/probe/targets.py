"""Probe targets: which windows are fitted from and scored, per class (or target bin), split by subject."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from wearfm.config import ProbeConfig
from wearfm.data.windows import WindowSet
from wearfm.errors import ConfigError, DataError
from wearfm.probe.split import draw_shots

__all__ = ["Task", "make_task", "N_BINS"]

log = logging.getLogger(__name__)

N_BINS = 5  # quantile bins of a continuous target; k windows are drawn per bin


@dataclass
class Task:
    """Targets and pools of one window set.

    Attributes:
        regression: continuous target (``head="ridge"``) rather than classes.
        classes: class names, index = class code in ``y`` (regression: empty).
        y: (W,) class code (int64) or target value (float64) of every window; only pooled/test windows matter.
        pools: per class (or target bin), the train-subject window indices available for shots.
        test_idx: every scored test-subject window.
        n_train_windows: labelled train-subject windows in all pools.
    """

    regression: bool
    classes: list[str]
    y: np.ndarray
    pools: list[np.ndarray]
    test_idx: np.ndarray
    n_train_windows: int

    @property
    def y_test(self) -> np.ndarray:
        """Targets of the test windows."""
        return np.asarray(self.y[self.test_idx])

    def draw(self, seed: int, trial: int, k: int) -> np.ndarray:
        """The shots of ``trial`` for shot count ``k``: ``min(k, pool size)`` per pool, seeded by (seed, trial, k)."""
        return draw_shots(self.pools, k, np.random.default_rng([seed, trial, k]))


def make_task(ws: WindowSet, train_s: list[str], test_s: list[str], cfg: ProbeConfig, source: str) -> Task:
    """Build the task of ``ws`` for the subject split, checking labels and shot counts.

    Raises:
        DataError: no labelled window, fewer than two trainable classes, no scorable test window, or
            (with ``few_classes="stop"``) a class with fewer train windows than the largest k.
        ConfigError: ``head="ridge"`` on labels that are not numbers.
    """
    labelled = ws.label >= 0
    if not labelled.any():
        raise DataError(
            f"{source}: no window of {ws.window / ws.rate_hz:g} s has one label over {cfg.label_purity:.0%} of it; "
            "where labelled segments are shorter than that, use shorter overlapping windows (e.g. --window 1 "
            "--stride 0.25), or lower --set label_purity"
        )
    names = ws.subject_names()
    is_train = labelled & np.isin(names, train_s)
    is_test = labelled & np.isin(names, test_s)
    if cfg.head == "ridge":
        return _regression(ws, is_train, is_test, cfg, source)
    present = np.unique(ws.label[is_train])
    dropped = sorted(set(np.unique(ws.label[is_test]).tolist()) - set(present.tolist()))
    for c in dropped:
        log.warning(
            "class %r has no labelled window from train subjects; its %d test windows are not scored",
            ws.label_names[c],
            int((ws.label[is_test] == c).sum()),
        )
    if len(present) < 2:
        raise DataError(f"{source}: train subjects have {len(present)} labelled class(es); a probe needs at least 2")
    code = np.full(len(ws.label_names) + 1, -1, dtype=np.int64)
    code[present] = np.arange(len(present))
    y = code[ws.label]  # label -1 maps to the last slot, -1
    pools = [np.flatnonzero(is_train & (y == c)) for c in range(len(present))]
    classes = [ws.label_names[c] for c in present]
    _check_counts(pools, classes, cfg, "class")
    test_idx = np.flatnonzero(is_test & (y >= 0))
    if len(test_idx) == 0:
        raise DataError(f"{source}: test subjects {test_s} have no labelled window of a trained class; pick others")
    return Task(False, classes, y, pools, test_idx, int(sum(len(p) for p in pools)))


def _check_counts(pools: list[np.ndarray], names: list[str], cfg: ProbeConfig, what: str) -> None:
    kmax = max(cfg.shots)
    for pool, name in zip(pools, names, strict=True):
        if len(pool) < kmax:
            msg = f"{what} {name!r} has only {len(pool)} window(s) from train subjects, fewer than k={kmax}"
            if cfg.few_classes == "stop":
                raise DataError(f"{msg}; lower --shots, or pass --few-classes use-available to use what exists")
            log.warning("%s; shot counts above %d use all %d", msg, len(pool), len(pool))


def _regression(ws: WindowSet, is_train: np.ndarray, is_test: np.ndarray, cfg: ProbeConfig, source: str) -> Task:
    try:
        values = np.array([float(n) for n in ws.label_names] + [np.nan])
    except ValueError:
        bad = next(n for n in ws.label_names if not _is_number(n))
        raise ConfigError(
            f"--head ridge needs numeric labels (a continuous target), but {source} has label {bad!r}; "
            "use --head logreg for classes"
        ) from None
    y = values[ws.label]  # label -1 -> nan
    tr = np.flatnonzero(is_train)
    edges = np.unique(np.quantile(y[tr], np.linspace(0, 1, N_BINS + 1)[1:-1]))
    bins = np.digitize(y, edges)
    pools = [p for p in (np.flatnonzero(is_train & (bins == b)) for b in range(len(edges) + 1)) if len(p)]
    _check_counts(pools, [f"bin {i}" for i in range(len(pools))], cfg, "target")
    test_idx = np.flatnonzero(is_test)
    if len(tr) < 2 or len(test_idx) == 0:
        raise DataError(
            f"{source}: too few labelled windows for a regression probe ({len(tr)} train, {len(test_idx)} test)"
        )
    return Task(True, [], y, pools, test_idx, len(tr))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
