"""The classifier folder written by `wearfm classify fit`, and the classifier read back from it.

A classifier folder holds:

- ``classifier.json``: format marker and version, class names, the data contract (rate, window, channels,
  units), the encoder (its spec, kind and the file name of its copy), the head's ``C``, the HMM transition
  matrix and class prior, and the fit's provenance (data, subjects, shots, seed, windows per class,
  cross-validated macro-F1);
- ``head.npz``: the standardised logistic-regression head of :mod:`wearfm.probe.heads` (``mean``,
  ``scale``, ``coef``, ``intercept``) in float64;
- a copy of the encoder: ``encoder.pt`` (run folders, ``.pt`` files and ``random:<name>``) or
  ``encoder.onnx``; ``features`` needs no file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearfm import __version__
from wearfm.errors import CheckpointError
from wearfm.probe.encoders import ResolvedEncoder, resolve_encoder
from wearfm.probe.logreg import LogRegHead

__all__ = [
    "CLASSIFIER_FILE",
    "HEAD_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "NONWEAR_CLASS",
    "Classifier",
    "is_classifier_dir",
    "load_classifier",
    "softmax",
]

log = logging.getLogger(__name__)

CLASSIFIER_FILE = "classifier.json"
HEAD_FILE = "head.npz"
FORMAT = "wearfm-classifier"
FORMAT_VERSION = 1
NONWEAR_CLASS = "nonwear"  # predicted for windows that overlap non-wear marked at ingest


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64; ``-inf`` logits (classes a head never saw) get probability 0."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


@dataclass
class Classifier:
    """A fitted few-shot classifier: encoder + standardised logistic-regression head + class names.

    Attributes:
        classes: class names; column ``j`` of :meth:`predict_proba` is ``classes[j]``.
        head: the fitted head (``mean``, ``scale``, ``coef``, ``intercept``, ``c``).
        rate_hz / window / channels: the data contract (window in samples).
        encoder: ``{"spec", "kind", "file", ...}`` as written by fit (``file`` is None for ``features``).
        transitions: (K, K) HMM transition matrix (rows: from, columns: to).
        prior: (K,) class prior of the fitted windows (HMM emission scaling).
        provenance: how the classifier was fitted (data, subjects, shots, seed, cross-validated macro-F1).
        path: the folder it was loaded from (None before saving).
    """

    classes: list[str]
    head: LogRegHead
    rate_hz: float
    window: int
    channels: tuple[str, ...]
    encoder: dict[str, Any]
    transitions: np.ndarray
    prior: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    _resolved: ResolvedEncoder | None = None

    def resolved_encoder(self, device: str = "auto", batch_size: int = 256) -> ResolvedEncoder:
        """The encoder as the probe resolves it (from the folder's copy; built once, then reused)."""
        if self._resolved is None:
            spec = self.encoder["spec"]
            if self.encoder.get("file"):
                assert self.path is not None, "a classifier with an encoder file must be loaded from its folder"
                spec = str(self.path / self.encoder["file"])
            enc = resolve_encoder(
                spec,
                rate_hz=self.rate_hz,
                window=self.window,
                channels=self.channels,
                seed=int(self.encoder.get("seed", 0)),
                device=device,
                batch_size=batch_size,
            )
            # a saved encoder carries its own window; the classifier's contract (fit's --window) wins
            self._resolved = dataclasses.replace(enc, window=self.window)
        return self._resolved

    def embed(self, x: np.ndarray, batch_size: int = 256, device: str = "auto") -> np.ndarray:
        """(B, C, T) raw windows (g, deg/s at ``rate_hz``) -> (B, D) float32 embeddings."""
        enc = self.resolved_encoder(device, batch_size)
        assert enc.embed is not None
        parts = [enc.embed(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, enc.embed_dim), np.float32)

    def proba_from_embedding(self, z: np.ndarray) -> np.ndarray:
        """(B, D) embeddings -> (B, K) class probabilities (softmax of the head's logits)."""
        return softmax(self.head.decision_function(z))

    def predict_proba(self, x: np.ndarray, batch_size: int = 256, device: str = "auto") -> np.ndarray:
        """(B, C, T) raw windows -> (B, K) class probabilities."""
        return self.proba_from_embedding(self.embed(x, batch_size, device))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (what ``classifier.json`` holds, less the matrices)."""
        from wearfm.export.meta import units_for

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "wearfm_version": __version__,
            "classes": list(self.classes),
            "contract": {
                "rate_hz": self.rate_hz,
                "window_samples": self.window,
                "window_s": self.window / self.rate_hz,
                "channels": list(self.channels),
                "units": units_for(self.channels),
            },
            "encoder": self.encoder,
            "head": {"kind": "logreg", "c": float(self.head.c), "embed_dim": int(self.head.coef.shape[0])},
            "provenance": self.provenance,
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``classifier.json`` and ``head.npz`` into ``folder`` (the encoder copy is written by fit)."""
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        h = self.head
        np.savez(d / HEAD_FILE, mean=h.mean, scale=h.scale, coef=h.coef, intercept=h.intercept)
        desc = self.describe()
        desc["hmm"] = {"transitions": self.transitions.tolist(), "prior": self.prior.tolist()}
        tmp = d / f".{CLASSIFIER_FILE}.tmp"
        tmp.write_text(json.dumps(desc, indent=2, default=str))
        tmp.replace(d / CLASSIFIER_FILE)
        self.path = d
        return d


def is_classifier_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by `wearfm classify fit`."""
    return (Path(path) / CLASSIFIER_FILE).is_file()


def load_classifier(folder: str | Path) -> Classifier:
    """Read a classifier folder back.

    Raises:
        CheckpointError: not a classifier folder, a folder of another format version, or unreadable files.
    """
    d = Path(folder)
    if not d.is_dir():
        raise CheckpointError(f"{d}: not a folder; give the --out folder of `wearfm classify fit`")
    if not is_classifier_dir(d):
        raise CheckpointError(f"{d}: no {CLASSIFIER_FILE}; give the --out folder of `wearfm classify fit`")
    try:
        desc = json.loads((d / CLASSIFIER_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{d / CLASSIFIER_FILE}: unreadable ({e}); fit the classifier again") from None
    if desc.get("format") != FORMAT:
        raise CheckpointError(f"{d / CLASSIFIER_FILE}: not a wearfm classifier (no '{FORMAT}' marker)")
    version = desc.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{d}: classifier format version {version} (written by wearfm {desc.get('wearfm_version', '?')}); "
            f"this wearfm ({__version__}) reads version {FORMAT_VERSION}: fit the classifier again with "
            "`wearfm classify fit`"
        )
    try:
        with np.load(d / HEAD_FILE) as z:
            head = LogRegHead(
                z["mean"], z["scale"], z["coef"], z["intercept"], float(desc.get("head", {}).get("c", np.nan))
            )
        c = desc["contract"]
        hmm = desc["hmm"]
        clf = Classifier(
            classes=list(desc["classes"]),
            head=head,
            rate_hz=float(c["rate_hz"]),
            window=int(c["window_samples"]),
            channels=tuple(c["channels"]),
            encoder=dict(desc["encoder"]),
            transitions=np.asarray(hmm["transitions"], dtype=np.float64),
            prior=np.asarray(hmm["prior"], dtype=np.float64),
            provenance=dict(desc.get("provenance", {})),
            path=d,
        )
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{d}: incomplete classifier ({type(e).__name__}: {e}); fit it again") from None
    if clf.head.coef.shape[1] != len(clf.classes):
        raise CheckpointError(
            f"{d}: the head has {clf.head.coef.shape[1]} classes, {CLASSIFIER_FILE} names "
            f"{len(clf.classes)}; fit the classifier again"
        )
    return clf
