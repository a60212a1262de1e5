"""Reader fuzzing, the full repeatable run: mutated real files through ``ingest``, outcomes per reader.

Usage::

    python benchmarks/fuzz.py                          # 1000 cases per reader, seed 1, 2 worker processes
    python benchmarks/fuzz.py --n 200 --readers gt3x cwa --seed 3
    python benchmarks/fuzz.py --case gt3x:1:17 --save /tmp/case.gt3x     # rerun (and keep) one case

Cases are built by ``tests/_helpers/fuzz_harness.py`` from the shared real files (``$WEARFM_DATA`` or
``../shared/data``): a case id ``reader:seed:index`` gives the same bytes on every machine. Each case is
ingested in a worker process whose address space is capped (``--mem-limit-gb``: a MemoryError counts as
``memory``) under a per-file time limit (``--time-limit``: ``hang``). The table counts, per reader, the
inputs tried, successes whose invariants hold, clean one-line errors, and each kind of defect (tracebacks,
hangs, memory, partial outputs, changed earlier outputs, broken invariants); defects are listed below it.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._helpers.fuzz_harness import DEFECTS, READERS, case, run_case, sources  # noqa: E402

_WORK: Path | None = None
_SOURCES: dict[tuple[str, bool], list[Any]] = {}


def _init(mem_gb: float, work: str) -> None:
    global _WORK
    if mem_gb > 0:
        lim = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    logging.disable(logging.WARNING)  # damaged files log warnings by design
    _WORK = Path(tempfile.mkdtemp(dir=work))


def _one(job: tuple[str, int, int, bool, float]) -> dict[str, Any]:
    reader, index, seed, full, limit = job
    assert _WORK is not None
    key = (reader, full)
    if key not in _SOURCES:
        _SOURCES[key] = sources(reader, full)
    out: dict[str, Any]
    try:
        c = case(reader, index, seed, full, _SOURCES[key])
        o = run_case(c, _WORK, limit)
        out = {"reader": reader, "case": o.case, "mutation": o.mutation, "kind": o.kind, "detail": o.detail}
        out["seconds"] = o.seconds
    except MemoryError:
        out = {"reader": reader, "case": f"{reader}:{seed}:{index}", "mutation": "?", "kind": "memory", "detail": ""}
        out["seconds"] = 0.0
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="cases per reader")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--readers", nargs="+", default=list(READERS), choices=READERS)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--mem-limit-gb", type=float, default=4.0, help="address-space cap of each worker (0: none)")
    ap.add_argument("--small", action="store_true", help="leave out the 3 MB GT3X file (as the default test does)")
    ap.add_argument("--json", type=Path, help="also write every outcome to this file")
    ap.add_argument("--case", help="run one case, reader:seed:index, and print its outcome")
    ap.add_argument("--save", type=Path, help="with --case: write the mutated input here")
    a = ap.parse_args()
    full = not a.small
    if a.case:
        reader, seed, index = a.case.split(":")
        c = case(reader, int(index), int(seed), full)
        if a.save:
            a.save.write_bytes(c.data)
        with tempfile.TemporaryDirectory() as d:
            o = run_case(c, Path(d), a.time_limit)
        print(json.dumps({"case": o.case, "file": c.name, "mutation": o.mutation, "kind": o.kind, "detail": o.detail}))
        return
    jobs = [(r, i, a.seed, full, a.time_limit) for r in a.readers for i in range(a.n)]
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as work:
        ctx = mp.get_context("forkserver")
        with ctx.Pool(a.jobs, initializer=_init, initargs=(a.mem_limit_gb, work), maxtasksperchild=200) as pool:
            for k, res in enumerate(pool.imap_unordered(_one, jobs, chunksize=4)):
                results.append(res)
                if (k + 1) % 500 == 0:
                    print(f"  {k + 1}/{len(jobs)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    wall = time.perf_counter() - t0
    cols = ["ok", "error", *DEFECTS]
    print(f"seed {a.seed}, {a.n} cases per reader, {a.jobs} workers, {wall:.0f} s wall\n")
    print(
        "| reader | inputs | successes | clean errors | tracebacks | hangs | memory | partial outputs | "
        "changed earlier | broken invariants | slowest (s) | peak RSS (MB) |"
    )
    print("|---|" + "---|" * 11)
    for r in a.readers:
        rs = [x for x in results if x["reader"] == r]
        n = {k: sum(x["kind"] == k for x in rs) for k in cols}
        slow = max((x["seconds"] for x in rs), default=0.0)
        rss = max((x["rss_mb"] for x in rs), default=0.0)
        print(f"| {r} | {len(rs)} | " + " | ".join(str(n[k]) for k in cols) + f" | {slow:.2f} | {rss:.0f} |")
    bad = [x for x in results if x["kind"] in DEFECTS]
    if bad:
        print(f"\n{len(bad)} defect(s):")
        for x in sorted(bad, key=lambda x: x["case"])[:50]:
            print(f"  {x['case']} [{x['mutation']}] {x['kind']}: {x['detail'][:300]}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
