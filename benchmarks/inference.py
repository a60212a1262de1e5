"""CPU inference benchmark: PyTorch eager vs onnxruntime fp32 vs onnxruntime int8, side by side.

For each encoder (default sizes, 3 accelerometer channels, 10 s windows at 30 Hz): latency at batch 1
(median of --reps runs), throughput at batch 256, file size, and the macro-F1 of a logistic-regression probe on
embeddings of synthetic labelled windows (walk/run/lie/cycle), fp32 vs int8. Thread counts are set explicitly
and equally for torch and onnxruntime.

    python benchmarks/inference.py --threads 1 2 --encoders resnet1d cnn_gru patchtst
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wearfm.export.onnx import export_onnx, realistic_windows
from wearfm.export.quantize import quantize_onnx
from wearfm.models.saved import EncoderSpec, build_model

ACC = ("acc_x", "acc_y", "acc_z")
RATE, WINDOW = 30.0, 300


def labelled_windows(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / RATE
    xs, ys = [], []
    for k, (f, a) in enumerate([(1.8, 0.3), (2.7, 0.9), (0.0, 0.0), (1.2, 0.15)]):
        for _ in range(n_per):
            g = rng.standard_normal(3)
            g /= np.linalg.norm(g)
            x = g[:, None] + a * np.sin(2 * np.pi * (f + 0.1 * rng.standard_normal()) * t + rng.uniform(0, 6.3, (3, 1)))
            xs.append(x + 0.02 * rng.standard_normal((3, WINDOW)))
            ys.append(k)
    return np.stack(xs).astype(np.float32), np.array(ys)


def macro_f1(z: np.ndarray, y: np.ndarray) -> float:
    tr = np.arange(len(y)) % 2 == 0
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(z[tr], y[tr])
    return float(f1_score(y[~tr], clf.predict(z[~tr]), average="macro"))


def timeit(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoders", nargs="+", default=["resnet1d", "cnn_gru", "patchtst"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    rows = []
    x1 = realistic_windows(1, ACC, WINDOW, RATE, seed=3)
    x256 = realistic_windows(256, ACC, WINDOW, RATE, seed=4)
    cal = realistic_windows(256, ACC, WINDOW, RATE, seed=5)
    xl, yl = labelled_windows(60)
    with tempfile.TemporaryDirectory() as d:
        for name in args.encoders:
            torch.manual_seed(0)
            model = build_model(EncoderSpec(name, {"in_channels": 3}, RATE, WINDOW, ACC)).eval()
            fp32 = Path(d) / f"{name}.onnx"
            res = export_onnx(model, fp32)
            q = Path(d) / f"{name}.int8.onnx"
            qinfo = quantize_onnx(fp32, q, calibration=cal)
            for n in args.threads:
                torch.set_num_threads(n)
                so = ort.SessionOptions()
                so.intra_op_num_threads, so.inter_op_num_threads = n, 1
                sf = ort.InferenceSession(str(fp32), so, providers=["CPUExecutionProvider"])
                sq = ort.InferenceSession(str(q), so, providers=["CPUExecutionProvider"])

                def eager(x: np.ndarray, model: torch.nn.Module = model) -> np.ndarray:
                    with torch.inference_mode():
                        return model(torch.from_numpy(x)).numpy()

                runners = {
                    "torch eager": eager,
                    "ort fp32": lambda x, s=sf: s.run(None, {"x": x})[0],
                    "ort int8": lambda x, s=sq: s.run(None, {"x": x})[0],
                }
                f1 = (
                    {
                        k: macro_f1(np.concatenate([r(xl[i : i + 256]) for i in range(0, len(xl), 256)]), yl)
                        for k, r in runners.items()
                    }
                    if n == args.threads[0]
                    else {}
                )
                for k, r in runners.items():
                    lat = timeit(lambda r=r: r(x1), args.reps)
                    thr = 256 / timeit(lambda r=r: r(x256), max(3, args.reps // 10))
                    size = {"torch eager": None, "ort fp32": fp32.stat().st_size, "ort int8": q.stat().st_size}[k]
                    rows.append(
                        {
                            "encoder": name,
                            "threads": n,
                            "runtime": k,
                            "latency_b1_ms": lat * 1e3,
                            "throughput_b256_win_s": thr,
                            "size_mb": None if size is None else size / 1e6,
                            "macro_f1": f1.get(k),
                            "exporter": res.exporter,
                            "quant": qinfo["quantization"],
                            "max_abs_diff_fp32": res.max_abs_diff,
                        }
                    )
                    print(
                        f"{name:9s} t={n} {k:11s} b1 {lat * 1e3:8.2f} ms  b256 {thr:8.0f} win/s  "
                        f"size {'' if size is None else f'{size / 1e6:.2f} MB':9s} "
                        f"F1 {'' if k not in f1 else f'{f1[k]:.3f}'}",
                        flush=True,
                    )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
