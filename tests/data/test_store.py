"""The on-disk window store: same windows as the in-memory path, safe builds, rebuilds, ranks, non-wear."""

import errno
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch.distributed as tdist
import torch.multiprocessing as mp

import wearfm.data.store as store
from tests._helpers.synth import T0, write_dataset
from wearfm.data.store import BuildGroup, ShardedArray
from wearfm.data.windows import WindowSet, channel_stats, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import entry_from_file, write_manifest


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("st"), subjects=5, seconds=90, gyro=True, gap=True)


def assert_same_windows(a: WindowSet, b: WindowSet) -> None:
    assert len(a) == len(b) and a.channels == b.channels and a.data.shape == b.data.shape
    for name in ("offset", "recording", "subject", "start_ns", "label"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.subjects == b.subjects and a.label_names == b.label_names
    assert [e.path for e in a.entries] == [e.path for e in b.entries]
    idx = np.arange(len(a))
    np.testing.assert_array_equal(a.batch(idx), b.batch(idx))
    for i in (0, len(a) // 2, len(a) - 1):
        np.testing.assert_array_equal(a.get(i), b.get(i))


def shard_files(d: Path) -> dict[str, bytes]:
    (slot,) = [p for p in d.iterdir() if p.is_dir()]
    return {p.name: p.read_bytes() for p in sorted(slot.iterdir())}


@pytest.mark.parametrize("shard_mb", [512.0, 0.05])  # one shard (a plain memory map) and one per recording
@pytest.mark.parametrize("stride", [None, 110])
def test_store_gives_the_in_memory_windows(ds, tmp_path, shard_mb, stride):
    kw = dict(rate_hz=25, window=250, channels="acc+gyr", stride=stride, label_purity=0.8)
    ref = load_windows(ds, **kw)
    ws = load_windows(ds, **kw, cache_dir=tmp_path, shard_mb=shard_mb)
    assert_same_windows(ws, ref)
    assert isinstance(ws.data, np.memmap if shard_mb > 1 else ShardedArray)
    np.testing.assert_array_equal(np.asarray(ws.data), ref.data)
    for got, want in zip(channel_stats(ws), channel_stats(ref), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    again = load_windows(ds, **kw, cache_dir=tmp_path, shard_mb=shard_mb)  # reused, not rebuilt
    assert_same_windows(again, ref)


def test_store_on_real_datasets(real_data, tmp_path):
    from wearfm.config import IngestConfig
    from wearfm.io.ingest import ingest

    accel = sorted((real_data / "wisdm-phone" / "raw" / "phone" / "accel").glob("data_16*_accel_phone.txt"))[:3]
    wisdm = tmp_path / "wisdm"
    ingest(accel, wisdm, IngestConfig(format="wisdm"))
    spsw = tmp_path / "spsw"
    ingest([real_data / "sp-sw-har"], spsw, IngestConfig(format="sp-sw-har", jobs=2))
    for data, rate, window, channels in ((wisdm, 20, 200, "acc"), (spsw, 50, 100, "acc+gyr")):
        ref = load_windows(data, rate_hz=rate, window=window, channels=channels)
        ws = load_windows(data, rate_hz=rate, window=window, channels=channels, cache_dir=tmp_path / "c", shard_mb=2)
        assert isinstance(ws.data, ShardedArray) and len(ws.data.shards) > 1
        assert len(ref) > 500 and ref.label_names
        assert_same_windows(ws, ref)


def test_interrupted_build_is_never_used(ds, tmp_path, monkeypatch, caplog):
    real = store.read_recording
    calls = []

    def dies_on_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(store, "read_recording", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path, shard_mb=0.05)
    assert not list(tmp_path.glob("*/store.json"))  # nothing usable was published
    assert not list(tmp_path.glob("*/*.part*"))  # the shard being written was removed
    monkeypatch.setattr(store, "read_recording", real)
    with caplog.at_level(logging.INFO, logger="wearfm.data.store"):
        ws = load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path, shard_mb=0.05)
    assert "shard 0 already built" in caplog.text and "shard 1 already built" in caplog.text
    assert_same_windows(ws, load_windows(ds, rate_hz=30, window=300))
    assert len(list(tmp_path.iterdir())) == 1 and not list(tmp_path.glob("*.building"))


def test_truncated_or_other_version_store_is_rebuilt(ds, tmp_path, caplog):
    load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path)
    (slot,) = list(tmp_path.iterdir())
    shard = slot / "shard-00000.f32"
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size - 4)
    with caplog.at_level(logging.WARNING, logger="wearfm.data.store"):
        load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path)
    assert "missing or truncated; rebuilding" in caplog.text
    meta = json.loads((slot / "store.json").read_text())
    (slot / "store.json").write_text(json.dumps({**meta, "version": 0}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wearfm.data.store"):
        ws = load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path)
    assert "built by store format 0" in caplog.text
    assert json.loads((slot / "store.json").read_text())["version"] == store.STORE_VERSION
    assert_same_windows(ws, load_windows(ds, rate_hz=30, window=300))


def test_changed_dataset_is_rebuilt(tmp_path, caplog):
    data = write_dataset(tmp_path / "d", subjects=3, seconds=60)
    first = load_windows(data, rate_hz=30, window=300, cache_dir=tmp_path / "c")
    write_dataset(tmp_path / "d", subjects=3, seconds=120)  # same files, longer recordings
    with caplog.at_level(logging.WARNING, logger="wearfm.data.store"):
        ws = load_windows(data, rate_hz=30, window=300, cache_dir=tmp_path / "c")
    assert "dataset changed since it was built (0 recordings added, 0 removed, 3 changed)" in caplog.text
    assert len(ws) == 2 * len(first)
    assert_same_windows(ws, load_windows(data, rate_hz=30, window=300))
    assert len(list((tmp_path / "c").iterdir())) == 1  # replaced, not kept beside the old one


def test_full_disk_fails_clearly_and_leaves_nothing_in_use(ds, tmp_path, monkeypatch):
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: _Usage(0))
    with pytest.raises(DataError, match="needs about .* GB but only 0.00 GB is free; free some space or pass --cache"):
        load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path)
    monkeypatch.undo()
    real = store.read_recording
    calls = []

    def disk_fills(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(store, "read_recording", disk_fills)
    with pytest.raises(DataError, match="no space left while writing the window store"):
        load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*/store.json")) and not list(tmp_path.glob("*/*.part*"))


class _Usage:
    def __init__(self, free: int) -> None:
        self.free = free


def test_nonwear_windows_skipped_at_index_time(tmp_path):
    data = write_dataset(tmp_path / "d", subjects=2, seconds=120)
    t0 = pq.read_table(data / "s00.parquet").column("time").cast(pa.int64())[0].as_py()
    # s00: non-wear spans in its metadata (as `wearfm ingest --nonwear mark` writes them): 20-45 s
    _rewrite(data / "s00.parquet", meta={"nonwear": {"spans_ns": [[t0 + 20 * 10**9, t0 + 45 * 10**9]]}})
    # s01: a boolean nonwear column, true for samples 60-90 s
    t = pq.read_table(data / "s01.parquet").column("time").cast(pa.int64()).to_numpy()
    _rewrite(data / "s01.parquet", column=(t >= t[0] + 60 * 10**9) & (t < t[0] + 90 * 10**9))
    write_manifest(data, [entry_from_file(p, data) for p in sorted(data.glob("s*.parquet"))])
    keep = load_windows(data, rate_hz=30, window=300, nonwear="keep")
    assert len(keep) == 24 and keep.nonwear_skipped == 0
    for cache in (None, tmp_path / "c"):
        ws = load_windows(data, rate_hz=30, window=300, cache_dir=cache)
        # s00 loses windows 20-30, 30-40, 40-50 s; s01 loses 60-70, 70-80, 80-90 s
        assert ws.nonwear_skipped == 6 and len(ws) == 18
        rel = (ws.start_ns - T0 - ws.recording.astype(np.int64) * 7200 * 10**9) // 10**9  # s into each recording
        assert rel[ws.recording == 0].tolist() == [0, 10, 50, 60, 70, 80, 90, 100, 110]
        assert rel[ws.recording == 1].tolist() == [0, 10, 20, 30, 40, 50, 90, 100, 110]
    with pytest.raises(ConfigError, match="nonwear must be 'skip' or 'keep'"):
        load_windows(data, rate_hz=30, window=300, nonwear="drop")


def _rewrite(path: Path, meta: dict | None = None, column: np.ndarray | None = None) -> None:
    table = pq.read_table(path)
    if column is not None:
        table = table.append_column("nonwear", pa.array(column))
    if meta is not None:
        md = dict(table.schema.metadata or {})
        md.update({f"wearfm.{k}".encode(): json.dumps(v).encode() for k, v in meta.items()})
        table = table.replace_schema_metadata(md)
    pq.write_table(table, path)


def _rank(rank: int, world: int, init: str, ds: Path, cache: Path) -> None:
    tdist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    from wearfm.train.distributed import DistInfo, build_group

    group = build_group(DistInfo(rank=rank, world_size=world))
    assert group.world_size == 2
    ws = load_windows(ds, rate_hz=25, window=250, channels="acc+gyr", cache_dir=cache, shard_mb=0.05, group=group)
    assert len(ws) > 0
    tdist.destroy_process_group()


def test_two_ranks_build_one_store_identical_to_one_process(ds, tmp_path):
    mp.spawn(_rank, args=(2, f"file://{tmp_path / 'rdv'}", ds, tmp_path / "two"), nprocs=2, join=True)
    load_windows(ds, rate_hz=25, window=250, channels="acc+gyr", cache_dir=tmp_path / "one", shard_mb=0.05)
    two, one = shard_files(tmp_path / "two"), shard_files(tmp_path / "one")
    assert len([n for n in one if n.endswith(".f32")]) == 5  # one shard per recording, split across the ranks
    assert two.keys() == one.keys() and all(two[n] == one[n] for n in one)


def test_build_group_single_process_agrees_with_itself():
    assert BuildGroup().agree(True) and not BuildGroup().agree(False)
