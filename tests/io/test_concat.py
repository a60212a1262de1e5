"""Multi-file recordings (--concat): files of one subject joined in start-time order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._helpers.signals import make_accel
from wearfm.config import IngestConfig
from wearfm.errors import DataError
from wearfm.io.ingest import ingest
from wearfm.io.manifest import read_manifest

T0_MS = 1_700_000_000_000
HZ = 20


def write_part(path: Path, start_ms: int, seconds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = make_accel(seconds, HZ, seed=seed).astype(np.float64)
    t = start_ms + np.arange(len(x)) * (1000 // HZ)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["time,ax,ay,az"] + [f"{t[i]},{x[i, 0]:.6f},{x[i, 1]:.6f},{x[i, 2]:.6f}" for i in range(len(x))]
    path.write_text("\n".join(lines) + "\n")
    return t * 1_000_000, x


def test_concat_joins_files_in_time_order(tmp_path):
    raw = tmp_path / "nhanes"
    # path order (a, b, c) differs from time order (b, c, a); each file follows the previous by one sample
    tb, xb = write_part(raw / "12345" / "a_hour.csv", T0_MS, 10, 0)
    tc, xc = write_part(raw / "12345" / "b_hour.csv", T0_MS + 10_000, 10, 1)
    ta, xa = write_part(raw / "12345" / "c_hour.csv", T0_MS + 20_000, 10, 2)
    write_part(raw / "67890" / "a_hour.csv", T0_MS, 10, 3)
    cfg = IngestConfig(concat=True, subject_from="path:-2")
    s = ingest([raw], tmp_path / "d", cfg)
    entries = {e.subject: e for e in read_manifest(tmp_path / "d")}
    assert s.recordings == 2 and set(entries) == {"12345", "67890"}
    e = entries["12345"]
    assert e.samples == 3 * 10 * HZ and e.path == "12345/a_hour.parquet"
    t = pq.read_table(tmp_path / "d" / e.path)
    np.testing.assert_array_equal(t.column("time").cast(pa.int64()).to_numpy(), np.concatenate([tb, tc, ta]))
    got = np.column_stack([t.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")])
    np.testing.assert_allclose(got, np.concatenate([xb, xc, xa]), atol=2e-6)
    # without --concat: one recording per file
    s = ingest([raw], tmp_path / "d2", IngestConfig(subject_from="path:-2"))
    assert s.recordings == 4


def test_concat_gap_still_splits(tmp_path):
    raw = tmp_path / "raw"
    write_part(raw / "s1" / "p1.csv", T0_MS, 10, 0)
    write_part(raw / "s1" / "p2.csv", T0_MS + 60_000, 10, 1)  # 50 s after the first file ends
    s = ingest([raw], tmp_path / "d", IngestConfig(concat=True, subject_from="path:-2"))
    paths = sorted(e.path for e in read_manifest(tmp_path / "d"))
    assert s.recordings == 2 and paths == ["p1.seg000.parquet", "p1.seg001.parquet"]
    s = ingest([raw], tmp_path / "d3", IngestConfig(concat=True, subject_from="path:-2", max_gap_s=60))
    assert s.recordings == 1


def test_concat_overlap_names_both_files(tmp_path):
    raw = tmp_path / "raw"
    write_part(raw / "s1" / "p1.csv", T0_MS, 10, 0)
    write_part(raw / "s1" / "p2.csv", T0_MS + 5_000, 10, 1)
    with pytest.raises(DataError, match=r"p2\.csv starts at .* before .*p1\.csv ends .* overlap"):
        ingest([raw], tmp_path / "d", IngestConfig(concat=True, subject_from="path:-2"))


def test_cli_concat(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from wearfm.cli import app

    monkeypatch.chdir(tmp_path)
    write_part(Path("nhanes/12345/h01.csv"), T0_MS, 10, 0)
    write_part(Path("nhanes/12345/h02.csv"), T0_MS + 10_000, 10, 1)
    args = ["ingest", "nhanes/12345/*.csv", "--concat", "--subject-from", "path:1", "--out", "d", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (e,) = read_manifest(tmp_path / "d")
    assert e.subject == "12345" and e.samples == 2 * 10 * HZ


def test_concat_groups_stay_whole_across_shards(tmp_path):
    from wearfm.io.shard import merge_parts

    raw = tmp_path / "raw"
    for s in range(6):
        for h in range(3):
            write_part(raw / f"p{s}" / f"h{h}.csv", T0_MS + h * 10_000, 10, 10 * s + h)
    cfg = IngestConfig(concat=True, subject_from="path:-2")
    single = ingest([raw], tmp_path / "single", cfg)
    for k in (1, 2, 3):
        ingest([raw], tmp_path / "sharded", IngestConfig(concat=True, subject_from="path:-2", shard=f"{k}/3"))
    report = merge_parts(tmp_path / "sharded")
    assert report.ok and report.recordings == single.recordings == 6
    a = read_manifest(tmp_path / "single")
    b = read_manifest(tmp_path / "sharded")
    assert a == b and all(e.samples == 3 * 10 * HZ for e in b)
