from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from tests._helpers.text import write_wisdm
from wearfm.config import IngestConfig
from wearfm.errors import DataError
from wearfm.io import wisdm
from wearfm.io.merge import pair_nearest


def _pairs_reference(ta, tb, tol):
    """Slow loop reference: nearest b for each a within tol; ties on one b go to the closest a."""
    best = {}
    for i, t in enumerate(ta):
        if len(tb) == 0:
            break
        d = np.abs(tb - t)
        j = int(np.argmin(d))
        if d[j] <= tol and (j not in best or d[j] < best[j][1]):
            best[j] = (i, d[j])
    pairs = sorted((i, j) for j, (i, _) in best.items())
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_pair_nearest_matches_loop_reference(seed):
    rng = np.random.default_rng(seed)
    ta = np.sort(rng.integers(0, 10_000, 200))
    tb = np.sort(rng.integers(0, 10_000, 150))
    ia, ib = pair_nearest(ta, tb, 30)
    ra, rb = _pairs_reference(ta, tb, 30)
    np.testing.assert_array_equal(ia, ra)
    np.testing.assert_array_equal(ib, rb)
    assert len(set(ib.tolist())) == len(ib)  # one-to-one
    assert np.all(np.abs(ta[ia] - tb[ib]) <= 30)


def test_pair_nearest_empty():
    ia, ib = pair_nearest(np.array([1, 2]), np.array([], dtype=np.int64), 5)
    assert len(ia) == len(ib) == 0


def test_merge_accel_gyro_labels_and_counts(tmp_path):
    pa_, pg = write_wisdm(tmp_path / "raw" / "phone", extra_gyro=7)
    (tmp_path / "activity_key.txt").write_text("walking = A\nsitting = D\n")
    assert wisdm.sniff(pa_.read_bytes()[:4096], pa_)
    assert wisdm.companions(pa_) == [pg]
    assert wisdm.output_name(pa_) == "1600_phone"
    chunks, info = wisdm.read(pa_, IngestConfig())
    t = pa.concat_tables(list(chunks))
    assert info["subject"] == "1600" and info["time_reference"] == "device-uptime"
    assert info["counters"]["gyro_unpaired_dropped"] == 7 and info["counters"]["accel_unpaired_dropped"] == 0
    assert t.column_names == ["time", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z", "label"]
    mag = np.sqrt(sum(t.column(c).to_numpy().astype(np.float64) ** 2 for c in ("acc_x", "acc_y", "acc_z")))
    assert abs(np.median(mag) - 1.0) < 0.05  # m/s^2 -> g
    assert set(t.column("label").combine_chunks().dictionary_decode().to_pylist()) == {"walking", "sitting"}
    assert np.all(np.diff(t.column("time").cast(pa.int64()).to_numpy()) > 0)


def test_tolerance_drops_unpartnered(tmp_path):
    pa_, _ = write_wisdm(tmp_path, gyro_offset_ms=30.0)  # partners 20 ms (previous) or 30 ms (same index) away
    chunks, _ = wisdm.read(pa_, replace(IngestConfig(), merge_tolerance_s=0.015))
    with pytest.raises(DataError, match="--merge-tolerance"):
        list(chunks)
    chunks, info = wisdm.read(pa_, replace(IngestConfig(), merge_tolerance_s=0.035))
    t = pa.concat_tables(list(chunks))
    c = info["counters"]
    assert t.num_rows + c["accel_unpaired_dropped"] == 600  # every sample is either paired or counted
    assert t.num_rows + c["gyro_unpaired_dropped"] == 600
    assert 590 <= t.num_rows < 600


def test_codes_kept_without_activity_key(tmp_path):
    pa_, _ = write_wisdm(tmp_path / "x" / "y" / "z" / "w" / "v" / "u")
    chunks, _ = wisdm.read(pa_, IngestConfig())
    labels = set(pa.concat_tables(list(chunks)).column("label").combine_chunks().dictionary_decode().to_pylist())
    assert labels == {"A", "D"}


def test_gyro_file_alone_is_an_error(tmp_path):
    _, pg = write_wisdm(tmp_path)
    with pytest.raises(DataError, match="accelerometer file"):
        wisdm.read(pg, IngestConfig())
