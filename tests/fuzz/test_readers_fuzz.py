"""Seeded mutation fuzzing of every reader (a small sample by default, the full run with ``--runslow``).

Every mutated real file must ingest into valid data or fail with one clean line; see ``harness.py`` for the
outcomes and ``benchmarks/fuzz.py`` for the full, repeatable run that prints the table in docs/reliability.md.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

import pytest

from tests._helpers.fuzz_harness import DEFECTS, READERS, cases, data_dir, run_case

SAMPLE = 50  # cases per reader in the default run (9 readers: 450 inputs)
FULL = 1000  # cases per reader with --runslow
MAX_RSS_BYTES = 3 * 2**30  # peak memory of the test process after fuzzing

pytestmark = pytest.mark.skipif(data_dir() is None, reason="real data not found: set WEARFM_DATA or ../shared/data")


def _fuzz(reader: str, n: int, seed: int, full: bool, work: Path) -> None:
    logging.getLogger("wearfm").setLevel(logging.ERROR)  # damaged files log warnings by design
    bad = []
    kinds: dict[str, int] = {}
    for c in cases(reader, n, seed, full):
        o = run_case(c, work)
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
        if o.kind in DEFECTS:
            bad.append(f"{o.case} [{o.mutation}] {o.kind}: {o.detail[:300]}")
    assert not bad, f"{len(bad)} defect(s) of {n} ({kinds}); rerun one with python benchmarks/fuzz.py --case ID:\n" + (
        "\n".join(bad[:10])
    )
    assert kinds.get("ok", 0) + kinds.get("error", 0) == n
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < MAX_RSS_BYTES


@pytest.mark.parametrize("reader", READERS)
def test_fuzz_sample(reader: str, tmp_path: Path) -> None:
    _fuzz(reader, SAMPLE, seed=0, full=False, work=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("reader", READERS)
def test_fuzz_full(reader: str, tmp_path: Path) -> None:
    _fuzz(reader, FULL, seed=1, full=True, work=tmp_path)
