"""Ingest all of the real text datasets (../shared/data or $WEARFM_DATA); skipped when absent."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from wearfm.config import IngestConfig
from wearfm.io.ingest import ingest
from wearfm.io.manifest import read_manifest
from wearfm.io.schema import read_metadata

pytestmark = pytest.mark.realdata


def still_gravity(path: Path) -> float:
    """Median |acc| over the stillest 10% of 1 s windows of a recording (g)."""
    t = pq.read_table(path, columns=["acc_x", "acc_y", "acc_z"])
    a = np.column_stack([t.column(c).to_numpy() for c in t.column_names]).astype(np.float64)
    mag = np.sqrt((a**2).sum(1))
    n = len(mag) // 20
    w = mag[: n * 20].reshape(n, 20)
    sd = w.std(1)
    return float(np.median(w[sd <= np.quantile(sd, 0.1)]))


@pytest.fixture(scope="module")
def spsw(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("spsw")
    t0 = time.perf_counter()
    s = ingest([real_data / "sp-sw-har"], out, IngestConfig(format="sp-sw-har", jobs=2))
    return s, out, time.perf_counter() - t0


@pytest.fixture(scope="module")
def wisdm(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("wisdm")
    t0 = time.perf_counter()
    s = ingest([real_data / "wisdm-phone" / "raw"], out, IngestConfig(format="wisdm", jobs=2))
    return s, out, time.perf_counter() - t0


def test_sp_sw_har_all(spsw):
    s, out, seconds = spsw
    entries = read_manifest(out)
    assert s.errors == [] and s.files == 446 and len(entries) == 446
    assert len({e.subject for e in entries}) == 23
    phone = np.median([e.sample_rate_hz for e in entries if e.device == "phone"])
    watch = np.median([e.sample_rate_hz for e in entries if e.device == "watch"])
    assert 100 < phone < 104 and 102 < watch < 106, (phone, watch)
    assert {e.placement for e in entries} == {"pocket", "wrist"}
    labels = set().union(*(e.label_counts for e in entries))
    assert labels == {"SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN"}
    assert all(sum(e.label_counts.values()) == e.samples for e in entries)  # every sample labelled
    assert all(e.has_gyr for e in entries)
    g = [still_gravity(out / e.path) for e in entries[:20]]
    assert np.median(g) == pytest.approx(1.0, abs=0.05)
    meta = read_metadata(out / entries[0].path)
    assert meta["session"] == "01" and meta["reader"] == "sp-sw-har" and meta["time_reference"] == "utc"
    print(f"sp-sw-har: {s.rows} rows, {s.hours:.2f} h in {seconds:.1f} s")


def test_wisdm_all(wisdm):
    s, out, seconds = wisdm
    entries = read_manifest(out)
    assert s.errors == [] and s.converted == 22
    assert len({e.subject for e in entries}) == 22
    rates = np.array([e.sample_rate_hz for e in entries])
    assert np.median(rates) == pytest.approx(20.0, abs=0.3)
    assert 17 < s.hours < 21
    assert sum(e.has_gyr for e in entries) > 0.9 * len(entries)  # one subject has no gyroscope file
    labels = set().union(*(e.label_counts for e in entries))
    assert {"walking", "jogging", "sitting", "standing", "typing"} <= labels and len(labels) == 18
    assert "gyro_unpaired" in s.dropped
    still = [e for e in entries if set(e.label_counts) <= {"sitting", "standing"}][:10]
    g = [still_gravity(out / e.path) for e in still]
    assert np.median(g) == pytest.approx(1.0, abs=0.1)
    meta = read_metadata(out / entries[0].path)
    assert meta["time_reference"] == "device-uptime" and meta["device"] == "phone"
    print(f"wisdm: {s.rows} rows, {s.hours:.2f} h in {seconds:.1f} s")
