import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests._helpers.synth import T0, write_dataset, write_recording
from wearfm.config import parse_duration
from wearfm.data.dataset import EpochSampler, WindowDataset, group_index, parse_window
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError
from wearfm.io.manifest import entry_from_file, write_manifest


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("ds"), subjects=3, seconds=60)
    return load_windows(root, rate_hz=30, window=150)


def test_items_match_windows(ws):
    ds = WindowDataset(ws)
    assert len(ds) == len(ws)
    item = ds[3]
    assert item["x"].shape == (3, 150) and item["x"].dtype == np.float32
    np.testing.assert_array_equal(item["x"], ws.get(3))
    batch = ds.__getitems__([5, 1, 7])
    for b, i in zip(batch, [5, 1, 7], strict=True):
        np.testing.assert_array_equal(b["x"], ws.get(i))
        assert b["index"] == i


def test_loader_with_workers_matches_serial(ws):
    ds = WindowDataset(ws)
    sampler = EpochSampler(len(ds), 4, seed=1)
    a = [b["index"] for b in DataLoader(ds, batch_size=4, sampler=sampler, drop_last=True)]
    b = [b for b in DataLoader(ds, batch_size=4, sampler=sampler, drop_last=True, num_workers=2)]
    assert all(torch.equal(x, y["index"]) for x, y in zip(a, b, strict=True))
    got = b[0]["x"].numpy()
    np.testing.assert_array_equal(got, ws.batch(b[0]["index"].numpy()))


def test_epoch_sampler_is_a_distributed_partition():
    n, bs = 22, 4
    ranks = [EpochSampler(n, bs, seed=3, rank=r, world_size=2) for r in range(2)]
    idx = [list(s) for s in ranks]
    assert len(idx[0]) == len(idx[1]) == 8  # 11 per rank -> 2 whole batches of 4
    assert not set(idx[0]) & set(idx[1])
    padded = [list(EpochSampler(23, 1, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert len(padded[0]) == len(padded[1]) == 12 and set(padded[0]) | set(padded[1]) == set(range(23))
    full = EpochSampler(n, 1, seed=3, rank=0, world_size=1, drop_last=False)
    assert sorted(full) == list(range(n))
    # different epochs differ; same epoch reproduces
    s = EpochSampler(n, bs, seed=3)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0
    s.set_epoch(0)
    assert list(s) == e0


def test_epoch_sampler_resumes_mid_epoch():
    s = EpochSampler(40, 4, seed=0)
    s.set_position(2, 12)
    assert list(s) == s.indices(2)[12:].tolist()
    assert len(s) == 40 - 12
    assert s.batches_per_epoch == 10
    with pytest.raises(ConfigError):
        EpochSampler(0, 4)


def test_group_index(ws):
    for by in ("hour", "day", "recording", "subject"):
        groups, members = group_index(ws, by=by)
        assert groups.shape == (len(ws),)
        assert sum(len(m) for m in members) == len(ws)
        for g, m in enumerate(members):
            assert np.all(groups[m] == g)
            assert len(set(ws.subject[m].tolist())) == 1  # never mixes subjects
    # subjects start 2 h apart and last 60 s: one hour group and one day group per subject
    _, m_hour = group_index(ws, by="hour")
    assert len(m_hour) == 3
    with pytest.raises(ConfigError, match="choose from"):
        group_index(ws, by="week")


def test_group_index_splits_hours(tmp_path):
    # one subject, recording starting 30 s before an hour boundary -> two hour groups
    start = (T0 // 3600_000_000_000 + 1) * 3600_000_000_000 - 30 * 10**9
    v = np.zeros((30 * 90, 3), np.float32)
    v[:, 2] = 1
    p = write_recording(tmp_path / "a.parquet", v, hz=30, subject="A", start_ns=start)
    write_manifest(tmp_path, [entry_from_file(p, tmp_path)])
    ws = load_windows(tmp_path, rate_hz=30, window=300)
    groups, members = group_index(ws, by="hour")
    assert [len(m) for m in members] == [3, 6]
    assert groups.tolist() == [0] * 3 + [1] * 6
    assert len(group_index(ws, by="day")[1]) == 1


@pytest.mark.parametrize(
    "spec,rate,expected",
    [
        ("10s", 30, 300),
        ("2.56s", 100, 256),
        ("256samples", 30, 256),
        ("10", 30, 300),
        ("2.5", 30, 75),
        ("500ms", 30, 15),
        ("1min", 20, 1200),
        (2.0, 30, 60),
    ],
)
def test_parse_window(spec, rate, expected):
    assert parse_window(spec, rate) == expected


@pytest.mark.parametrize("spec", ["abc", "0s", "-1", "2.5samples", "10 fortnights", "0.01s"])
def test_parse_window_rejects(spec):
    with pytest.raises(ConfigError):
        parse_window(spec, 30)


def test_parse_duration_is_seconds_everywhere():
    assert parse_duration("10") == parse_duration("10s") == parse_duration(10) == 10.0
    assert parse_duration("256samples", 100) == pytest.approx(2.56)
    with pytest.raises(ConfigError, match="samples need a sample rate"):
        parse_duration("256samples")
    with pytest.raises(ConfigError, match="--stride 'x'"):
        parse_duration("x", option="--stride")


def test_subclass_items_are_honoured_by_batched_fetch(ws):
    class Shifted(WindowDataset):
        def __getitem__(self, i):
            return {"x": np.zeros((1, 2), np.float32), "index": int(i) + 1000}

    assert [b["index"] for b in Shifted(ws).__getitems__([1, 2])] == [1001, 1002]


def test_group_members_matches_a_unique_based_reference():
    from types import SimpleNamespace

    from wearfm.data.dataset import group_members

    rng = np.random.default_rng(0)
    n = 5000

    class W(SimpleNamespace):
        def __len__(self):
            return n

    ws = W(
        subject=rng.integers(0, 7, n).astype(np.int32),
        recording=rng.integers(0, 11, n).astype(np.int32),
        start_ns=rng.integers(0, 5 * 86400 * 10**9, n).astype(np.int64),
    )
    for by, key in (
        ("hour", np.stack([ws.subject, ws.start_ns // (3600 * 10**9)], 1)),
        ("day", np.stack([ws.subject, ws.start_ns // (86400 * 10**9)], 1)),
        ("recording", ws.recording[:, None]),
        ("subject", ws.subject[:, None]),
    ):
        _, ref = np.unique(key, axis=0, return_inverse=True)
        ref = ref.reshape(-1)
        groups, order, starts = group_members(ws, by=by)
        np.testing.assert_array_equal(groups, ref)
        for g in range(len(starts) - 1):
            np.testing.assert_array_equal(order[starts[g] : starts[g + 1]], np.flatnonzero(ref == g))
