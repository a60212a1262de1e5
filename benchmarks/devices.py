"""Device-reader benchmark: samples/s and peak memory of wearfm vs scikit-digital-health and pygt3x.

Usage::

    python benchmarks/devices.py                       # shared files + 1- and 3-day synthetic files
    python benchmarks/devices.py --days 1 3 7 --ref-max-days 3

Multi-day files are made under ``--tmp`` (again whenever this script changes) by repeating real
blocks/records/pages of the shared files with advancing timestamps (CWA: rewritten block timestamps and
checksums, each block's timestamp anchor as in its source block; GT3X: ACTIVITY2 records with new seconds and
checksums; GENEActiv: pages with new page times). Every measurement runs in a fresh subprocess, timing the
read (wall clock, and the process's CPU time, which is steadier on a shared machine) and taking the process's
peak RSS. wearfm's readers are consumed chunk by chunk (as ``wearfm ingest`` does): decoded into Arrow
tables, nothing written; the reference readers build the whole recording in memory (their only mode).

The references are optional benchmark-only dependencies (``pip install scikit-digital-health pygt3x``);
when one is missing its columns say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WEARFM_DATA", ROOT.parent / "shared" / "data")) / "devices"
T1970 = 621_355_968_000_000_000


# ----------------------------------------------------------------------------------------- generators
def make_cwa(src: Path, dst: Path, days: float) -> None:
    """Repeat the data blocks of ``src`` (packed AX3), 120 samples per block, with rewritten timestamps.

    Each block keeps its source block's anchor (the sample its timestamp refers to: ``timestampOffset`` plus
    the fraction's share, 120-140 in real AX3 files, i.e. inside the next block) and gets the time of that
    sample on a 100 Hz clock, so decoders see the same anchor pattern as in a real recording.
    """
    data = src.read_bytes()
    blocks = np.frombuffer(data[1024:], dtype=np.uint8).reshape(-1, 512)
    freq = 3200 / (1 << (15 - (blocks[0, 24] & 15)))
    frac_src = blocks[:, 4:6].copy().view("<u2")[:, 0].astype(np.int64)
    frac_src = np.where(frac_src & 0x8000, (frac_src & 0x7FFF) << 1, 0)
    anchor = blocks[:, 26:28].copy().view("<i2")[:, 0].astype(np.int64) + ((frac_src * int(freq)) >> 16)
    n = int(days * 86400 * freq / 120)
    start = 1_600_000_000.0
    with open(dst, "wb") as f:
        f.write(data[:1024])
        for lo in range(0, n, 20000):
            k = np.arange(lo, min(n, lo + 20000))
            out = blocks[k % len(blocks)].copy()
            off = anchor[k % len(blocks)]
            t = start + (k * 120 + off) / freq
            whole = np.floor(t).astype(np.int64)
            frac16 = np.rint((t - whole) * 65536).astype(np.int64)
            carry = frac16 >= 65536  # rounded up to the next second
            whole, frac16 = whole + carry, np.where(carry, 0, frac16) & 0xFFFE
            dt = whole.astype("datetime64[s]")
            y = dt.astype("datetime64[Y]").astype(np.int64) + 1970
            mo = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
            d = (dt.astype("datetime64[D]") - dt.astype("datetime64[M]")).astype(np.int64) + 1
            sod = whole % 86400
            packed = (
                ((y - 2000) << 26) | (mo << 22) | (d << 17) | ((sod // 3600) << 12) | (sod // 60 % 60 << 6) | sod % 60
            )
            v = out.view("<u2")
            v[:, 2] = 0x8000 | (frac16 >> 1)
            out[:, 10:14] = k.astype("<u4").view(np.uint8).reshape(-1, 4)
            out[:, 14:18] = packed.astype("<u4").view(np.uint8).reshape(-1, 4)
            out[:, 26:28] = (off - ((frac16 * int(freq)) >> 16)).astype("<i2").view(np.uint8).reshape(-1, 2)
            v[:, 255] = 0
            v[:, 255] = (-v.sum(axis=1, dtype=np.uint16).astype(np.int64)) & 0xFFFF
            f.write(out.tobytes())


def make_gt3x(src: Path, dst: Path, days: float) -> None:
    """Repeat the ACTIVITY2 records of ``src`` as one record per second, with fresh checksums."""
    with zipfile.ZipFile(src) as zf:
        log = zf.read("log.bin")
        info = zf.read("info.txt").decode("utf-8-sig")
    pays, i = [], 0
    while i + 8 <= len(log):
        if log[i] != 0x1E:
            i += 1
            continue
        typ, size = log[i + 1], int.from_bytes(log[i + 6 : i + 8], "little")
        if typ == 0x1A and size == 180:
            pays.append(np.frombuffer(log[i + 8 : i + 8 + size], dtype=np.uint8))
        i += 9 + size
    pay = np.stack(pays)
    n = int(days * 86400)
    start = 1_600_000_000
    lines = [ln for ln in info.splitlines() if not ln.startswith(("Last Sample Time", "Stop Date", "Start Date"))]
    lines += [f"Start Date: {start * 10**7 + T1970}", f"Last Sample Time: {(start + n) * 10**7 + T1970}"]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("info.txt", "\n".join(lines) + "\n")
        with zf.open("log.bin", "w", force_zip64=True) as f:
            for lo in range(0, n, 50000):
                k = np.arange(lo, min(n, lo + 50000))
                rec = np.empty((len(k), 189), dtype=np.uint8)
                rec[:, 0], rec[:, 1] = 0x1E, 0x1A
                rec[:, 2:6] = (start + k).astype("<u4").view(np.uint8).reshape(-1, 4)
                rec[:, 6:8] = np.frombuffer((180).to_bytes(2, "little"), dtype=np.uint8)
                rec[:, 8:188] = pay[k % len(pay)]
                rec[:, 188] = ~np.bitwise_xor.reduce(rec[:, :188], axis=1)
                f.write(rec.tobytes())


def make_geneactiv(src: Path, dst: Path, days: float) -> None:
    """Repeat the pages of ``src`` with page times advancing by 300 samples per page."""
    text = src.read_bytes().decode("latin-1")
    head, *pages = text.split("Recorded Data")
    freq = float(pages[0].split("Measurement Frequency:")[1].split()[0])
    hexes = [p.strip().splitlines()[-1].strip() for p in pages]
    n = int(days * 86400 * freq / 300)
    head = head.replace(head.split("Number of Pages:")[1].splitlines()[0], str(n))
    start = np.datetime64("2020-01-01T00:00:00", "ms")
    with open(dst, "w", newline="") as f:
        f.write(head)
        for k in range(n):
            t = str(start + np.timedelta64(int(k * 300 / freq * 1000), "ms")).replace("T", " ")
            t = t[:19] + ":" + t[20:23]
            f.write(
                f"Recorded Data\r\nDevice Unique Serial Code:1\r\nSequence Number:{k}\r\nPage Time:{t}\r\n"
                f"Unassigned:\r\nTemperature:25.0\r\nBattery voltage:4.0\r\nDevice Status:Recording\r\n"
                f"Measurement Frequency:{freq}\r\n{hexes[k % len(hexes)]}\r\n"
            )


# ----------------------------------------------------------------------------------------- workers
def _status_mb(key: str) -> float:
    """VmHWM / VmRSS of this process in MB (ru_maxrss would inherit the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def worker(reader: str, fmt: str, path: str) -> dict:
    """Import the reader, then time one full read; peak memory includes the interpreter and imports."""
    if reader == "wearfm":
        sys.path.insert(0, str(ROOT))
        import importlib

        from wearfm.config import IngestConfig

        mod = importlib.import_module(f"wearfm.io.{fmt}")

        def run() -> int:
            chunks, _ = mod.read(Path(path), IngestConfig())
            return sum(t.num_rows for t in chunks)

    elif reader == "skdh":
        from skdh.io import ReadBin, ReadCwa

        def run() -> int:
            r = ReadCwa(ext_error="skip") if fmt == "cwa" else ReadBin(ext_error="skip")
            return len(r.predict(file=path)["time"])

    elif reader == "pygt3x":
        from pygt3x.reader import FileReader

        def run() -> int:
            with FileReader(path) as r:
                return len(r.to_pandas())

    else:
        raise ValueError(reader)
    base = _status_mb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    n = run()
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"samples": n, "seconds": sec, "cpu_seconds": cpu, "peak_mb": _status_mb("VmHWM"), "base_mb": base}


def measure(reader: str, fmt: str, path: Path, repeat: int = 1) -> dict | str:
    """Best (fastest) of ``repeat`` fresh-process runs; peak memory is the largest seen, CPU time the least."""
    cmd = [sys.executable, __file__, "--worker", reader, fmt, str(path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = []
    for _ in range(repeat):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode:
            last = (p.stderr.strip().splitlines() or ["failed"])[-1]
            return "n/a: " + last[:60]
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
    return best


def _mem(r: dict) -> str:
    return f"{r['peak_mb']:.0f} (+{r['peak_mb'] - r['base_mb']:.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, nargs="*", default=[1, 3])
    ap.add_argument("--ref-max-days", type=float, default=3, help="skip reference readers on longer files")
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/wearfm-bench-devices"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    args.tmp.mkdir(parents=True, exist_ok=True)
    ref_of = {"cwa": "skdh", "geneactiv": "skdh", "gt3x": "pygt3x"}
    cases: list[tuple[str, Path, float]] = []
    for f in sorted((DATA / "cwa").glob("*.cwa")):
        cases.append(("cwa", f, 0))
    for f in sorted((DATA / "gt3x").glob("*.gt3x")):
        cases.append(("gt3x", f, 0))
    cases.append(("geneactiv", DATA / "geneactiv" / "skdh_gnactv_sample.bin", 0))
    makers = {
        "cwa": (make_cwa, DATA / "cwa" / "ggirread_ax3_testfile.cwa", "cwa"),
        "gt3x": (make_gt3x, DATA / "gt3x" / "pygt3x_ISM_Disabled.gt3x", "gt3x"),
        "geneactiv": (make_geneactiv, DATA / "geneactiv" / "skdh_gnactv_sample.bin", "bin"),
    }
    for days in args.days:
        for fmt, (make, src, ext) in makers.items():
            dst = args.tmp / f"synthetic_{days:g}d.{ext}"
            if not dst.exists() or dst.stat().st_mtime < Path(__file__).stat().st_mtime:  # generators changed
                make(src, dst, days)
            cases.append((fmt, dst, days))
    print(
        "| format | file | MB | samples | wearfm s | wearfm Msamples/s | wearfm peak MB (+read) | reference "
        "| ref s | ref Msamples/s | ref peak MB (+read) | speed-up | CPU-time speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for fmt, path, days in cases:
        ours = measure("wearfm", fmt, path, args.repeat)
        ref_name = ref_of[fmt]
        ref = measure(ref_name, fmt, path, args.repeat) if days <= args.ref_max_days else "skipped (--ref-max-days)"
        size = path.stat().st_size / 2**20
        if isinstance(ours, str):
            print(f"| {fmt} | {path.name} | {size:.1f} | | {ours} | | | {ref_name} | | | | | |")
            continue
        row = (
            f"| {fmt} | {path.name} | {size:.1f} | {ours['samples']:,} | {ours['seconds']:.2f} | "
            f"{ours['samples'] / ours['seconds'] / 1e6:.2f} | {_mem(ours)} | {ref_name} | "
        )
        if isinstance(ref, str):
            row += f"{ref} | | | | |"
        else:
            row += (
                f"{ref['seconds']:.2f} | {ref['samples'] / ref['seconds'] / 1e6:.2f} | {_mem(ref)} | "
                f"{ref['seconds'] / ours['seconds']:.1f}x | {ref['cpu_seconds'] / ours['cpu_seconds']:.1f}x |"
            )
        print(row, flush=True)


if __name__ == "__main__":
    main()
