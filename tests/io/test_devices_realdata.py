"""Agreement of the device readers with trusted readers on the real files in ``shared/data/devices``.

References (``devices/reference/<file>.parquet``) were decoded by scikit-digital-health 0.17.18 (CWA,
GENEActiv) and pygt3x 0.7.1 (GT3X). Samples must agree exactly; where times differ the difference is
explained and checked here:

- CWA: skdh ignores the block timestamp's fractional second and chains blocks at the nominal rate; we follow
  the openmovement reader (fraction + interpolation between blocks). The test re-derives skdh's times from
  the block headers (within 1 ms of the reference) and ours from the openmovement rule (within 10 us), and
  bounds the difference by 2 sample periods.
- GT3X old format (activity.bin): pygt3x rounds to 3 decimals (as the spec says) and reports
  ``Start Date ticks / 1e9`` as seconds; we keep full resolution and convert ticks properly.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._helpers.cwa_times import cwa_blocks, openmovement_times, skdh_times
from wearfm.errors import FormatError, UnsupportedFormatError
from wearfm.io import cwa, geneactiv, gt3x

CWA_FILES = ["ggirread_ax3_testfile", "ggirread_ax6_testfile", "skdh_ax3_sample", "skdh_ax6_sample"]
GT3X_NEW = ["ggir_actigraph_testfile", "pygt3x_ISM_Disabled", "pygt3x_ISM_Enabled", "pygt3x_small"]
TICKS_1970 = 621_355_968_000_000_000


def _ref(real_data: Path, name: str) -> pa.Table:
    return pq.read_table(real_data / "devices" / "reference" / f"{name}.parquet")


def _secs(t: pa.Table) -> np.ndarray:
    return t.column("time").cast("int64").to_numpy() / 1e9


def _assert_samples_equal(ours: pa.Table, ref: pa.Table, atol: float = 1e-4) -> None:
    assert ours.num_rows == ref.num_rows
    for c in ref.column_names[1:]:
        np.testing.assert_allclose(ours.column(c).to_numpy(), ref.column(c).to_numpy(), atol=atol, rtol=0, err_msg=c)


@pytest.mark.parametrize("name", CWA_FILES)
def test_cwa_agrees_with_skdh(real_data: Path, name: str) -> None:
    path = real_data / "devices" / "cwa" / f"{name}.cwa"
    assert cwa.sniff(path.read_bytes()[:4096], path)
    ours, info = cwa.read_all(path)
    ref = _ref(real_data, f"{name}.cwa")
    _assert_samples_equal(ours, ref)
    assert info["sample_rate_nominal_hz"] == float(ref.schema.metadata[b"fs"])
    assert info["device"] == ("AX6" if "ax6" in name else "AX3")
    assert ("gyr_x" in ours.column_names) == ("ax6" in name)
    assert info["counters"]["corrupt_blocks"] == 0
    t, rt = _secs(ours), ref.column("time").to_numpy()
    blocks = cwa_blocks(path)
    assert np.abs(skdh_times(blocks) - rt).max() < 1e-3  # the explanation reproduces skdh's times
    assert np.abs(openmovement_times(blocks) - t).max() < 1e-5  # ours follow the openmovement rule
    assert np.abs(t - rt).max() < 2.0 / info["sample_rate_nominal_hz"]  # so the two differ by < 2 samples
    assert np.all(np.diff(t) > 0)


def test_cwa_corrupt_blocks_exactly_skipped(real_data: Path) -> None:
    bad = real_data / "devices" / "corrupt" / "ggirread_ax3_testfile_corrupt_blocks_0_13_14_142_143_144.cwa"
    ours, info = cwa.read_all(bad)
    assert info["counters"]["corrupt_block_indices"] == [0, 13, 14, 142, 143, 144]
    assert info["counters"]["corrupt_blocks"] == 6
    clean, _ = cwa.read_all(real_data / "devices" / "cwa" / "ggirread_ax3_testfile.cwa")
    keep = np.repeat(~np.isin(np.arange(145), [0, 13, 14, 142, 143, 144]), 120)
    assert ours.num_rows == keep.sum()
    for c in ("acc_x", "acc_y", "acc_z"):
        np.testing.assert_array_equal(ours.column(c).to_numpy(), clean.column(c).to_numpy()[keep])
    assert np.abs(_secs(ours) - _secs(clean)[keep]).max() < 1e-3


def test_cwa_uppercase_and_gz(real_data: Path, tmp_path: Path) -> None:
    src = real_data / "devices" / "cwa" / "skdh_ax6_sample.cwa"
    up = tmp_path / "SUBJ.CWA"
    shutil.copy(src, up)
    gz = tmp_path / "subj.cwa.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    a, _ = cwa.read_all(src)
    assert cwa.read_all(up)[0].equals(a) and cwa.read_all(gz)[0].equals(a)


@pytest.mark.parametrize("name", GT3X_NEW)
def test_gt3x_agrees_with_pygt3x(real_data: Path, name: str) -> None:
    path = real_data / "devices" / "gt3x" / f"{name}.gt3x"
    assert gt3x.sniff(path.read_bytes()[:4096], path)
    ours, info = gt3x.read_all(path)  # idle_sleep="fill", as pygt3x
    ref = _ref(real_data, f"{name}.gt3x")
    _assert_samples_equal(ours, ref)
    assert np.abs(_secs(ours) - ref.column("time").to_numpy()).max() < 1e-3
    assert info["counters"]["idle_sleep_samples"] == int(ref.schema.metadata[b"idle_sleep_mode_samples"])
    assert info["counters"]["checksum_failures"] == 0 and info["time_reference"] == "local"
    assert info["timezone"] in ("+02:00", "-05:00")
    gap, _ = gt3x.read_all(path, idle_sleep="gap")
    assert gap.num_rows == ref.num_rows - info["counters"]["idle_sleep_samples"]


def test_gt3x_old_format_explained_differences(real_data: Path) -> None:
    path = real_data / "devices" / "gt3x" / "pygt3x_neo.gt3x"
    assert gt3x.sniff(path.read_bytes()[:4096], path)
    ours, info = gt3x.read_all(path)
    ref = _ref(real_data, "pygt3x_neo.gt3x")
    assert info["counters"]["format"] == "activity.bin" and info["device"] == "GT3X+" and info["timezone"] == "-06:00"
    rounded = pa.table({c: np.round(ours.column(c).to_numpy().astype(np.float64), 3) for c in ours.column_names[1:]})
    _assert_samples_equal(pa.table({"time": ours.column("time"), **{c: rounded[c] for c in rounded.column_names}}), ref)
    t, rt = _secs(ours), ref.column("time").to_numpy()
    assert np.abs((t - t[0]) - (rt - rt[0])).max() < 1e-3
    assert abs(t[0] - (rt[0] * 1e9 - TICKS_1970) / 1e7) < 1e-3  # pygt3x reports ticks / 1e9


def test_geneactiv_agrees_with_skdh(real_data: Path) -> None:
    path = real_data / "devices" / "geneactiv" / "skdh_gnactv_sample.bin"
    assert geneactiv.sniff(path.read_bytes()[:4096], path)
    ours, info = geneactiv.read_all(path)
    ref = _ref(real_data, "skdh_gnactv_sample.bin")
    _assert_samples_equal(ours, ref)
    assert np.abs(_secs(ours) - ref.column("time").to_numpy()).max() < 1e-3
    assert info["timezone"] == "-04:00" and info["sample_rate_nominal_hz"] == 50.0


def test_geneactiv_truncated_real_file(real_data: Path) -> None:
    # GGIRread ships the first 64 KiB of a recording: 16 complete pages at 85.7 Hz, then a cut page.
    ours, info = geneactiv.read_all(real_data / "devices" / "geneactiv" / "ggirread_GENEActiv_testfile.bin")
    assert ours.num_rows == 16 * 300 and info["counters"]["truncated_pages"] == 1
    mag = np.linalg.norm(np.c_[[ours.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")]].T, axis=1)
    assert 0.9 < np.median(mag) < 1.1
    assert np.median(np.diff(_secs(ours))) == pytest.approx(1 / 85.7, abs=1e-4)


def test_old_genea_unsupported(real_data: Path) -> None:
    path = real_data / "devices" / "other" / "ggirread_genea_testfile.bin"
    with pytest.raises(UnsupportedFormatError, match="unsupported device format"):
        geneactiv.read_all(path)


def test_each_sniffer_claims_only_its_files(real_data: Path) -> None:
    dev = real_data / "devices"
    files = {"cwa": [*sorted((dev / "cwa").glob("*")), *(dev / "corrupt").glob("*")]}
    files["gt3x"] = sorted((dev / "gt3x").glob("*"))
    files["geneactiv"] = sorted((dev / "geneactiv").glob("*"))
    readers = {"cwa": cwa, "gt3x": gt3x, "geneactiv": geneactiv}
    for kind, paths in files.items():
        for p in paths:
            head = p.read_bytes()[:4096]
            assert [k for k, m in readers.items() if m.sniff(head, p)] == [kind], p


def test_other_kind_behind_device_extension(real_data: Path, tmp_path: Path) -> None:
    dev = real_data / "devices"
    cases = [
        (cwa, dev / "geneactiv" / "skdh_gnactv_sample.bin", "x.cwa"),
        (gt3x, dev / "cwa" / "skdh_ax3_sample.cwa", "x.gt3x"),
        (geneactiv, dev / "gt3x" / "pygt3x_ISM_Enabled.gt3x", "x.bin"),
    ]
    for mod, src, name in cases:
        p = tmp_path / name
        shutil.copy(src, p)
        with pytest.raises(FormatError) as e:
            mod.read_all(p)
        assert str(p) in str(e.value)


def test_gt3x_gz_and_uppercase(real_data: Path, tmp_path: Path) -> None:
    src = real_data / "devices" / "gt3x" / "ggir_actigraph_testfile.gt3x"
    up = tmp_path / "SUBJ.GT3X"
    shutil.copy(src, up)
    gz = tmp_path / "subj.gt3x.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    a, _ = gt3x.read_all(src)
    assert gt3x.read_all(up)[0].equals(a) and gt3x.read_all(gz)[0].equals(a)
