"""Sharded ingest (--shard K/N) and the merge of the manifest parts (wearfm manifest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests._helpers.text import write_csv
from wearfm.cli import app
from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, DataError
from wearfm.io.ingest import ingest
from wearfm.io.manifest import list_recordings, part_name, read_manifest
from wearfm.io.shard import merge_parts, parse_shard, shard_of

ROOT = Path(__file__).resolve().parents[2]


def make_inputs(root: Path, n: int = 40) -> Path:
    raw = root / "raw"
    for i in range(n):
        d = raw / f"s{i % 7:02d}"
        d.mkdir(parents=True, exist_ok=True)
        write_csv(d / f"rec{i:03d}.csv", seconds=3, hz=25, seed=i)
    return raw


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*.parquet"))
        if not p.name.startswith("manifest")
    }


def rows(root: Path) -> list[dict]:
    return pq.ParquetFile(root / "manifest.parquet").read().to_pylist()


def test_parse_shard():
    assert parse_shard("3/64") == (3, 64)
    for bad in ("0/4", "5/4", "4", "a/b", "1/0"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)


def test_shard_rule_is_a_partition_and_stable():
    names = [f"s{i % 7:02d}/rec{i:03d}" for i in range(1000)]
    shards = [shard_of(n, 8) for n in names]
    assert set(shards) == set(range(1, 9))
    assert shards == [shard_of(n, 8) for n in reversed(names)][::-1]  # independent of the list's order
    assert shard_of("a/b", 8) == shard_of("a\\b", 8)


def test_four_shard_processes_equal_one_run(tmp_path):
    raw = make_inputs(tmp_path)
    single = tmp_path / "single"
    ingest([str(raw)], single, IngestConfig())
    sharded = tmp_path / "sharded"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "wearfm", "ingest", str(raw), "--out", str(sharded), "--shard", f"{k}/4", "-q"],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
        )
        for k in range(1, 5)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    assert not (sharded / "manifest.parquet").exists()
    assert sorted(p.name for p in sharded.glob("manifest.*")) == [part_name(k, 4) for k in range(1, 5)]
    parts = [read_manifest(sharded, part_name(k, 4)) for k in range(1, 5)]
    assert sum(len(p) for p in parts) == 40 and all(parts)
    report = merge_parts(sharded)
    assert report.ok and report.written and report.recordings == 40
    assert files(sharded) == files(single)  # the same bytes, file for file
    assert rows(sharded) == rows(single)
    root, entries = list_recordings(sharded)  # what info, pretrain and probe read
    assert len(entries) == 40


def test_merge_reports_missing_duplicates_and_unlisted(tmp_path):
    raw = make_inputs(tmp_path, 12)
    out = tmp_path / "d"
    for k in (1, 2, 3):
        ingest([str(raw)], out, IngestConfig(shard=f"{k}/4"))
    report = merge_parts(out)
    assert report.missing_shards == [4] and not report.written
    assert not (out / "manifest.parquet").exists()
    ingest([str(raw)], out, IngestConfig(shard="4/4"))
    (out / "stray.parquet").write_bytes((out / next(iter(files(out)))).read_bytes())
    report = merge_parts(out)
    assert report.unlisted_recordings == ["stray.parquet"] and not report.written
    (out / "stray.parquet").unlink()
    # a part listing another part's recording
    import shutil

    shutil.copy(out / part_name(1, 4), out / part_name(2, 4))
    report = merge_parts(out)
    assert report.duplicate_recordings and not report.written


def test_merge_without_parts_and_cli(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no manifest parts"):
        merge_parts(tmp_path / "empty")
    r = CliRunner().invoke(app, ["manifest", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "no manifest parts" in r.output
    r = CliRunner().invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "o"), "--shard", "0/4"])
    assert r.exit_code == 1 and "--shard 0/4" in r.output
    raw = make_inputs(tmp_path, 6)
    out = tmp_path / "ds"
    for k in (1, 2):
        r = CliRunner().invoke(app, ["ingest", str(raw), "--out", str(out), "--shard", f"{k}/2", "-q"])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["manifest", str(out), "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["info", str(out), "--json"])
    assert r.exit_code == 0 and '"recordings": 6' in r.output
