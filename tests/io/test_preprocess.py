from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wearfm.config import IngestConfig
from wearfm.errors import ConfigError
from wearfm.io import preprocess
from wearfm.io.manifest import entry_from_file
from wearfm.io.preprocess import check_signal_options, preprocess_recording
from wearfm.io.schema import ACC, read_metadata, schema_for
from wearfm.io.writer import write_recording
from wearfm.qc import dataset_qc
from wearfm.signal.simulate import WeekSpec, simulate_week

SPEC = WeekSpec(days=2, rate_hz=2.0, seed=5, nonwear_h=((34.0, 3.0),))


@pytest.fixture(scope="module")
def two_days() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return simulate_week(SPEC)


def _write(path: Path, t: np.ndarray, xyz: np.ndarray, labels: bool = False, version: str = "2") -> Path:
    cols = {"time": pa.array(t).cast(pa.timestamp("ns")), **{c: pa.array(xyz[:, i]) for i, c in enumerate(ACC)}}
    if labels:
        cols["label"] = pa.array(np.where(np.arange(len(t)) % 3 == 0, "walk", "sit")).dictionary_encode()
    table = pa.table(cols, schema=schema_for(list(cols)))
    return write_recording(path, table, {"schema_version": version, "subject": "s1", "device_range_g": 8.0})


def _run(path: Path, **kw: object) -> list:
    return preprocess_recording(path, IngestConfig(**kw), entry_from_file(path, path.parent), path.parent)  # type: ignore[arg-type]


def test_mark_calibrates_and_marks_like_the_truth(tmp_path: Path, two_days: tuple) -> None:
    t, xyz, truth = two_days
    p = _write(tmp_path / "rec.parquet", t, xyz, labels=True)
    (entry,) = _run(p, calibrate=True, nonwear="mark")
    meta = read_metadata(p)
    assert meta["schema_version"] == "2" and meta["columns"][-2:] == ["label", "nonwear"]
    cal = meta["calibration"]
    assert cal["applied"] and np.abs(np.asarray(cal["offset"]) - SPEC.offset).max() < 0.005
    got = pq.read_table(p)
    nw = got.column("nonwear").to_numpy()
    assert nw[truth].mean() >= 0.95 and nw[~truth].mean() <= 0.01
    assert meta["nonwear"]["episodes"] == 1 and entry.nonwear_s == pytest.approx(meta["nonwear"]["nonwear_s"])
    assert entry.wear_s == pytest.approx(entry.duration_s - entry.nonwear_s)
    raw = np.column_stack([xyz[:, k].astype(np.float64) for k in range(3)])
    want = (np.asarray(cal["offset"]) + np.asarray(cal["gain"]) * raw).astype(np.float32)
    np.testing.assert_array_equal(np.column_stack([got.column(c).to_numpy() for c in ACC]), want)
    assert got.column("label").to_pylist()[:3] == ["walk", "sit", "sit"] and got.num_rows == len(t)
    assert meta["clipping"] == {"range_g": 8.0, "threshold_g": pytest.approx(7.92), "samples": 0}


def test_small_batches_give_the_same_file(tmp_path: Path, two_days: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    t, xyz, _ = two_days
    a = _write(tmp_path / "a" / "rec.parquet", t, xyz)
    b = _write(tmp_path / "b" / "rec.parquet", t, xyz)
    _run(a, calibrate=True, nonwear="mark")
    monkeypatch.setattr(preprocess, "_BATCH_ROWS", 7_777)  # row groups and passes in many small pieces
    _run(b, calibrate=True, nonwear="mark")
    assert pq.ParquetFile(b).metadata.num_row_groups > 1
    assert pq.read_table(a).equals(pq.read_table(b))
    ma, mb = read_metadata(a), read_metadata(b)
    assert ma["nonwear"] == mb["nonwear"] and ma["calibration"] == mb["calibration"]


def test_drop_splits_at_nonwear(tmp_path: Path, two_days: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    t, xyz, truth = two_days
    p = _write(tmp_path / "rec.parquet", t, xyz)
    monkeypatch.setattr(preprocess, "_BATCH_ROWS", 50_000)
    entries = _run(p, nonwear="drop")
    assert [e.path for e in entries] == ["rec.part000.parquet", "rec.part001.parquet"] and not p.exists()
    times = np.concatenate(
        [pq.read_table(tmp_path / e.path).column("time").cast(pa.int64()).to_numpy() for e in entries]
    )
    kept = np.isin(t, times)
    assert kept[~truth].mean() > 0.99 and not kept[truth][10:-10].any()
    meta = read_metadata(tmp_path / entries[1].path)
    assert meta["nonwear"]["dropped_s"] == pytest.approx(3 * 3600, abs=600) and "nonwear" not in meta["columns"]
    assert sum(e.samples for e in entries) == len(times)
    qc = dataset_qc(tmp_path)
    assert qc["summary"]["nonwear_hours"] == pytest.approx(3.0, abs=0.2) and qc["summary"]["gaps"] == 0


def test_drop_keeps_the_name_of_a_recording_worn_throughout(tmp_path: Path, two_days: tuple) -> None:
    t, xyz, truth = two_days
    p = _write(tmp_path / "rec.parquet", t[~truth][:100_000], xyz[~truth][:100_000])
    (entry,) = _run(p, nonwear="drop")
    assert entry.path == "rec.parquet" and p.exists() and entry.nonwear_s == 0.0


def test_refused_calibration_leaves_values_unchanged(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 2 * 3600 * 2
    t = np.arange(n, dtype=np.int64) * 500_000_000
    xyz = (np.array([0.0, 0.02, 1.03]) + rng.normal(0, 0.003, (n, 3))).astype(np.float32)  # face up only
    p = _write(tmp_path / "rec.parquet", t, xyz)
    (entry,) = _run(p, calibrate=True)
    meta = read_metadata(p)
    assert not meta["calibration"]["applied"] and "cover the sphere" in meta["calibration"]["reason"]
    got = pq.read_table(p)
    np.testing.assert_array_equal(np.column_stack([got.column(c).to_numpy() for c in ACC]), xyz)
    assert "nonwear" not in got.column_names and entry.wear_s is None
    row = dataset_qc(tmp_path)["recordings"][0]
    assert row["calibration_applied"] is False and "cover the sphere" in row["calibration_reason"]


def test_schema_1_files_stay_readable(tmp_path: Path, two_days: tuple) -> None:
    t, xyz, _ = two_days
    _write(tmp_path / "old.parquet", t[:1000], xyz[:1000], version="1")
    qc = dataset_qc(tmp_path)
    (row,) = qc["recordings"]
    assert row["wear_hours"] is None and row["calibration_applied"] is None and row["clipped_samples"] is None
    assert qc["summary"]["wear_hours"] is None and entry_from_file(tmp_path / "old.parquet").nonwear_s is None


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="nonwear must be one of"):
        check_signal_options(IngestConfig(nonwear="maybe"))
    with pytest.raises(ConfigError, match="signal.epoch_s"):
        check_signal_options(IngestConfig(signal=IngestConfig().signal.__class__(epoch_s=0)))
