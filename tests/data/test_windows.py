import numpy as np
import pytest

from tests._helpers.synth import T0, write_dataset, write_recording
from wearfm.data.windows import channel_stats, load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import entry_from_file, write_manifest


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("w"), subjects=2, seconds=60, gyro=True)


def test_counts_offsets_and_metadata(ds):
    ws = load_windows(ds, rate_hz=30, window=300)
    assert len(ws) == 2 * 6 and ws.data.shape == (3, 2 * 1800) and ws.data.dtype == np.float32
    assert ws.channels == ("acc_x", "acc_y", "acc_z")
    np.testing.assert_array_equal(ws.offset[:6], np.arange(6) * 300)
    assert ws.subjects == ["S00", "S01"] and ws.subject.tolist() == [0] * 6 + [1] * 6
    assert ws.recording.tolist() == [0] * 6 + [1] * 6
    np.testing.assert_array_equal(np.diff(ws.start_ns[:6]), 10 * 10**9)  # 10 s apart
    assert ws.start_ns[0] == T0 and ws.start_ns[6] == T0 + 7200 * 10**9
    assert ws.batch([0, 7]).shape == (2, 3, 300)
    np.testing.assert_array_equal(ws.batch([7])[0], ws.get(7))


def test_labels_and_purity(ds):
    ws = load_windows(ds, rate_hz=30, window=300)
    assert ws.label_names == ["run", "walk"]
    # 60 s = 30 s walk then 30 s run: windows 0-2 walk, 3-5 run (boundary at 30 s is on a window edge)
    assert ws.label_strings()[:6].tolist() == ["walk"] * 3 + ["run"] * 3
    shifted = load_windows(ds, rate_hz=30, window=300, stride=150)
    strs = shifted.label_strings()[:11].tolist()
    assert strs[5] is None  # 15-25 s... window at 25-35 s mixes walk and run -> unlabelled at purity 1
    loose = load_windows(ds, rate_hz=30, window=300, stride=150, label_purity=0.5)
    assert loose.label_strings()[5] in ("walk", "run")


def test_channels_and_resampling(ds):
    ws = load_windows(ds, rate_hz=15, window=75, channels="acc+gyr")
    assert ws.channels[3:] == ("gyr_x", "gyr_y", "gyr_z") and ws.data.shape[0] == 6
    assert ws.data.shape[1] == 2 * 900 and len(ws) == 2 * 12
    mean, std = channel_stats(ws)
    assert mean.shape == std.shape == (6,) and mean[2] == pytest.approx(1.0, abs=0.1) and (std > 0).all()
    with pytest.raises(ConfigError):
        load_windows(ds, rate_hz=30, window=300, channels="magnetometer")


def test_windows_never_cross_gaps(tmp_path):
    v = np.zeros((30 * 40, 3), np.float32)
    v[:, 2] = 1.0
    v[600:, 0] = 5.0  # everything after the gap is marked
    p = write_recording(tmp_path / "g.parquet", v, hz=30, subject="A", gap_at=600, gap_s=5.0)
    write_manifest(tmp_path, [entry_from_file(p, tmp_path)])
    ws = load_windows(tmp_path, rate_hz=30, window=240)  # 8 s windows: 20 s before, 20 s after the gap
    assert len(ws) == 4
    for i in range(len(ws)):
        x0 = ws.get(i)[0]
        assert np.all(x0 == x0[0])  # each window wholly before or wholly after the gap
    assert ws.start_ns[2] - ws.start_ns[0] >= 25 * 10**9


def test_too_short_and_bad_window(ds):
    with pytest.raises(DataError, match="no recording is long enough"):
        load_windows(ds, rate_hz=30, window=30 * 100)
    with pytest.raises(DataError):
        load_windows(ds, rate_hz=30, window=0)


def test_subset_and_cache(ds, tmp_path):
    ws = load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path / "c")
    assert isinstance(ws.data, np.memmap)
    again = load_windows(ds, rate_hz=30, window=300, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(ws.data))
    sub = ws.subset(ws.subject == 1)
    assert len(sub) == 6 and sub.data is ws.data and (sub.subject == 1).all()
