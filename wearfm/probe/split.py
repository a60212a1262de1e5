"""The subject split and the shot draw of the few-shot protocol (see :mod:`wearfm.probe.fewshot`)."""

from __future__ import annotations

import numpy as np

from wearfm.errors import ConfigError, DataError

__all__ = ["split_subjects", "draw_shots"]


def split_subjects(
    subjects: list[str], test_subjects: tuple[str, ...] = (), test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split subjects once into (train, test), both sorted and disjoint.

    Raises:
        DataError: fewer than two subjects.
        ConfigError: unknown test subjects, all subjects in test, or a fraction outside (0, 1).

    Examples:
        >>> split_subjects(["a", "b", "c"], test_subjects=("b",))
        (['a', 'c'], ['b'])
    """
    subjects = sorted(set(subjects))
    if len(subjects) < 2:
        raise DataError(
            f"the data has {len(subjects)} subject(s) ({subjects}); a subject-wise probe needs at least 2 "
            "(ingest with --subject-from so recordings carry their subject)"
        )
    if test_subjects:
        unknown = sorted(set(test_subjects) - set(subjects))
        if unknown:
            raise ConfigError(f"--test-subjects {unknown} are not in the data; subjects are {subjects}")
        test = sorted(set(test_subjects))
        if len(test) == len(subjects):
            raise ConfigError("--test-subjects names every subject; leave at least one for training")
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
        n_test = int(min(len(subjects) - 1, max(1, round(test_fraction * len(subjects)))))
        perm = np.random.default_rng(seed).permutation(len(subjects))
        test = sorted(subjects[i] for i in perm[:n_test])
    train = [s for s in subjects if s not in set(test)]
    return train, test


def draw_shots(pools: list[np.ndarray], k: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``min(k, len(pool))`` indices without replacement from each pool; concatenated, pool order."""
    parts = [rng.choice(p, size=min(k, len(p)), replace=False) for p in pools]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
