"""`wearfm classify fit`: the probe's head, fitted once on labelled windows and kept.

The windows, embeddings and head are the probe's own code paths (:func:`wearfm.data.windows.load_windows`,
:func:`wearfm.probe.encoders.resolve_encoder`, the ``logreg`` head of :mod:`wearfm.probe.heads`). With
``shots=k``, the k windows per class are drawn exactly as the probe's trial 0 draws them
(:meth:`wearfm.probe.targets.Task.draw` with ``seed``), and the head gets the seed the probe gives trial 0,
so a classifier fitted on the probe's training subjects scores what the probe reports for that trial.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from wearfm.classify.model import Classifier
from wearfm.classify.smooth import estimate_transitions
from wearfm.config import ClassifyConfig, to_dict
from wearfm.data.windows import WindowSet, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import list_recordings
from wearfm.io.schema import resolve_channels
from wearfm.probe.encoders import ResolvedEncoder, is_learned, resolve_encoder
from wearfm.probe.fewshot import draw_shots
from wearfm.probe.heads import C_GRID, DEFAULT_C, MIN_SHOTS_FOR_CV, make_head
from wearfm.probe.logreg import LogRegHead, fit_heads

__all__ = ["fit", "head_seed", "DEFAULT_RATE_HZ", "DEFAULT_WINDOW_S"]

log = logging.getLogger(__name__)

DEFAULT_RATE_HZ = 30.0  # baselines without --rate (as the probe)
DEFAULT_WINDOW_S = 10.0


def head_seed(seed: int) -> int:
    """The head's random state for ``seed``: the probe's for trial 0 (``seed * 1000 + trial``)."""
    return seed * 1000


def resolve_fit_encoder(cfg: ClassifyConfig) -> ResolvedEncoder:
    """The ``--encoder`` of ``cfg`` resolved as the probe resolves it (baselines take cfg's rate/window/channels).

    Raises:
        ConfigError: ``supervised:`` (no frozen embedding), or a window override on a saved encoder.
    """
    spec = cfg.encoder
    if not spec:
        raise ConfigError("give --encoder: a run folder, model.onnx, encoder.pt, features or random:<name>")
    if spec.startswith("supervised:"):
        raise ConfigError(f"--encoder {spec}: a classifier needs a frozen encoder; use random:<name> or a run folder")
    rate = cfg.rate_hz or DEFAULT_RATE_HZ
    window = int(round((cfg.window_s or DEFAULT_WINDOW_S) * rate))
    channels = resolve_channels(cfg.channels) if cfg.channels else resolve_channels("acc")
    enc = resolve_encoder(
        spec,
        rate_hz=rate,
        window=window,
        channels=channels,
        seed=cfg.seed,
        device=cfg.device,
        batch_size=cfg.batch_size,
    )
    if is_learned(spec) and cfg.window_s is not None:
        enc = dataclasses.replace(enc, window=max(2, int(round(cfg.window_s * enc.rate_hz))))
    return enc


def _check(cfg: ClassifyConfig) -> None:
    if cfg.shots is not None and cfg.shots < 1:
        raise ConfigError(f"--shots must be a positive number of windows per class, got {cfg.shots}")
    if not 0.0 < cfg.label_purity <= 1.0:
        raise ConfigError(f"label_purity must be in (0, 1], got {cfg.label_purity}")
    if cfg.stride_s is not None and cfg.stride_s <= 0:
        raise ConfigError(f"--stride must be positive seconds, got {cfg.stride_s}")
    if not 0.0 < cfg.hmm_stay < 1.0:
        raise ConfigError(f"hmm_stay must be between 0 and 1, got {cfg.hmm_stay}")
    if not cfg.out:
        raise ConfigError("give --out: the classifier folder to write")


def fit(cfg: ClassifyConfig) -> dict[str, Any]:
    """Fit a classifier on the labelled windows of ``cfg.data`` and write it to ``cfg.out``.

    Returns:
        A JSON-friendly summary (classes, windows per class, C, cross-validated macro-F1, files).

    Raises:
        ConfigError: bad options or encoder spec.
        DataError: no labels, a single class, missing channels, unknown subjects.
        CheckpointError: an unusable encoder file.
    """
    _check(cfg)
    t0 = time.perf_counter()
    root, entries = list_recordings(cfg.data)
    if not any(e.label_counts for e in entries):
        raise DataError(f"{cfg.data}: no recording has labels; fit needs labelled data (ingest with --label-col)")
    known = sorted({e.subject for e in entries})
    unknown = sorted(set(cfg.subjects) - set(known))
    if unknown:
        raise ConfigError(f"--subjects {unknown} are not in {cfg.data}; subjects are {known}")
    enc = resolve_fit_encoder(cfg)
    stride = max(1, int(round(cfg.stride_s * enc.rate_hz))) if cfg.stride_s else None
    ws = load_windows(
        root,
        rate_hz=enc.rate_hz,
        window=enc.window,
        channels=enc.channels,
        stride=stride,
        label_purity=cfg.label_purity,
        nonwear=cfg.nonwear,
    )
    subj = ws.subject_names()
    chosen = np.isin(subj, list(cfg.subjects)) if cfg.subjects else np.ones(len(ws), bool)
    labelled = chosen & (ws.label >= 0)
    present = np.unique(ws.label[labelled])
    if len(present) < 2:
        names = [ws.label_names[c] for c in present]
        raise DataError(
            f"{cfg.data}: the labelled windows hold {len(present)} class(es) {names}; a classifier needs at least 2 "
            "(check --subjects and --set label_purity)"
        )
    # class codes as the probe's task builds them: present labels in sorted order, -1 elsewhere
    code = np.full(len(ws.label_names) + 1, -1, dtype=np.int64)
    code[present] = np.arange(len(present))
    y = np.where(chosen, code[ws.label], -1)
    classes = [ws.label_names[c] for c in present]
    pools = [np.flatnonzero(y == c) for c in range(len(classes))]
    if cfg.shots is not None:
        idx = draw_shots(pools, cfg.shots, np.random.default_rng([cfg.seed, 0, cfg.shots]))
        for name, pool in zip(classes, pools, strict=True):
            if len(pool) < cfg.shots:
                log.warning(
                    "class %r has only %d labelled window(s), fewer than --shots %d", name, len(pool), cfg.shots
                )
    else:
        idx = np.concatenate(pools)
    log.info("fitting on %d windows of %d classes (%s)", len(idx), len(classes), ", ".join(classes))
    assert enc.embed is not None
    emb = _embed(enc, ws, idx, cfg.batch_size)
    head = make_head("logreg", y[idx], seed=head_seed(cfg.seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        head.fit(emb, y[idx])
    lr: LogRegHead = head.head_  # type: ignore[attr-defined]
    cv = _cross_validate(emb, y[idx], subj[idx], cfg)
    seqs = _labelled_runs(ws, y)
    trans, how = estimate_transitions(seqs, len(classes), cfg.hmm_stay, cfg.hmm_min_changes)
    counts = np.bincount(y[idx], minlength=len(classes)).astype(np.float64)
    prior = counts / counts.sum()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    enc_desc = _copy_encoder(enc, cfg, out)
    fit_subjects = sorted(set(subj[idx].tolist()))
    provenance = {
        "data": str(cfg.data),
        "subjects": fit_subjects,
        "shots": cfg.shots,
        "seed": cfg.seed,
        "head_seed": head_seed(cfg.seed),
        "windows_per_class": {c: int(n) for c, n in zip(classes, counts, strict=True)},
        "labelled_windows_per_class": {c: len(p) for c, p in zip(classes, pools, strict=True)},
        "label_purity": cfg.label_purity,
        "stride_s": cfg.stride_s,
        "nonwear": cfg.nonwear,
        "cv": cv,
        "transitions": how,
        "config": to_dict(cfg),
    }
    clf = Classifier(
        classes=classes,
        head=lr,
        rate_hz=enc.rate_hz,
        window=enc.window,
        channels=enc.channels,
        encoder=enc_desc,
        transitions=trans,
        prior=prior,
        provenance=provenance,
    )
    clf.save(out)
    summary = {
        "out": str(out),
        "classes": classes,
        "windows_per_class": provenance["windows_per_class"],
        "c": float(lr.c),
        "cv_macro_f1": cv.get("macro_f1"),
        "cv": cv,
        "transitions": how,
        "encoder": enc_desc,
        "subjects": fit_subjects,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log.info("classifier written to %s", out)
    return summary


def _embed(enc: ResolvedEncoder, ws: WindowSet, idx: np.ndarray, batch_size: int) -> np.ndarray:
    assert enc.embed is not None
    parts = [enc.embed(ws.batch(idx[i : i + batch_size])) for i in range(0, len(idx), batch_size)]
    return np.concatenate(parts).astype(np.float32)


def _cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: ClassifyConfig) -> dict[str, Any]:
    """Subject-wise cross-validated macro-F1 of the same head on the fitted windows (when there are enough)."""
    subjects = sorted(set(groups.tolist()))
    if len(subjects) < cfg.cv_min_subjects:
        return {
            "macro_f1": None,
            "reason": f"{len(subjects)} subject(s) fitted; cross-validation by subject needs {cfg.cv_min_subjects}",
        }
    n_folds = min(5, len(subjects))
    fold_of = {s: i % n_folds for i, s in enumerate(np.random.default_rng(cfg.seed).permutation(subjects))}
    fold = np.array([fold_of[s] for s in groups])
    draws, tests = [], []
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        if len(np.unique(y[tr])) < 2 or not te.any():
            continue
        draws.append((x[tr], y[tr], head_seed(cfg.seed)))
        tests.append(te)
    if not draws:
        return {"macro_f1": None, "reason": "no fold has two classes to fit"}
    heads = fit_heads(draws, C_GRID, DEFAULT_C, MIN_SHOTS_FOR_CV)
    pred = np.full(len(y), -1, dtype=np.int64)
    for h, te in zip(heads, tests, strict=True):
        pred[te] = h.predict(x[te])
    scored = pred >= 0
    present = np.unique(y[scored])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        f1 = float(f1_score(y[scored], pred[scored], labels=present, average="macro", zero_division=0))
    return {"macro_f1": f1, "folds": len(draws), "subjects": len(subjects), "windows": int(scored.sum())}


def _labelled_runs(ws: WindowSet, y: np.ndarray) -> list[np.ndarray]:
    """Class codes of runs of consecutive labelled windows (same recording, no gap) for the HMM transitions."""
    step_ns = int(round(ws.window * 1e9 / ws.rate_hz))
    runs: list[np.ndarray] = []
    order = np.lexsort((ws.start_ns, ws.recording))
    yy, rec, t = y[order], ws.recording[order], ws.start_ns[order]
    brk = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        step = np.diff(t)
        brk[1:] = (rec[1:] != rec[:-1]) | (step > 1.5 * step_ns) | (yy[1:] < 0) | (yy[:-1] < 0)
    starts = np.flatnonzero(brk)
    for a, b in zip(starts, [*starts[1:], len(order)], strict=True):
        run = yy[a:b]
        if len(run) and run[0] >= 0:
            runs.append(run)
    return runs


def _copy_encoder(enc: ResolvedEncoder, cfg: ClassifyConfig, out: Path) -> dict[str, Any]:
    """Copy (or, for ``random:``, save) the encoder into the classifier folder; its description for the json."""
    desc: dict[str, Any] = {**enc.describe(), "source": cfg.encoder, "file": None, "seed": cfg.seed}
    spec = cfg.encoder
    if enc.kind == "pretrained":
        from wearfm.models.saved import ENCODER_FILE

        src = Path(spec)
        shutil.copyfile(src / ENCODER_FILE if src.is_dir() else src, out / "encoder.pt")
        desc.update(file="encoder.pt", spec="encoder.pt")
    elif enc.kind == "onnx":
        shutil.copyfile(spec, out / "encoder.onnx")
        desc.update(file="encoder.onnx", spec="encoder.onnx")
    elif enc.kind == "random":
        from wearfm.models.saved import save_encoder
        from wearfm.probe.baselines import random_model

        model = random_model(spec.split(":", 1)[1], enc.rate_hz, enc.window, enc.channels, cfg.seed)
        save_encoder(model, out / "encoder.pt")
        desc.update(file="encoder.pt", spec="encoder.pt")
    # features: recomputed from the spec and the contract; nothing to copy
    return desc
