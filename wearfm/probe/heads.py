"""Probe heads over frozen embeddings: scikit-learn estimators built fresh for each trial and shot count.

- ``logreg`` (default): standardise, then multinomial logistic regression. The inverse regularisation
  strength ``C`` is chosen from :data:`C_GRID` by stratified inner cross-validation (macro-F1) on the
  training shots when every class has at least :data:`MIN_SHOTS_FOR_CV` of them; with fewer shots a fixed
  ``C = 1.0`` (:data:`DEFAULT_C`) is used, since a held-out fold of one or two windows per class says
  nothing reliable.
- ``knn``: standardise, then k-nearest-neighbours (``k = min(5, n_train)``, distance-weighted).
- ``mlp``: standardise, then one hidden layer of 128 ReLU units (Adam, L2 ``alpha=1e-3``, 500 iterations).
- ``ridge``: standardise, then ridge regression with ``alpha`` chosen by efficient leave-one-out CV over
  :data:`ALPHA_GRID`; for continuous targets (scored by MAE and R^2).
"""

from __future__ import annotations

import warnings
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

from wearfm.errors import ConfigError

__all__ = [
    "HEADS",
    "CLASSIFIER_HEADS",
    "C_GRID",
    "DEFAULT_C",
    "MIN_SHOTS_FOR_CV",
    "ALPHA_GRID",
    "make_head",
    "fit_predict",
]

HEADS = ("logreg", "knn", "mlp", "ridge")
CLASSIFIER_HEADS = ("logreg", "knn", "mlp")
C_GRID = (0.01, 0.1, 1.0, 10.0)
DEFAULT_C = 1.0
MIN_SHOTS_FOR_CV = 5
ALPHA_GRID = tuple(float(a) for a in np.logspace(-2, 4, 13))


def make_head(name: str, y: np.ndarray, seed: int = 0, jobs: int | None = None) -> BaseEstimator:
    """A fresh, unfitted head for training targets ``y``.

    Args:
        name: one of :data:`HEADS`.
        y: (N,) training targets (class indices, or floats for ``ridge``); sets the CV scheme and ``k``.
        seed: random state for the MLP and the inner-CV shuffling.
        jobs: processes for the inner-CV fits of ``logreg`` (joblib's ``n_jobs``: -1 all cores, None or 1
            none); the results do not depend on it.

    Examples:
        >>> head = make_head("logreg", np.array([0, 0, 1, 1]))
        >>> head.fit(np.eye(4), [0, 0, 1, 1]).predict(np.eye(4)).tolist()
        [0, 0, 1, 1]
    """
    if name == "logreg":
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
        jobs: processes for the inner-CV fits (see :func:`make_head`).

    Returns:
        (M,) predictions (class indices, or floats for ``ridge``).
    """
    head = make_head(name, y_train, seed, jobs)
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
