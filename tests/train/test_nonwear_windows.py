"""Windows that overlap non-wear marked at ingest are left out of pretraining (and counted in run.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests._helpers.synth import T0, write_dataset
from wearfm.config import PretrainConfig
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import entry_from_file, write_manifest
from wearfm.io.schema import encode_metadata
from wearfm.train import pretrain


def _mark(root: Path, name: str, spans: list[list[int]]) -> None:
    """Record non-wear spans in a recording's metadata, as `ingest --nonwear mark` does."""
    path = root / name
    table = pq.read_table(path)
    meta = {k.decode(): v for k, v in (table.schema.metadata or {}).items()}
    extra = encode_metadata({"nonwear": {"mode": "mark", "wear_s": 50.0, "nonwear_s": 10.0, "spans_ns": spans}})
    pq.write_table(table.replace_schema_metadata({**{k.encode(): v for k, v in meta.items()}, **extra}), path)
    write_manifest(root, [entry_from_file(p, root) for p in sorted(root.glob("s*.parquet"))])


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    root = write_dataset(tmp_path / "d", subjects=2, seconds=60)
    _mark(root, "s00.parquet", [[T0 + 20 * 10**9, T0 + 30 * 10**9]])  # subject 0, seconds 20-30
    return root


def test_load_windows_skips_overlapping_windows(marked: Path) -> None:
    ws = load_windows(marked, rate_hz=30.0, window=150)  # 5 s windows: 12 per recording
    kept = load_windows(marked, rate_hz=30.0, window=150, nonwear="keep")
    assert len(kept) == 24 and kept.nonwear_skipped == 0
    assert ws.nonwear_skipped == 2 and len(ws) == 22  # [20, 25) and [25, 30); [15, 20) only touches the span
    starts = (ws.start_ns[ws.recording == 0] - T0) / 1e9
    assert not ((starts >= 19.9) & (starts < 30)).any() and 15.0 in starts.round(3) and 30.0 in starts.round(3)
    with pytest.raises(ConfigError, match="'skip' or 'keep'"):
        load_windows(marked, rate_hz=30.0, window=150, nonwear="drop")


def test_all_windows_in_nonwear_is_a_clear_error(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", subjects=1, seconds=60)
    _mark(root, "s00.parquet", [[T0, T0 + 61 * 10**9]])
    with pytest.raises(DataError, match="nonwear=keep"):
        load_windows(root, rate_hz=30.0, window=150)


def test_pretrain_records_skipped_windows(marked: Path, tmp_path: Path, toy_method: str) -> None:
    common = dict(data=str(marked), method=toy_method, encoder="resnet1d_tiny", window_s=5.0, batch_size=4)
    pretrain(PretrainConfig(out=str(tmp_path / "a"), max_steps=1, **common))  # type: ignore[arg-type]
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["dataset"]["nonwear_skipped"] == 2 and run["dataset"]["windows"] == 22
    pretrain(PretrainConfig(out=str(tmp_path / "b"), max_steps=1, nonwear="keep", **common))  # type: ignore[arg-type]
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["dataset"]["nonwear_skipped"] == 0 and run["dataset"]["windows"] == 24
