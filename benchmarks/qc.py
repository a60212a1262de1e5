"""Calibration + non-wear on a simulated multi-day recording: wearfm's streamed post-pass beside skdh.

Usage::

    python benchmarks/qc.py                       # 7 days at 100 Hz: wearfm, skdh, wearfm, skdh
    python benchmarks/qc.py --days 1 3 7 --rate 100 --no-skdh

The recording (``wearfm.signal.simulate``: wrist activity, sleep, three non-wear spans, a known per-axis
offset and gain) is written once under ``--tmp`` as a wearfm recording file. Each measurement runs in a fresh
subprocess and reports wall-clock seconds, the process's CPU seconds (steadier on a shared machine) and its
peak RSS (VmHWM, which includes the interpreter and imports, about 110 MB):

- wearfm: ``preprocess_recording`` with ``calibrate=True, nonwear='mark'`` on a copy of the file (the copy
  is made before the clock starts): two streamed passes, the file rewritten with calibrated values and a
  ``nonwear`` column.
- skdh (scikit-digital-health, ``pip install scikit-digital-health``): the same file read into memory (its
  API takes whole arrays), ``CalibrateAccelerometer`` (applied), then ``AccelThresholdWearDetection``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_file(days: int, rate: float, tmp: Path) -> Path:
    import numpy as np
    import pyarrow as pa

    from wearfm.io.schema import ACC, schema_for
    from wearfm.io.writer import RecordingWriter
    from wearfm.signal.simulate import WeekSpec, simulate_days

    path = tmp / f"sim_{days}d_{rate:g}hz.parquet"
    if path.exists():
        return path
    tmp.mkdir(parents=True, exist_ok=True)
    schema = schema_for(["time", *ACC])
    w = RecordingWriter(path, {"schema_version": "2", "subject": "sim", "device_range_g": 8.0})
    for t, xyz, _ in simulate_days(WeekSpec(days=days, rate_hz=rate, seed=1)):
        for a in range(0, len(t), 1_000_000):
            cols = [pa.array(t[a : a + 1_000_000]).cast(pa.timestamp("ns"))]
            cols += [pa.array(np.ascontiguousarray(xyz[a : a + 1_000_000, k])) for k in range(3)]
            w.write(pa.Table.from_arrays(cols, schema=schema))
    w.close({"sample_rate_measured_hz": rate})
    return w.commit()


def run_wearfm(path: Path) -> dict:
    from wearfm.config import IngestConfig
    from wearfm.io.manifest import RecordingEntry
    from wearfm.io.preprocess import preprocess_recording
    from wearfm.io.schema import read_metadata

    work = path.parent / "work" / path.name
    work.parent.mkdir(exist_ok=True)
    shutil.copyfile(path, work)
    rss0 = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    e = RecordingEntry(work.name, "sim", "sim", "unknown", None, 0, 0.0, 0, 0.0, ("acc_x", "acc_y", "acc_z"))
    (out,) = preprocess_recording(work, IngestConfig(calibrate=True, nonwear="mark"), e, work.parent)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    meta = read_metadata(work)
    work.unlink()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_mb": rss0,
        "calibration": meta["calibration"],
        "nonwear_h": meta["nonwear"]["nonwear_s"] / 3600,
    }


def run_skdh(path: Path) -> dict:
    import warnings

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from skdh.preprocessing import AccelThresholdWearDetection, CalibrateAccelerometer

    t0, c0 = time.perf_counter(), time.process_time()
    table = pq.read_table(path)
    t = table.column("time").cast(pa.int64()).to_numpy() / 1e9
    acc = np.column_stack([table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")]).astype(np.float64)
    del table
    fs = (len(t) - 1) / (t[-1] - t[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = CalibrateAccelerometer().predict(time=t, accel=acc, fs=fs, apply=True)
        wear = AccelThresholdWearDetection().predict(time=t, accel=cal.get("accel", acc), fs=fs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    starts_stops = np.asarray(wear["wear"]) if "wear" in wear else np.zeros((0, 2))
    worn = float(np.sum(starts_stops[:, 1] - starts_stops[:, 0]) / fs / 3600) if len(starts_stops) else 0.0
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "offset": np.asarray(cal.get("offset", [0, 0, 0])).tolist(),
        "scale": np.asarray(cal.get("scale", [1, 1, 1])).tolist(),
        "nonwear_h": (len(t) - 1) / fs / 3600 - worn,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from a parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(which: str, path: Path) -> dict:
    code = (
        f"import json, sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}];"
        f"import qc; r = qc.run_{which}(__import__('pathlib').Path({str(path)!r}));"
        "r['peak_rss_mb'] = qc.peak_rss_mb(); print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, nargs="+", default=[7])
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/wearfm-bench-qc"))
    ap.add_argument("--no-skdh", action="store_true", help="measure wearfm only")
    ap.add_argument("--repeat", type=int, default=2, help="alternate wearfm and skdh this many times")
    args = ap.parse_args()
    print("| days | rate Hz | samples | tool | wall s | CPU s | peak RSS MB | non-wear h found |")
    print("|---|---|---|---|---|---|---|---|")
    for days in args.days:
        path = make_file(days, args.rate, args.tmp)
        n = int(days * 86400 * args.rate)
        for _ in range(args.repeat):
            for tool in ["wearfm"] + ([] if args.no_skdh else ["skdh"]):
                r = measure(tool, path)
                print(
                    f"| {days} | {args.rate:g} | {n:,} | {tool} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
                    f"| {r['peak_rss_mb']:.0f} | {r['nonwear_h']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
