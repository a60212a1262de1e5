"""Benchmark the out-of-core window store on a generated cohort larger than a memory cap.

For each cohort size (recordings of ``--hours`` each, 3-axis accelerometer at ``--hz``), in child processes
(optionally under ``prlimit --data``, a cap on private address space: heap, anonymous maps and thread stacks; read-only
file maps are not counted; Arrow's scanner threads can stall when that cap denies them memory, so by default no cap is
set and the peaks below are what to compare):

- ``bare``: read every Parquet file's time and accelerometer columns, one at a time (the rate to beat);
- ``build``: ``load_windows(..., cache_dir=...)`` into an empty cache (streaming store build);
- ``train``: ``wearfm.train.pretrain`` for ``--steps`` SimCLR steps from the built store;
- ``inmem``: ``load_windows`` without a cache (every recording held, then concatenated), for comparison;
- ``loader``: windows/s a DataLoader gathers from the memory map (random order), with the store's pages dropped
  from the page cache first (``posix_fadvise(DONTNEED)``, cold) and again once read (warm).

Children use Arrow's system memory pool (its default pool reserves address space a data cap would count).
Each child reports seconds, peak RSS (``VmHWM``: includes touched pages of memory-mapped files) and peak private
memory (``RssAnon``, sampled every 20 ms). Usage (from the repository root)::

    python benchmarks/store.py --work /tmp/wfbench --recordings 10,40 --hours 12 --hz 50 --skip-inmem-above 10
    python benchmarks/store.py --work /tmp/wfbench --clean      # delete the generated cohort and stores
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wearfm.io.manifest import entry_from_file, write_manifest  # noqa: E402
from wearfm.io.schema import ACC, SCHEMA_VERSION, encode_metadata, schema_for  # noqa: E402

T0_NS = 1_700_000_000 * 10**9


def generate(root: Path, n: int, hours: float, hz: float) -> None:
    """``n`` one-subject recordings of ``hours`` at ``hz``: gravity on z, a gait-like sway and noise (in g)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    samples = int(hours * 3600 * hz)
    t = np.arange(samples, dtype=np.float64) / hz
    times = pa.array(T0_NS + np.round(t * 1e9).astype(np.int64), pa.timestamp("ns"))
    sway = (0.3 * np.sin(2 * np.pi * 1.8 * t)).astype(np.float32)
    paths = []
    for s in range(n):
        p = root / f"p{s:05d}.parquet"
        paths.append(p)
        if p.exists():
            continue
        v = 0.05 * rng.standard_normal((3, samples), dtype=np.float32)
        v[2] += 1.0 + sway
        meta = {
            "schema_version": SCHEMA_VERSION, "subject": f"P{s:05d}", "device": "synthetic", "placement": "wrist",
            "sample_rate_measured_hz": hz, "time_reference": "utc", "acc_unit": "g",
        }  # fmt: skip
        schema = schema_for(["time", *ACC]).with_metadata(encode_metadata(meta))
        pq.write_table(pa.Table.from_arrays([times, *(pa.array(x) for x in v)], schema=schema), p)
    write_manifest(root, [entry_from_file(p, root) for p in paths])


def subset(src: Path, dst: Path, n: int) -> None:
    """A dataset of the first ``n`` recordings of ``src`` (symbolic links, own manifest)."""
    dst.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in sorted(src.glob("p*.parquet"))[:n]:
        q = dst / p.name
        if not q.exists():
            q.symlink_to(p)
        paths.append(q)
    write_manifest(dst, [entry_from_file(p, dst) for p in paths])


def drop_cache(files: list[Path]) -> None:
    """Drop these files' pages from the page cache (only theirs), so the next read is from disk."""
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


class _Peak:
    """Samples ``RssAnon`` every 20 ms in a thread; ``VmHWM`` gives the peak RSS at the end."""

    def __init__(self) -> None:
        self.anon_kb = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.anon_kb = max(self.anon_kb, _status("RssAnon"))

    def done(self) -> dict[str, float]:
        self._stop.set()
        self._t.join()
        self.anon_kb = max(self.anon_kb, _status("RssAnon"))
        return {"peak_rss_gb": _status("VmHWM") / 1e6, "peak_anon_gb": self.anon_kb / 1e6}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured phase, in this (capped) process."""
    import torch

    torch.set_num_threads(args.threads)
    from wearfm.data.windows import load_windows

    data, cache = Path(args.data), Path(args.cache)
    window = int(round(args.window_s * args.hz))
    peak = _Peak()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"phase": args.phase}
    try:
        if args.phase == "bare":
            n = nbytes = 0
            for f in sorted(data.glob("p*.parquet")):
                tab = pq.read_table(f, columns=["time", *ACC])
                n += tab.num_rows
                nbytes += f.stat().st_size
                del tab
            out.update(samples=n, file_gb=nbytes / 1e9)
        elif args.phase in ("build", "inmem"):
            ws = load_windows(data, rate_hz=args.hz, window=window, cache_dir=cache if args.phase == "build" else None)
            out.update(samples=int(ws.data.shape[1]), windows=len(ws), store_gb=ws.data.shape[1] * 3 * 4 / 1e9)
        elif args.phase == "train":
            from wearfm.config import PretrainConfig
            from wearfm.train import pretrain

            cfg = PretrainConfig(
                data=str(data), out=str(cache.parent / f"run-{time.time_ns()}"), method="simclr", encoder="cnn_gru",
                rate_hz=args.hz, window_s=args.window_s, batch_size=args.batch, max_steps=args.steps, log_every=1,
                cache_dir=str(cache), device="cpu", normalize=True,
            )  # fmt: skip
            r = pretrain(cfg)
            out.update(steps=r.steps, windows=r.windows, train_windows_per_s=r.windows_per_s, load_s=r.load_s)
        elif args.phase == "loader":
            from torch.utils.data import DataLoader

            from wearfm.data.dataset import EpochSampler, WindowDataset

            ws = load_windows(data, rate_hz=args.hz, window=window, cache_dir=cache)
            store_files = sorted(cache.glob("*/shard-*.f32"))
            for label in ("cold", "warm"):
                if label == "cold":
                    drop_cache(store_files)
                dl = DataLoader(WindowDataset(ws), batch_size=args.batch,
                                sampler=EpochSampler(len(ws), args.batch, seed=1), num_workers=0)  # fmt: skip
                t1, got = time.perf_counter(), 0
                for k, b in enumerate(dl):
                    got += len(b["x"])
                    if k + 1 == args.loader_batches:
                        break
                out[f"{label}_windows_per_s"] = got / (time.perf_counter() - t1)
    except MemoryError as e:
        out["error"] = f"MemoryError: {e}"
    out["seconds"] = time.perf_counter() - t0
    out.update(peak.done())
    return out


def run_child(args: argparse.Namespace, phase: str, data: Path, cache: Path) -> dict[str, Any]:
    cap = ["prlimit", f"--data={int(args.cap_gb * 1e9)}"] if args.cap_gb > 0 else []
    cmd = [
        *cap, sys.executable, __file__, "--phase", phase, "--data", str(data), "--cache",
        str(cache), "--hz", str(args.hz), "--window-s", str(args.window_s), "--batch", str(args.batch), "--steps",
        str(args.steps), "--threads", str(args.threads), "--loader-batches", str(args.loader_batches),
    ]  # fmt: skip
    p = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"phase": phase, "error": f"exit {p.returncode}: {tail}"}
    return dict(json.loads(lines[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/wearfm-store-bench"))
    ap.add_argument("--recordings", default="10,40", help="comma list of cohort sizes (the largest is generated)")
    ap.add_argument("--hours", type=float, default=24.0, help="hours per recording")
    ap.add_argument("--hz", type=float, default=50.0, help="sample rate of the recordings and of the model")
    ap.add_argument("--window-s", type=float, default=10.0)
    ap.add_argument("--cap-gb", type=float, default=0.0, help="prlimit --data for every phase (0: no cap)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--loader-batches", type=int, default=200)
    ap.add_argument("--child-timeout", type=float, default=900, help="seconds before a phase is abandoned")
    ap.add_argument("--skip-inmem-above", type=int, default=10**9, help="in-memory path up to N recordings")
    ap.add_argument("--clean", action="store_true", help="delete --work and exit")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(child(args)))
        return
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)
        return
    sizes = [int(x) for x in args.recordings.split(",")]
    full = args.work / f"cohort{max(sizes)}"
    t0 = time.perf_counter()
    generate(full, max(sizes), args.hours, args.hz)
    print(f"cohort: {max(sizes)} x {args.hours:g} h at {args.hz:g} Hz in {full} ({time.perf_counter() - t0:.0f} s)")
    rows = []
    for n in sizes:
        data = full if n == max(sizes) else args.work / f"cohort{n}"
        if data != full:
            subset(full, data, n)
        cache = args.work / f"cache{n}"
        shutil.rmtree(cache, ignore_errors=True)
        phases = ["bare", "build", "bare", "train", "loader"] + (["inmem"] if n <= args.skip_inmem_above else [])
        for phase in phases:
            r = run_child(args, phase, data, cache)
            r["recordings"] = n
            rows.append(r)
            print(json.dumps(r), flush=True)
    res = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"largest child peak RSS (ru_maxrss): {res.ru_maxrss / 1e6:.2f} GB")
    (args.work / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
