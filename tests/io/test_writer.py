from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wearfm.io import writer
from wearfm.io.schema import SCHEMA_VERSION, read_metadata, schema_for
from wearfm.io.writer import RecordingWriter, write_recording


def table(n=100, t0=0):
    t = pa.array(t0 + np.arange(n, dtype=np.int64) * 20_000_000).cast(pa.timestamp("ns"))
    cols = {"time": t}
    for c in ("acc_x", "acc_y", "acc_z"):
        cols[c] = pa.array(np.ones(n, np.float32))
    return pa.table(cols, schema=schema_for(list(cols)))


META = {"schema_version": SCHEMA_VERSION, "subject": "s1"}


def test_write_recording_roundtrip(tmp_path):
    p = write_recording(tmp_path / "r.parquet", table(), {**META, "sample_rate_measured_hz": 50.0})
    assert pq.read_table(p).num_rows == 100
    meta = read_metadata(p)
    assert meta["subject"] == "s1" and meta["sample_rate_measured_hz"] == 50.0
    assert list(tmp_path.iterdir()) == [p]  # no temporary file left


def test_streamed_metadata_added_at_close(tmp_path):
    w = RecordingWriter(tmp_path / "r.parquet", META, buffer_rows=50)
    for k in range(4):
        w.write(table(40, t0=k * 10**10))
    assert not (tmp_path / "r.parquet").exists()  # nothing visible before commit
    w.close({"sample_rate_measured_hz": 49.5, "counters": {"n": 1}})
    p = w.commit()
    meta = read_metadata(p)
    assert meta["sample_rate_measured_hz"] == 49.5 and meta["counters"] == {"n": 1} and meta["rows"] == 160


def test_counters_of_older_files_read_under_their_name(tmp_path):
    # files of earlier versions stored the reader counters as wearfm.info
    old = table().replace_schema_metadata(
        {b"wearfm.schema_version": f'"{SCHEMA_VERSION}"'.encode(), b"wearfm.info": b'{"corrupt_blocks": 2}'}
    )
    pq.write_table(old, tmp_path / "old.parquet")
    meta = read_metadata(tmp_path / "old.parquet")
    assert meta["counters"] == {"corrupt_blocks": 2} and "info" not in meta


def test_failure_mid_write_leaves_nothing_and_keeps_earlier_output(tmp_path):
    good = write_recording(tmp_path / "r.parquet", table(10), META)
    before = good.read_bytes()
    w = RecordingWriter(tmp_path / "r.parquet", META, buffer_rows=5)
    with pytest.raises(RuntimeError):
        try:
            w.write(table(20))
            raise RuntimeError("disk full")  # e.g. a reader error mid-stream
        except BaseException:
            w.abort()
            raise
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet"]


def test_background_row_group_error_surfaces_and_leaves_nothing(tmp_path, monkeypatch):
    # streamed row groups are written on a thread: its failure is raised by a later call, and abort cleans up
    w = RecordingWriter(tmp_path / "r.parquet", META, buffer_rows=5)
    w.write(table(10))  # opens the file; the first row group goes to the writer thread
    assert w._writer is not None

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(w._writer, "write_table", fail)
    w.write(table(10, t0=10**10))  # hands the failing row group to the thread
    with pytest.raises(OSError, match="disk full"):
        w.close()
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_rejects_non_canonical_table(tmp_path):
    bad = pa.table({"time": pa.array([1, 2]), "acc_x": [1.0, 2.0]})
    with pytest.raises(ValueError):
        write_recording(tmp_path / "r.parquet", bad, META)
    assert list(tmp_path.iterdir()) == []


def test_small_recording_encoded_in_memory_is_the_same_file(tmp_path, monkeypatch):
    meta = {**META, "sample_rate_measured_hz": 50.0}
    in_memory = write_recording(tmp_path / "a.parquet", table(), meta).read_bytes()
    monkeypatch.setattr(writer, "_IN_MEMORY_BYTES", 0)  # written through the Parquet writer's own file
    direct = write_recording(tmp_path / "b.parquet", table(), meta).read_bytes()
    assert in_memory == direct
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]
