"""Probe heads over frozen embeddings, fitted fresh for each trial and shot count.

- ``logreg`` (default): standardise, then multinomial logistic regression. The inverse regularisation
  strength ``C`` is chosen from :data:`C_GRID` by stratified inner cross-validation (macro-F1) on the
  training shots when every class has at least :data:`MIN_SHOTS_FOR_CV` of them; with fewer shots a fixed
  ``C = 1.0`` (:data:`DEFAULT_C`) is used, since a held-out fold of one or two windows per class says
  nothing reliable. Every fit of every draw of one shot count is solved in one batch
  (:mod:`wearfm.probe.logreg`).
- ``logreg-sklearn``: the same head as scikit-learn's ``GridSearchCV`` over a ``StandardScaler`` +
  ``LogisticRegression`` pipeline, one draw at a time: the reference ``logreg`` is tested against. Both
  compute in float64: scikit-learn keeps float32 embeddings in float32, whose rounding can move its
  L-BFGS stopping point, and through it an inner-CV choice of ``C``.
- ``knn``: standardise, then k-nearest-neighbours (``k = min(5, n_train)``, distance-weighted).
- ``mlp``: standardise, then one hidden layer of 128 ReLU units (Adam, L2 ``alpha=1e-3``, 500 iterations).
- ``ridge``: standardise, then ridge regression with ``alpha`` chosen by efficient leave-one-out CV over
  :data:`ALPHA_GRID`; for continuous targets (scored by MAE and R^2).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from wearfm.errors import ConfigError
from wearfm.probe.logreg import fit_heads

__all__ = [
    "HEADS",
    "CLASSIFIER_HEADS",
    "C_GRID",
    "DEFAULT_C",
    "MIN_SHOTS_FOR_CV",
    "ALPHA_GRID",
    "make_head",
    "fit_predict",
    "fit_predict_many",
]

HEADS = ("logreg", "logreg-sklearn", "knn", "mlp", "ridge")
CLASSIFIER_HEADS = ("logreg", "logreg-sklearn", "knn", "mlp")
C_GRID = (0.01, 0.1, 1.0, 10.0)
DEFAULT_C = 1.0
MIN_SHOTS_FOR_CV = 5
ALPHA_GRID = tuple(float(a) for a in np.logspace(-2, 4, 13))


class BatchedLogReg(BaseEstimator):
    """The ``logreg`` head as an estimator for one draw (``fit``/``predict``); see :func:`fit_predict_many`.

    Args:
        seed: random state of the inner-CV shuffling.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> BatchedLogReg:
        """Choose ``C`` (inner CV when every class has enough shots) and fit on all of ``x``."""
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.head_ = fit_heads([(np.asarray(x), codes, self.seed)], C_GRID, DEFAULT_C, MIN_SHOTS_FOR_CV)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(M,) predicted labels."""
        out: np.ndarray = self.classes_[self.head_.predict(x)]
        return out


def make_head(name: str, y: np.ndarray, seed: int = 0, jobs: int | None = None) -> BaseEstimator:
    """A fresh, unfitted head for training targets ``y``.

    Args:
        name: one of :data:`HEADS`.
        y: (N,) training targets (class indices, or floats for ``ridge``); sets the CV scheme and ``k``.
        seed: random state for the MLP and the inner-CV shuffling.
        jobs: processes for the inner-CV fits of ``logreg-sklearn`` (joblib's ``n_jobs``: -1 all cores,
            None or 1 none); the results do not depend on it.

    Examples:
        >>> head = make_head("logreg", np.array([0, 0, 1, 1]))
        >>> head.fit(np.eye(4), [0, 0, 1, 1]).predict(np.eye(4)).tolist()
        [0, 0, 1, 1]
    """
    if name == "logreg":
        return BatchedLogReg(seed=seed)
    if name == "logreg-sklearn":
        lr = LogisticRegression(C=DEFAULT_C, max_iter=2000)
        pipe = make_pipeline(StandardScaler(), lr)
        counts = np.unique(y, return_counts=True)[1]
        if len(counts) >= 2 and counts.min() >= MIN_SHOTS_FOR_CV:
            cv = StratifiedKFold(n_splits=min(5, int(counts.min())), shuffle=True, random_state=seed)
            grid = {"logisticregression__C": list(C_GRID)}
            return GridSearchCV(pipe, grid, cv=cv, scoring="f1_macro", n_jobs=jobs)
        return pipe
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=min(5, len(y)), weights="distance"))
    if name == "mlp":
        mlp = MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=500, random_state=seed)
        return make_pipeline(StandardScaler(), mlp)
    if name == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHA_GRID))
    raise ConfigError(f"unknown probe head {name!r}; choose from {list(HEADS)}")


def fit_predict(
    name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int = 0, jobs: int | None = None
) -> np.ndarray:
    """Fit a fresh ``name`` head on the shots and predict the test windows.

    Args:
        name: one of :data:`HEADS`.
        x_train: (N, D) training embeddings.
        y_train: (N,) training targets.
        x_test: (M, D) test embeddings.
        seed: random state.
        jobs: processes for the inner-CV fits of ``logreg-sklearn`` (see :func:`make_head`).

    Returns:
        (M,) predictions (class indices, or floats for ``ridge``).
    """
    head = make_head(name, y_train, seed, jobs)
    if name == "logreg-sklearn":  # the same float64 arithmetic as ``logreg``
        x_train, x_test = np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64)
    if name in CLASSIFIER_HEADS and len(np.unique(y_train)) < 2:
        # One class only: every prediction is that class (sklearn refuses to fit).
        return np.full(len(x_test), y_train[0])
    with warnings.catch_warnings():
        # Few-shot fits often stop at max_iter or meet constant features; results are still valid.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        head.fit(x_train, y_train)
        pred: Any = head.predict(x_test)
    return np.asarray(pred)


def fit_predict_many(
    name: str,
    draws: Sequence[tuple[np.ndarray, np.ndarray, int]],
    x_test: np.ndarray,
    jobs: int | None = None,
) -> list[np.ndarray]:
    """Fit a fresh ``name`` head on each draw of shots and predict the test windows with each.

    ``logreg`` fits all draws together (:func:`wearfm.probe.logreg.fit_heads`) on ``jobs`` threads (-1 or
    None: one per core), each with a single-threaded BLAS (small matrix products gain nothing from BLAS
    threads, and on a busy machine their waiting costs more than the products); other heads fit one draw at
    a time, as :func:`fit_predict` with ``jobs`` processes for ``logreg-sklearn``'s inner CV.

    Args:
        name: one of :data:`HEADS`.
        draws: (x_train (N, D), y_train (N,), seed) per draw.
        x_test: (M, D) test embeddings.
        jobs: see above; the results do not depend on it.

    Returns:
        One (M,) array of predictions per draw, in order.

    Examples:
        >>> x = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
        >>> [p.tolist() for p in fit_predict_many("logreg", [(x, np.array([0, 0, 1, 1]), 0)], x)]
        [[0, 0, 1, 1]]
    """
    if name != "logreg":
        return [fit_predict(name, x, y, x_test, seed=seed, jobs=jobs) for x, y, seed in draws]
    workers = (os.cpu_count() or 1) if jobs is None or jobs < 0 else jobs
    with threadpool_limits(limits=1, user_api="blas"):
        heads = fit_heads(
            [(x, np.asarray(y, dtype=np.int64), seed) for x, y, seed in draws],
            C_GRID,
            DEFAULT_C,
            MIN_SHOTS_FOR_CV,
            workers=workers,
        )
        return [h.predict(x_test) for h in heads]
