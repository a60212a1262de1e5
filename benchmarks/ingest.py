"""CSV -> Parquet throughput and peak memory: wearfm ingest vs pandas vs bare polars.

Each variant runs in its own subprocess, which reports its wall time and peak RSS (its own plus its
children's, from getrusage). Datasets:

- ``sp-sw-har``: all 446 real CSV files of ../shared/data/sp-sw-har (or $WEARFM_DATA), if present.
- ``large``: a generated CSV of ``--rows`` rows (default 60,480,000 = 7 days at 100 Hz) with a Unix-ms time
  column, 3 accelerometer (g) and 3 gyroscope (deg/s) columns; written once under ``--tmp`` and reused.

Usage:
    python benchmarks/ingest.py                      # the full 60 M row file (~4 GB of CSV)
    python benchmarks/ingest.py --rows 2000000       # a quick run
    python benchmarks/ingest.py --skip-large         # the real files only

``wearfm-j2`` is ``wearfm ingest --jobs 2`` (threads for these small files; used for the many-file set only).

- ``actilife``: generated ActiLife RAW CSV exports (the 10-line header, column names, 3 decimals in g, no
  timestamp column) of ``--actilife-days`` days at 30 Hz each (default 1 and 7: peak memory should not grow
  with the file). ``wearfm`` detects the format by content; ``polars`` is a bare ``pl.read_csv(skip_rows=10)``
  and ``write_parquet`` of the same file. ``--repeats R`` runs the variants alternately R times (A B A B) and
  keeps each one's fastest run.

    python benchmarks/ingest.py --skip-real --skip-large --variants wearfm,polars --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("wearfm", "wearfm-j2", "polars", "pandas")


def data_dir() -> Path | None:
    env = os.environ.get("WEARFM_DATA")
    d = Path(env) if env else ROOT.parent / "shared" / "data"
    return d if (d / "sp-sw-har").is_dir() else None


def generate(path: Path, rows: int, chunk: int = 2_000_000) -> None:
    """Write the synthetic 100 Hz, 6-channel CSV in chunks (bounded memory)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    t0 = 1_700_000_000_000
    with open(tmp, "wb") as f:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            i = np.arange(start, start + n)
            s = i / 100.0
            df = pl.DataFrame(
                {
                    "time": t0 + i * 10,
                    "acc_x": (0.2 * np.sin(2 * np.pi * 1.8 * s) + 0.02 * rng.standard_normal(n)).astype(np.float32),
                    "acc_y": (0.1 * np.cos(2 * np.pi * 0.9 * s) + 0.02 * rng.standard_normal(n)).astype(np.float32),
                    "acc_z": (1.0 + 0.3 * np.sin(2 * np.pi * 1.8 * s) + 0.02 * rng.standard_normal(n)).astype(
                        np.float32
                    ),
                    "gyr_x": (30 * np.sin(2 * np.pi * 1.8 * s) + 5 * rng.standard_normal(n)).astype(np.float32),
                    "gyr_y": (5 * rng.standard_normal(n)).astype(np.float32),
                    "gyr_z": (5 * rng.standard_normal(n)).astype(np.float32),
                }
            )
            df.write_csv(f, include_header=start == 0, float_precision=4)
    tmp.replace(path)


ACTILIFE_HEADER = (
    "------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.4 Firmware v1.9.2 date format M/d/yyyy at 30 Hz"
    "  Filter Normal -----------\nSerial Number: MOS2E22180349\nStart Time 10:00:00\nStart Date 5/12/2021\n"
    "Epoch Period (hh:mm:ss) 00:00:00\nDownload Time 10:22:15\nDownload Date 5/19/2021\n"
    "Current Memory Address: 0\nCurrent Battery Voltage: 4.15     Mode = 12\n"
    "--------------------------------------------------\n"
)


def generate_actilife(path: Path, rows: int, chunk: int = 2_000_000) -> None:
    """Write a 30 Hz ActiLife RAW CSV export of ``rows`` samples in chunks (bounded memory)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(ACTILIFE_HEADER.encode())
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            s = np.arange(start, start + n) / 30.0
            walk = 0.3 * np.sin(2 * np.pi * 1.8 * s)
            df = pl.DataFrame(
                {
                    "Accelerometer X": (0.2 * walk + 0.02 * rng.standard_normal(n)).round(3),
                    "Accelerometer Y": (0.1 * np.cos(2 * np.pi * 0.9 * s) + 0.02 * rng.standard_normal(n)).round(3),
                    "Accelerometer Z": (-1.0 + walk + 0.02 * rng.standard_normal(n)).round(3),
                }
            )
            df.write_csv(f, include_header=start == 0, float_precision=3)
    tmp.replace(path)


def child(variant: str, inputs: list[str], out: str) -> None:
    """Run one variant in this process and print {'seconds', 'rows', 'peak_rss_mb'} as JSON."""
    t0 = time.perf_counter()
    rows = 0
    Path(out).mkdir(parents=True, exist_ok=True)
    if variant.startswith("wearfm"):
        sys.path.insert(0, str(ROOT))
        from wearfm.config import IngestConfig
        from wearfm.io.ingest import ingest

        fmt = "sp-sw-har" if "sp-sw-har" in variant else ("auto" if "actilife" in variant else "csv")
        jobs = 2 if variant.endswith("-j2") else 1
        cfg = IngestConfig(format=fmt, gyr_unit="deg/s" if fmt == "csv" else "rad/s", jobs=jobs)
        s = ingest(inputs, out, cfg)
        rows = s.rows
        if s.errors:
            raise SystemExit(f"wearfm errors: {s.errors[:3]}")
    elif variant.startswith("polars"):
        import polars as pl

        for i, f in enumerate(inputs):
            df = pl.read_csv(f, skip_rows=10 if "actilife" in variant else 0)
            rows += df.height
            df.write_parquet(f"{out}/{i}.parquet")
    elif variant == "pandas":
        import pandas as pd

        for i, f in enumerate(inputs):
            df = pd.read_csv(f)
            rows += len(df)
            df.to_parquet(f"{out}/{i}.parquet")
    seconds = time.perf_counter() - t0
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_kb / 1024}))


def measure(variant: str, inputs: list[str], out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    listing = out.with_suffix(".inputs.json")
    listing.write_text(json.dumps(inputs))
    r = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--inputs", str(listing), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    if r.returncode:
        raise SystemExit(f"{variant} failed:\n{r.stderr[-2000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=7 * 24 * 3600 * 100)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/wearfm-bench"))
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--skip-actilife", action="store_true")
    ap.add_argument("--actilife-days", default="1,7", help="comma list of file lengths in days (30 Hz)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each variant, alternating; the fastest is kept")
    ap.add_argument("--child")
    ap.add_argument("--inputs")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.child:
        child(a.child, json.loads(Path(a.inputs).read_text()), a.out)
        return
    a.tmp.mkdir(parents=True, exist_ok=True)
    variants = [v for v in a.variants.split(",") if v]
    sets: list[tuple[str, list[str], str]] = []
    d = data_dir()
    if d is not None and not a.skip_real:
        files = sorted(str(p) for p in (d / "sp-sw-har" / "DATA").rglob("s*_*_s[pw].csv"))
        sets.append(("sp-sw-har (446 files)", files, "wearfm-sp-sw-har"))
    if not a.skip_large:
        big = a.tmp / f"large_{a.rows}.csv"
        if not big.exists():
            print(f"generating {big} ({a.rows:,} rows)...", file=sys.stderr)
            t0 = time.perf_counter()
            generate(big, a.rows)
            print(f"  done in {time.perf_counter() - t0:.0f} s, {big.stat().st_size / 1e9:.2f} GB", file=sys.stderr)
        sets.append((f"generated {a.rows:,} rows, 6 ch ({big.stat().st_size / 1e9:.1f} GB)", [str(big)], "wearfm"))
    if not a.skip_actilife:
        for days in (float(x) for x in a.actilife_days.split(",") if x):
            rows = int(days * 86_400 * 30)
            f = a.tmp / f"actilife_{rows}.csv"
            if not f.exists():
                print(f"generating {f} ({rows:,} rows)...", file=sys.stderr)
                generate_actilife(f, rows)
            name = f"ActiLife RAW CSV, {days:g} d at 30 Hz ({f.stat().st_size / 1e9:.2f} GB)"
            sets.append((name, [str(f)], "wearfm-actilife"))
    print("| data | variant | rows | seconds | rows/s | peak RSS (MB) | vs polars | vs pandas |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, inputs, wearfm_variant in sets:
        res: dict[str, dict[str, float]] = {}
        for _ in range(a.repeats):
            for v in variants:
                if v == "wearfm-j2" and len(inputs) == 1:
                    continue  # one file is one job
                if v == "pandas" and "actilife" in wearfm_variant:
                    continue
                key = wearfm_variant + v[len("wearfm") :] if v.startswith("wearfm") else v
                if v == "polars" and "actilife" in wearfm_variant:
                    key = "polars-actilife"
                print(f"running {v} on {name}...", file=sys.stderr)
                r = measure(key, inputs, a.tmp / f"out_{v}")
                if v not in res or r["seconds"] < res[v]["seconds"]:
                    res[v] = r  # the faster run, with its own peak RSS
        for v, r in res.items():
            rate = r["rows"] / r["seconds"]
            rel = {k: rate / (res[k]["rows"] / res[k]["seconds"]) for k in ("polars", "pandas") if k in res}
            print(
                f"| {name} | {v} | {r['rows']:,} | {r['seconds']:.1f} | {rate:,.0f} | {r['peak_rss_mb']:.0f} | "
                f"{rel.get('polars', float('nan')):.2f}x | {rel.get('pandas', float('nan')):.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
