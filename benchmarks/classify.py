"""Benchmarks of `wearfm classify`: agreement with the probe, ONNX vs Python, smoothing, a week through predict.

Three parts, each printing one Markdown table (and ``--json`` a JSON line):

- ``match``: the probe (``trials=1``) and ``classify fit`` on the probe's train subjects + ``classify predict``
  on its test subjects, same encoder, k and seed: window macro-F1 of both. For encoders with a network, the
  classifier is exported to ONNX and compared with the Python path on every window of the dataset.
- ``smooth``: fit on the train subjects (every label, or ``--shots``), predict the test subjects with
  ``--smooth none``, ``median:5`` and ``hmm``: window macro-F1 of each.
- ``week``: a simulated 7-day wrist recording (``wearfm.signal.simulate``, 30 Hz, non-wear marked as ingest
  marks it) through ``classify predict`` and ``classify summary`` in a fresh process: wall and CPU seconds and
  peak RSS (VmHWM, including the interpreter and imports).

Usage (from the repository root; datasets from `wearfm ingest`)::

    python benchmarks/classify.py match data/spsw-watch --encoder features --encoder random:resnet1d --window 2
    python benchmarks/classify.py smooth data/wisdm-watch --encoder features
    python benchmarks/classify.py week --days 7
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wearfm.classify.fit import fit  # noqa: E402
from wearfm.classify.predict import predict  # noqa: E402
from wearfm.config import ClassifyConfig, ProbeConfig  # noqa: E402
from wearfm.io.manifest import list_recordings  # noqa: E402
from wearfm.probe.fewshot import probe, split_subjects  # noqa: E402


def match(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """Probe figure vs classify fit + predict figure, per encoder; ONNX vs Python where exportable."""
    rows = []
    for enc in args.encoder:
        pcfg = ProbeConfig(
            data=args.data,
            encoders=(enc,),
            shots=(args.shots,),
            trials=1,
            out="",
            seed=args.seed,
            window_s=args.window,
            label_purity=args.label_purity,
            test_fraction=args.test_fraction,
        )
        t0 = time.perf_counter()
        pr = probe(pcfg)
        t_probe = time.perf_counter() - t0
        clf = tmp / f"clf-{enc.replace(':', '_')}"
        ccfg = ClassifyConfig(
            data=args.data,
            encoder=enc,
            out=str(clf),
            shots=args.shots,
            seed=args.seed,
            window_s=args.window,
            label_purity=args.label_purity,
            subjects=tuple(pr.train_subjects),
        )
        t0 = time.perf_counter()
        fit(ccfg)
        res = predict(
            ClassifyConfig(
                data=args.data,
                model=str(clf),
                out=str(tmp / "t.parquet"),
                label_purity=args.label_purity,
                subjects=tuple(pr.test_subjects),
            )
        )
        t_clf = time.perf_counter() - t0
        row = {
            "encoder": enc,
            "k": args.shots,
            "seed": args.seed,
            "test_windows_probe": pr.encoders[0].n_test_windows,
            "test_windows_classify": res["labelled_windows"],
            "macro_f1_probe": pr.encoders[0].scores[args.shots]["macro_f1"][0],
            "macro_f1_classify": res["macro_f1_raw"],
            "probe_s": round(t_probe, 1),
            "fit_predict_s": round(t_clf, 1),
        }
        if not enc.startswith("features"):
            row.update(_onnx_vs_python(clf, args.data, tmp))
        rows.append(row)
    return rows


def _onnx_vs_python(clf_dir: Path, data: str, tmp: Path) -> dict[str, Any]:
    """onnxruntime vs the Python path on every window of ``data`` (labelled or not, every subject)."""
    import onnxruntime as ort

    from wearfm.classify.model import load_classifier
    from wearfm.config import ExportConfig
    from wearfm.data.windows import load_windows
    from wearfm.export.run import export

    onnx = tmp / f"{clf_dir.name}.onnx"
    export(ExportConfig(model=str(clf_dir), out=str(onnx), check=False))
    clf = load_classifier(clf_dir)
    ws = load_windows(data, rate_hz=clf.rate_hz, window=clf.window, channels=clf.channels)
    x = ws.batch(np.arange(len(ws)))
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(["probabilities"], {"x": x[i : i + 256]})[0] for i in range(0, len(x), 256)])
    ref = clf.predict_proba(x)
    return {
        "onnx_windows": int(len(x)),
        "onnx_same_argmax": float(np.mean(got.argmax(1) == ref.argmax(1))),
        "onnx_max_prob_diff": float(np.abs(got - ref).max()),
    }


def smooth_part(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """Window macro-F1 of the test subjects with each smoothing, one classifier per encoder."""
    _, entries = list_recordings(args.data)
    train, test = split_subjects([e.subject for e in entries], test_fraction=args.test_fraction, seed=args.seed)
    rows = []
    for enc in args.encoder:
        clf = tmp / f"clf-{enc.replace(':', '_')}"
        f = fit(
            ClassifyConfig(
                data=args.data,
                encoder=enc,
                out=str(clf),
                shots=args.shots,
                seed=args.seed,
                window_s=args.window,
                rate_hz=args.rate,
                subjects=tuple(train),
            )
        )
        row: dict[str, Any] = {
            "encoder": enc,
            "shots": args.shots or "all",
            "transitions": f["transitions"],
            "test_subjects": len(test),
        }
        for s in ("none", "median:5", "hmm"):
            r = predict(
                ClassifyConfig(
                    data=args.data, model=str(clf), out=str(tmp / "t.parquet"), smooth=s, subjects=tuple(test)
                )
            )
            row[s] = r["macro_f1"]
            row["windows"] = r["labelled_windows"]
        rows.append(row)
    return rows


def _week_file(tmp: Path, days: int, rate: float) -> Path:
    """A simulated wrist recording of ``days`` days with non-wear marked as `wearfm ingest --nonwear mark` does."""
    import pyarrow as pa

    from wearfm.config import IngestConfig
    from wearfm.io.manifest import RecordingEntry
    from wearfm.io.preprocess import preprocess_recording
    from wearfm.io.schema import ACC, schema_for
    from wearfm.io.writer import RecordingWriter
    from wearfm.signal.simulate import WeekSpec, simulate_days

    folder = tmp / f"week{days}"
    path = folder / "sim.parquet"
    if path.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    w = RecordingWriter(path, {"schema_version": "2", "subject": "sim", "device_range_g": 8.0})
    schema = schema_for(["time", *ACC])
    for t, xyz, _ in simulate_days(WeekSpec(days=days, rate_hz=rate, seed=1)):
        for a in range(0, len(t), 1_000_000):
            cols = [pa.array(t[a : a + 1_000_000]).cast(pa.timestamp("ns"))]
            cols += [pa.array(np.ascontiguousarray(xyz[a : a + 1_000_000, k])) for k in range(3)]
            w.write(pa.Table.from_arrays(cols, schema=schema))
    w.close({"sample_rate_measured_hz": rate})
    w.commit()
    e = RecordingEntry(path.name, "sim", "sim", "unknown", None, 0, 0.0, 0, 0.0, ("acc_x", "acc_y", "acc_z"))
    preprocess_recording(path, IngestConfig(nonwear="mark"), e, folder)
    return folder


def run_week(week: str, clf: str, out: str, smooth: str) -> dict[str, Any]:
    """predict + summary of the week (called in a fresh process by :func:`week_part`)."""
    from wearfm.classify.summary import summarize

    t0, c0 = time.perf_counter(), time.process_time()
    res = predict(ClassifyConfig(data=week, model=clf, out=out, smooth=smooth))
    t1, c1 = time.perf_counter(), time.process_time()
    s = summarize(out, ClassifyConfig(out=str(Path(out).with_suffix(".csv"))))
    t2, c2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return {
        "windows": res["windows"],
        "nonwear_windows": res["nonwear_windows"],
        "days": len(s["days"]),
        "valid_days": s["valid_days"],
        "predict_wall_s": round(t1 - t0, 1),
        "predict_cpu_s": round(c1 - c0, 1),
        "summary_wall_s": round(t2 - t1, 2),
        "summary_cpu_s": round(c2 - c1, 2),
        "peak_rss_mb": round(peak),
    }


def week_part(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    from tests._helpers.labelled import write_noisy_dataset

    cache = Path(args.cache)
    week = _week_file(cache, args.days, 30.0)
    samples = args.days * 86_400 * 30
    data = write_noisy_dataset(tmp / "labelled", noise=0.3)
    rows = []
    for enc in args.encoder:
        clf = tmp / f"clf-{enc.replace(':', '_')}"
        fit(ClassifyConfig(data=str(data), encoder=enc, out=str(clf), shots=10))
        for smooth in ("none", "hmm"):
            code = (
                f"import json, sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]; import classify;"
                f"print(json.dumps(classify.run_week({str(week)!r}, {str(clf)!r}, {str(tmp / 't.parquet')!r}, "
                f"{smooth!r})))"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"encoder": enc, "days": args.days, "samples": samples, "smooth": smooth, **r})
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"
    return str(v)


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [_fmt(r.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("match", "smooth", "week"))
    ap.add_argument("data", nargs="?", default="")
    ap.add_argument("--encoder", action="append", default=None)
    ap.add_argument("--shots", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=float, default=None, help="window in seconds (default: the encoder's, 10 s)")
    ap.add_argument("--rate", type=float, default=None, help="baselines: sample rate in Hz (default 30)")
    ap.add_argument("--label-purity", type=float, default=1.0)
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "wearfm-bench-classify"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.encoder = args.encoder or ["features"]
    if args.part == "match" and args.shots is None:
        args.shots = 10
    if args.part in ("match", "smooth") and not args.data:
        ap.error(f"{args.part} needs a dataset folder")
    with tempfile.TemporaryDirectory(prefix="wearfm-bench-") as t:
        rows = {"match": match, "smooth": smooth_part, "week": week_part}[args.part](args, Path(t))
    print(json.dumps(rows) if args.json else _table(rows))


if __name__ == "__main__":
    main()
