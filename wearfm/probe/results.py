"""What a probe run produces: per-encoder scores and the run's result (``results.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearfm.config import ProbeConfig, to_dict

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "EncoderResult", "ProbeResult"]

CLASSIFICATION_METRICS = ("macro_f1", "balanced_accuracy", "accuracy")
REGRESSION_METRICS = ("mae", "r2")


@dataclass
class EncoderResult:
    """Scores of one encoder (and head) over all trials and shot counts.

    Attributes:
        name: the encoder spec, with `` +finetune`` for fine-tuned runs.
        head: the head used (``logreg``, ``logreg-sklearn``, ``knn``, ``mlp``, ``ridge`` or ``finetune``).
        encoder: :meth:`ResolvedEncoder.describe` of the encoder.
        classes: class names (classification) or [] (regression).
        scores: ``scores[k][metric]`` = one value per trial.
        confusion: summed over trials, for the largest k (rows: true, columns: predicted); None for regression.
        fit_subjects / scored_subjects: subjects whose windows were used to fit / were scored.
        seconds: wall time of this encoder and head in all; ``embed_seconds`` of it computing embeddings,
            ``fit_seconds`` fitting heads and predicting (every trial and k).
        test_support: test windows per class name.
    """

    name: str
    head: str
    encoder: dict[str, Any]
    classes: list[str]
    n_train_windows: int
    n_test_windows: int
    scores: dict[int, dict[str, list[float]]]
    confusion: np.ndarray | None
    fit_subjects: list[str]
    scored_subjects: list[str]
    seconds: float = 0.0
    test_support: dict[str, int] = field(default_factory=dict)
    embed_seconds: float = 0.0
    fit_seconds: float = 0.0

    @property
    def scored_classes(self) -> list[str]:
        """Classes with at least one test window: the ones macro-F1 averages over."""
        return [c for c, n in self.test_support.items() if n > 0]

    def summary(self) -> dict[int, dict[str, dict[str, float | None]]]:
        """``{k: {metric: {"mean", "se"}}}``; ``se`` (standard error over trials) is None for one trial."""
        out: dict[int, dict[str, dict[str, float | None]]] = {}
        for k, by_metric in self.scores.items():
            out[k] = {}
            for m, vals in by_metric.items():
                v = np.asarray(vals, dtype=np.float64)
                se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None
                out[k][m] = {"mean": float(v.mean()), "se": se}
        return out


@dataclass
class ProbeResult:
    """Everything a probe run produced; ``files`` lists what was written under ``config.out``."""

    config: ProbeConfig
    task: str  # classification | regression
    metrics: tuple[str, ...]
    train_subjects: list[str]
    test_subjects: list[str]
    encoders: list[EncoderResult]
    files: list[Path] = field(default_factory=list)
    nonwear_skipped: int = 0  # windows left out for overlapping non-wear (summed over window sets)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (this is results.json)."""
        return {
            "config": to_dict(self.config),
            "task": self.task,
            "metrics": list(self.metrics),
            "split": {"train_subjects": self.train_subjects, "test_subjects": self.test_subjects},
            "encoders": [
                {
                    "name": r.name,
                    "head": r.head,
                    "encoder": r.encoder,
                    "classes": r.classes,
                    "test_support": r.test_support,
                    "macro_f1_classes": r.scored_classes,
                    "n_train_windows": r.n_train_windows,
                    "n_test_windows": r.n_test_windows,
                    "seconds": round(r.seconds, 3),
                    "embed_seconds": round(r.embed_seconds, 3),
                    "fit_seconds": round(r.fit_seconds, 3),
                    "fit_subjects": r.fit_subjects,
                    "scored_subjects": r.scored_subjects,
                    "results": [{"k": k, "trials": r.scores[k], "summary": s} for k, s in sorted(r.summary().items())],
                    "confusion": None
                    if r.confusion is None
                    else {"k": max(r.scores), "labels": r.classes, "matrix": r.confusion.tolist()},
                }
                for r in self.encoders
            ],
        }
