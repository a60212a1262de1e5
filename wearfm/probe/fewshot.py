"""Few-shot probing split by subject: the protocol behind `wearfm probe`.

Protocol (one run):

1. Subjects are split once into train and test (``test_subjects``, else a ``test_fraction`` drawn with
   ``seed``). No subject is on both sides; every result records which subjects were fitted and scored.
2. Each encoder gets windows at its own rate, length and channels (``window_s`` sets the length of all, in
   seconds; encoders sharing rate, length and channels share windows);
   a window is labelled only if one label covers ``label_purity`` of it.
3. For each trial ``t`` and shot count ``k``, ``k`` windows per class are drawn, without replacement, from
   train-subject windows only, with ``numpy.random.default_rng([seed, t, k])``: encoders that share
   windows see the same shots. Every labelled test-subject window of a class seen in training is scored.
4. Frozen embeddings are computed once per encoder (batched, inference mode) for all windows any trial
   needs, and reused across trials and shot counts; a fresh head (:mod:`wearfm.probe.heads`) is fitted on
   each draw. ``--finetune`` and ``supervised:`` instead train end to end (:mod:`wearfm.probe.finetune`).
5. Metrics per draw: macro-F1, balanced accuracy and accuracy (MAE and R^2 for ``ridge``); reports give
   the mean and standard error over trials. Macro-F1 averages over the classes present in the test labels
   (the usual definition): a training class that no test subject performed is not averaged in as F1 = 0,
   while predicting it for a window still counts as a miss of that window's true class. ``results.json``
   records each class's number of test windows (``test_support``).

For continuous targets (``head="ridge"``; labels must parse as numbers) the train targets are cut into
(up to) 5 quantile bins and ``k`` windows are drawn per bin.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections import defaultdict
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    r2_score,
)

from wearfm.config import ProbeConfig
from wearfm.data.windows import WindowSet, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.export.modelfile import model_kind
from wearfm.io.manifest import lacking_channels, list_recordings
from wearfm.io.schema import resolve_channels
from wearfm.probe.encoders import ResolvedEncoder, is_learned, resolve_device, resolve_encoder
from wearfm.probe.heads import HEADS, fit_predict_many
from wearfm.probe.results import CLASSIFICATION_METRICS, REGRESSION_METRICS, EncoderResult, ProbeResult
from wearfm.probe.split import draw_shots, split_subjects
from wearfm.probe.targets import Task, make_task

__all__ = ["ProbeResult", "EncoderResult", "probe", "split_subjects", "draw_shots", "CLASSIFICATION_METRICS"]

log = logging.getLogger(__name__)


def probe(cfg: ProbeConfig) -> ProbeResult:
    """Run the few-shot protocol for every encoder of ``cfg`` and write reports to ``cfg.out`` (if set).

    Raises:
        ConfigError: invalid options or encoder specs.
        DataError: no labels, a single subject, missing channels, too few windows (with ``few_classes=stop``).
        CheckpointError: an unusable model file.

    Examples:
        >>> cfg = ProbeConfig(data="data/wisdm", encoders=("features",), shots=(1, 5), trials=3, out="")
        >>> result = probe(cfg)  # doctest: +SKIP
        >>> result.encoders[0].summary()[5]["macro_f1"]  # doctest: +SKIP
        {'mean': 0.61, 'se': 0.02}
    """
    _check_config(cfg)
    root, entries = list_recordings(cfg.data)
    if not any(e.label_counts for e in entries):
        raise DataError(f"{cfg.data}: no recording has labels; a probe needs labelled data (ingest with --label-col)")
    train_s, test_s = split_subjects([e.subject for e in entries], cfg.test_subjects, cfg.test_fraction, cfg.seed)
    log.info("subjects: %d train, %d test (%s)", len(train_s), len(test_s), ", ".join(test_s))
    encoders = _resolve_all(cfg)
    groups: dict[tuple[float, int, tuple[str, ...]], list[ResolvedEncoder]] = defaultdict(list)
    for enc in encoders:
        groups[(enc.rate_hz, enc.window, enc.channels)].append(enc)
    by_spec: dict[str, list[EncoderResult]] = {}
    task_kind = "regression" if cfg.head == "ridge" else "classification"
    nonwear_skipped = 0
    for (rate, window, channels), encs in groups.items():
        missing = lacking_channels(entries, channels)
        if missing:
            raise DataError(
                f"encoder {encs[0].spec!r} needs channels {list(channels)}, which {len(missing)} recording(s) of "
                f"{cfg.data} lack (e.g. {missing[0].path}, which has {list(missing[0].channels)}); "
                "use an encoder trained on channels the data has"
            )
        stride = max(1, int(round(cfg.stride_s * rate))) if cfg.stride_s else None
        ws = load_windows(
            root,
            rate_hz=rate,
            window=window,
            channels=channels,
            stride=stride,
            label_purity=cfg.label_purity,
            nonwear=cfg.nonwear,
        )
        nonwear_skipped += ws.nonwear_skipped
        task = make_task(ws, train_s, test_s, cfg, source=str(cfg.data))
        for enc in encs:
            by_spec[enc.spec] = _evaluate(enc, ws, task, cfg)
    results = [r for spec in cfg.encoders for r in by_spec[spec]]
    result = ProbeResult(
        config=cfg,
        task=task_kind,
        metrics=REGRESSION_METRICS if task_kind == "regression" else CLASSIFICATION_METRICS,
        train_subjects=train_s,
        test_subjects=test_s,
        encoders=results,
        nonwear_skipped=nonwear_skipped,
    )
    if cfg.out:
        from wearfm.probe.report import write_report

        result.files = write_report(result, cfg.out)
    return result


def _check_config(cfg: ProbeConfig) -> None:
    if not cfg.encoders:
        raise ConfigError("give at least one --encoder (a run folder, model.onnx, features, random:<name>, ...)")
    if len(set(cfg.encoders)) != len(cfg.encoders):
        raise ConfigError(f"--encoder values must be distinct, got {list(cfg.encoders)}")
    if not cfg.shots or any(k < 1 for k in cfg.shots):
        raise ConfigError(f"--shots must be positive integers, got {list(cfg.shots)}")
    if cfg.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {cfg.trials}")
    if cfg.jobs == 0 or cfg.jobs < -1:
        raise ConfigError(f"--jobs must be a positive number of cores or -1 (all cores), got {cfg.jobs}")
    if cfg.head not in HEADS:
        raise ConfigError(f"unknown --head {cfg.head!r}; choose from {list(HEADS)}")
    if cfg.few_classes not in ("use-available", "stop"):
        raise ConfigError(f"few_classes must be 'use-available' or 'stop', got {cfg.few_classes!r}")
    if cfg.stride_s is not None and cfg.stride_s <= 0:
        raise ConfigError(f"stride_s must be positive, got {cfg.stride_s}")
    if not 0.0 < cfg.label_purity <= 1.0:
        raise ConfigError(f"label_purity must be in (0, 1], got {cfg.label_purity}")
    if cfg.target != "label":
        raise ConfigError(f"target {cfg.target!r} is not supported; probes read the 'label' column")
    if cfg.head == "ridge" and (cfg.finetune or any(s.startswith("supervised:") for s in cfg.encoders)):
        raise ConfigError("--finetune and supervised:<name> train classifiers; they cannot be used with --head ridge")


def _resolve_all(cfg: ProbeConfig) -> list[ResolvedEncoder]:
    needs_torch = any(s != "features" and model_kind(s) != "onnx" for s in cfg.encoders)
    device = resolve_device(cfg.device) if needs_torch else "cpu"  # ONNX and features never import torch
    kw: dict[str, Any] = {"seed": cfg.seed, "device": device, "batch_size": cfg.batch_size}
    learned = [
        resolve_encoder(s, rate_hz=30.0, window=300, channels=("acc_x",), **kw) for s in cfg.encoders if is_learned(s)
    ]
    first = learned[0] if learned else None
    rate = cfg.rate_hz or (first.rate_hz if first else 30.0)
    if cfg.window_s is not None:
        window = int(round(cfg.window_s * rate))
    else:
        window = int(round(first.window * rate / first.rate_hz)) if first else int(round(10.0 * rate))
    channels = (
        resolve_channels(cfg.channels) if cfg.channels else (first.channels if first else resolve_channels("acc"))
    )
    if window < 2:
        raise ConfigError(f"--window of {window} samples is too short; give at least 2 samples")
    if cfg.window_s is not None:  # learned encoders keep their rate and take windows of this duration
        learned = [dataclasses.replace(e, window=max(2, int(round(cfg.window_s * e.rate_hz)))) for e in learned]
        for e in learned:
            _check_window(e)
    out, it = [], iter(learned)
    for s in cfg.encoders:
        out.append(
            next(it) if is_learned(s) else resolve_encoder(s, rate_hz=rate, window=window, channels=channels, **kw)
        )
    return out


def _check_window(enc: ResolvedEncoder) -> None:
    """Raise ``ConfigError`` if ``enc`` cannot embed windows of ``enc.window`` samples (e.g. too short for it)."""
    if enc.embed is None:
        return
    try:
        enc.embed(np.zeros((1, len(enc.channels), enc.window), dtype=np.float32))
    except Exception as e:  # noqa: BLE001 - any failure here means the window does not fit the encoder
        raise ConfigError(
            f"{enc.spec}: cannot embed windows of {enc.window} samples at {enc.rate_hz:g} Hz "
            f"({str(e).splitlines()[0][:200]}); pass a --window this encoder accepts"
        ) from None


def _embed(enc: ResolvedEncoder, ws: WindowSet, idx: np.ndarray, batch_size: int) -> np.ndarray:
    assert enc.embed is not None
    parts = [enc.embed(ws.batch(idx[i : i + batch_size])) for i in range(0, len(idx), batch_size)]
    return np.concatenate(parts).astype(np.float32)


def _metrics(task: Task, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    if task.regression:
        return {"mae": float(mean_absolute_error(y_true, y_pred)), "r2": float(r2_score(y_true, y_pred))}
    present = np.unique(y_true)  # macro-F1 over the classes the test subjects have, not every training class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # predicted classes absent from the test set
        return {
            "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "accuracy": float(accuracy_score(y_true, y_pred)),
        }


def _support(task: Task) -> dict[str, int]:
    """Test windows per class name ({} for regression)."""
    if task.regression:
        return {}
    counts = np.bincount(task.y_test.astype(np.int64), minlength=len(task.classes))
    return {c: int(n) for c, n in zip(task.classes, counts, strict=True)}


def _evaluate(enc: ResolvedEncoder, ws: WindowSet, task: Task, cfg: ProbeConfig) -> list[EncoderResult]:
    runs: list[tuple[str, str]] = []  # (name, head)
    if enc.embed is not None:
        runs.append((enc.spec, cfg.head))
    if enc.kind == "supervised" or (cfg.finetune and enc.make_trainable is not None):
        runs.append((enc.spec if enc.kind == "supervised" else f"{enc.spec} +finetune", "finetune"))
    elif cfg.finetune:
        log.info("%s: no torch model to fine-tune (%s); frozen probe only", enc.spec, enc.kind)
    draws = {(t, k): task.draw(cfg.seed, t, k) for t in range(cfg.trials) for k in cfg.shots}
    subj = ws.subject_names()
    out = []
    for name, head in runs:
        t0 = time.perf_counter()
        scores: dict[int, dict[str, list[float]]] = {k: defaultdict(list) for k in cfg.shots}
        conf = None if task.regression else np.zeros((len(task.classes),) * 2, dtype=np.int64)
        kmax = max(cfg.shots)
        embed_s = 0.0
        if head == "finetune":
            x_test = ws.batch(task.test_idx)
            dev = resolve_device(cfg.device)
        else:
            needed = np.unique(np.concatenate([task.test_idx, *draws.values()]))
            emb = _embed(enc, ws, needed, cfg.batch_size)  # computed once, reused by every trial and k
            embed_s = time.perf_counter() - t0
            row = {int(i): r for r, i in enumerate(needed)}
            e_test = emb[[row[int(i)] for i in task.test_idx]]
        fitted: set[str] = set()
        fit_s = 0.0
        for k in cfg.shots:
            trials = [(t, draws[(t, k)]) for t in range(cfg.trials)]
            tf = time.perf_counter()
            if head == "finetune":
                assert enc.make_trainable is not None
                make = enc.make_trainable
                preds = [
                    _finetune(make(), ws.batch(idx), task.y[idx], x_test, task, cfg, cfg.seed * 1000 + t, dev)
                    for t, idx in trials
                ]
            else:
                # every trial of this k in one call: the logreg head solves all their fits as one batch
                shots = [(emb[[row[int(i)] for i in idx]], task.y[idx], cfg.seed * 1000 + t) for t, idx in trials]
                preds = fit_predict_many(head, shots, e_test, jobs=cfg.jobs)
            fit_s += time.perf_counter() - tf
            for (_, idx), pred in zip(trials, preds, strict=True):
                for m, v in _metrics(task, task.y_test, pred).items():
                    scores[k][m].append(v)
                if conf is not None and k == kmax:
                    conf += confusion_matrix(task.y_test, pred, labels=np.arange(len(task.classes)))
                fitted.update(subj[idx].tolist())
        scored = sorted(set(subj[task.test_idx].tolist()))
        assert not fitted & set(scored), "a subject was both fitted and scored"
        res = EncoderResult(
            name=name,
            head=head,
            encoder=enc.describe(),
            classes=list(task.classes),
            n_train_windows=int(task.n_train_windows),
            n_test_windows=len(task.test_idx),
            scores={k: dict(v) for k, v in scores.items()},
            confusion=conf,
            fit_subjects=sorted(fitted),
            scored_subjects=scored,
            seconds=time.perf_counter() - t0,
            test_support=_support(task),
            embed_seconds=embed_s,
            fit_seconds=fit_s,
        )
        log.info("%s (%s): done in %.1fs (embedding %.1fs, fitting %.1fs)", name, head, res.seconds, embed_s, fit_s)
        out.append(res)
    return out


def _finetune(
    model: Any, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, task: Task, cfg: ProbeConfig, seed: int, dev: str
) -> np.ndarray:
    from wearfm.probe.finetune import finetune_predict

    return finetune_predict(
        model,
        x,
        y,
        x_test,
        len(task.classes),
        steps=cfg.finetune_steps,
        lr=cfg.finetune_lr,
        seed=seed,
        device=dev,
        eval_batch=cfg.batch_size,
    )
