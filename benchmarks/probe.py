"""Benchmark the probe's heads: batched ``logreg`` vs scikit-learn's ``logreg-sklearn`` on the same draws.

A WISDM-sized problem by default: 9,000 labelled windows of 28 subjects, 18 classes, 512-dimensional
embeddings of 3 encoders, subjects split 70/30 once, shots 1,5,10,25 per class x 5 trials, drawn exactly as
``wearfm probe`` draws them. Embeddings are generated (class structure in a low-dimensional subspace, a
per-subject shift, noise, a tanh) with a different seed per encoder, or read from ``--embeddings`` files
written by ``wearfm embed``. Both heads fit every draw; the script prints the fitting time of each (only the
fitting: embeddings are given), the ratio, and the largest difference of mean macro-F1 per encoder and k.

Usage (from the repository root)::

    python benchmarks/probe.py                          # generated WISDM-sized embeddings, both heads
    python benchmarks/probe.py --jobs 1 --trials 2      # one core each (one process, one BLAS thread)
    python benchmarks/probe.py --embeddings a.parquet --embeddings b.parquet   # from `wearfm embed`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wearfm.probe.fewshot import draw_shots, split_subjects  # noqa: E402
from wearfm.probe.heads import fit_predict_many  # noqa: E402


def generated(
    n: int, dim: int, n_classes: int, n_subjects: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings (n, dim) float32, labels (n,), subjects (n,)): classes in a 24-d subspace, subject shifts."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    s = rng.integers(0, n_subjects, n)
    latent = 24
    means = rng.normal(size=(n_classes, latent))
    shift = 0.8 * rng.normal(size=(n_subjects, latent))
    z = means[y] + shift[s] + 1.2 * rng.normal(size=(n, latent))
    proj = rng.normal(size=(latent, dim)) / np.sqrt(latent)
    x = np.tanh(z @ proj + 0.5 * rng.normal(size=(n, dim)))
    return x.astype(np.float32), y, np.array([f"s{i:02d}" for i in s])


def from_parquet(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled rows of a ``wearfm embed`` file: (embeddings, label codes, subjects)."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["subject", "label", "embedding"]).to_pydict()
    keep = [i for i, lab in enumerate(t["label"]) if lab is not None]
    labels = np.array([t["label"][i] for i in keep])
    _, y = np.unique(labels, return_inverse=True)
    x = np.array([t["embedding"][i] for i in keep], dtype=np.float32)
    return x, y, np.array([t["subject"][i] for i in keep])


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in the test labels (the probe's definition)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))


def run_head(
    head: str,
    x: np.ndarray,
    y: np.ndarray,
    pools: list[np.ndarray],
    test: np.ndarray,
    shots: list[int],
    trials: int,
    seed: int,
    jobs: int,
) -> tuple[float, float, dict[int, list[float]], dict[int, list[np.ndarray]]]:
    """Fit ``head`` on every draw as ``wearfm probe`` does.

    Returns:
        (wall seconds, CPU seconds of this process, macro-F1 per k, predictions per k). CPU time leaves out
        worker processes (``logreg-sklearn`` with ``--jobs`` other than 1).
    """
    f1: dict[int, list[float]] = {}
    preds: dict[int, list[np.ndarray]] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    # --jobs N also caps BLAS threads for scikit-learn's head, so that both heads use the same cores
    with threadpool_limits(limits=None if jobs < 0 else jobs, user_api="blas"):
        for k in shots:
            draws = []
            for t in range(trials):
                idx = draw_shots(pools, k, np.random.default_rng([seed, t, k]))
                draws.append((x[idx], y[idx], seed * 1000 + t))
            preds[k] = fit_predict_many(head, draws, x[test], jobs=jobs)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    for k, ps in preds.items():
        f1[k] = [macro_f1(y[test], p) for p in ps]
    return seconds, cpu, f1, preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=9000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=18)
    ap.add_argument("--subjects", type=int, default=28)
    ap.add_argument("--encoders", type=int, default=3, help="generated encoders (ignored with --embeddings)")
    ap.add_argument("--embeddings", action="append", default=[], help="a `wearfm embed` Parquet file; repeat")
    ap.add_argument("--shots", default="1,5,10,25")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=-1, help="cores per head (as `wearfm probe --jobs`)")
    ap.add_argument("--heads", default="logreg,logreg-sklearn", help="heads to time; the first is the new one")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args()
    shots = [int(k) for k in args.shots.split(",")]
    heads = args.heads.split(",")
    sources = [(p, *from_parquet(p)) for p in args.embeddings] or [
        (f"generated-{e}", *generated(args.windows, args.dim, args.classes, args.subjects, seed=e))
        for e in range(args.encoders)
    ]
    seconds = {h: 0.0 for h in heads}
    cpu = {h: 0.0 for h in heads}
    rows = []
    for name, x, y, subj in sources:
        train_s, test_s = split_subjects(subj.tolist(), seed=args.seed)
        is_train = np.isin(subj, train_s)
        test = np.flatnonzero(~is_train)
        pools = [np.flatnonzero(is_train & (y == c)) for c in np.unique(y[is_train])]
        out = {}
        for h in heads:
            s, c, f1, preds = run_head(h, x, y, pools, test, shots, args.trials, args.seed, args.jobs)
            seconds[h] += s
            cpu[h] += c
            out[h] = (f1, preds)
            print(f"{name} {h}: {s:.1f} s wall, {c:.1f} s CPU", file=sys.stderr)
        for k in shots:
            row = {"encoder": name, "k": k}
            for h in heads:
                row[f"{h}_macro_f1"] = float(np.mean(out[h][0][k]))
            if len(heads) > 1:
                a, b = out[heads[0]], out[heads[1]]
                row["max_abs_f1_diff"] = float(np.max(np.abs(np.subtract(a[0][k], b[0][k]))))
                agree = [float(np.mean(p == q)) for p, q in zip(a[1][k], b[1][k], strict=True)]
                row["min_prediction_agreement"] = min(agree)
            rows.append(row)
    summary: dict[str, object] = {"seconds": seconds, "cpu_seconds": cpu, "rows": rows}
    if len(heads) > 1:
        summary["speedup"] = seconds[heads[1]] / max(seconds[heads[0]], 1e-9)
        summary["cpu_speedup"] = cpu[heads[1]] / max(cpu[heads[0]], 1e-9)
        summary["max_abs_mean_f1_diff"] = max(
            abs(r[f"{heads[0]}_macro_f1"] - r[f"{heads[1]}_macro_f1"])  # type: ignore[operator]
            for r in rows
        )
        summary["max_abs_trial_f1_diff"] = max(r["max_abs_f1_diff"] for r in rows)  # type: ignore[type-var]
        summary["min_prediction_agreement"] = min(r["min_prediction_agreement"] for r in rows)  # type: ignore[type-var]
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    cols = ["encoder", "k", *[f"{h}_macro_f1" for h in heads]]
    if len(heads) > 1:
        cols += ["max_abs_f1_diff", "min_prediction_agreement"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    print()
    print(" | ".join(f"{h}: {s:.1f} s fitting ({cpu[h]:.1f} s CPU)" for h, s in seconds.items()))
    if len(heads) > 1:
        print(
            f"speed-up {summary['speedup']:.1f}x wall, {summary['cpu_speedup']:.1f}x CPU; "
            f"largest |mean macro-F1 difference| "
            f"{summary['max_abs_mean_f1_diff']:.4f}, largest per-trial {summary['max_abs_trial_f1_diff']:.4f}; "
            f"lowest prediction agreement {summary['min_prediction_agreement']:.4f}"
        )


if __name__ == "__main__":
    main()
