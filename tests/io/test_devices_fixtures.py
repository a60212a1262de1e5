"""Device readers against reference decodings on tiny real files committed beside the tests.

``fixtures/`` holds the first blocks of two Axivity files and the first pages of a GENEActiv file from
scikit-digital-health's test data (MIT; see ``fixtures/LICENSE.md``), each with the first rows of
scikit-digital-health 0.17.18's decoding of the whole file. These checks run in any clone; the full files and
the other devices are checked in ``test_devices_realdata.py`` when the shared data is present.
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
from wearfm.io import cwa, geneactiv, gt3x

FIXTURES = Path(__file__).parent / "fixtures"
CWA_HEADS = {"skdh_ax3_sample_head.cwa": ("AX3", 6, 200.0), "skdh_ax6_sample_head.cwa": ("AX6", 8, 100.0)}
GNACTV_HEAD = FIXTURES / "skdh_gnactv_sample_head.bin"


def _ref(path: Path) -> pa.Table:
    return pq.read_table(path.with_name(path.name + ".reference.parquet"))


def _secs(t: pa.Table) -> np.ndarray:
    return t.column("time").cast("int64").to_numpy() / 1e9


def _assert_samples_equal(ours: pa.Table, ref: pa.Table) -> None:
    assert ours.num_rows == ref.num_rows
    assert ours.column_names[1:] == ref.column_names[1:]
    for c in ref.column_names[1:]:
        np.testing.assert_allclose(ours.column(c).to_numpy(), ref.column(c).to_numpy(), atol=1e-6, rtol=0, err_msg=c)


@pytest.mark.parametrize("name", sorted(CWA_HEADS))
def test_cwa_head_agrees_with_skdh(name: str) -> None:
    device, blocks, rate = CWA_HEADS[name]
    path = FIXTURES / name
    assert cwa.sniff(path.read_bytes()[:4096], path)
    ours, info = cwa.read_all(path)
    ref = _ref(path)
    _assert_samples_equal(ours, ref)
    assert info["device"] == device and info["sample_rate_nominal_hz"] == rate
    assert float(ref.schema.metadata[b"fs"]) == rate
    t, rt = _secs(ours), ref.column("time").to_numpy()
    found = cwa_blocks(path)
    assert len(found) == blocks
    assert np.abs(skdh_times(found) - rt).max() < 1e-3  # skdh's rule reproduces its times
    assert np.abs(openmovement_times(found) - t).max() < 1e-5  # ours follow the openmovement rule
    assert np.abs(t - rt).max() < 2.0 / rate
    assert np.all(np.diff(t) > 0)


def test_cwa_head_corrupt_block_skipped_and_counted(tmp_path: Path) -> None:
    src = FIXTURES / "skdh_ax6_sample_head.cwa"
    data = bytearray(src.read_bytes())
    data[1024 + 3 * 512 + 100] ^= 0xFF  # break block 3's checksum
    bad = tmp_path / "bad.cwa"
    bad.write_bytes(bytes(data))
    clean, _ = cwa.read_all(src)
    ours, _ = cwa.read_all(bad)
    per_block = clean.num_rows // 8
    keep = np.repeat(np.arange(8) != 3, per_block)
    assert ours.num_rows == clean.num_rows - per_block
    for c in ("acc_x", "gyr_z"):
        np.testing.assert_array_equal(ours.column(c).to_numpy(), clean.column(c).to_numpy()[keep])


def test_cwa_head_uppercase_and_gz(tmp_path: Path) -> None:
    src = FIXTURES / "skdh_ax3_sample_head.cwa"
    up = tmp_path / "SUBJ.CWA"
    shutil.copy(src, up)
    gz = tmp_path / "subj.cwa.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    a, _ = cwa.read_all(src)
    assert cwa.read_all(up)[0].equals(a) and cwa.read_all(gz)[0].equals(a)


def test_geneactiv_head_agrees_with_skdh() -> None:
    assert geneactiv.sniff(GNACTV_HEAD.read_bytes()[:4096], GNACTV_HEAD)
    ours, info = geneactiv.read_all(GNACTV_HEAD)
    ref = _ref(GNACTV_HEAD)
    assert ours.num_rows == 2 * 300  # two complete pages of 300 samples
    _assert_samples_equal(ours, ref)
    assert np.abs(_secs(ours) - ref.column("time").to_numpy()).max() < 1e-3
    assert info["timezone"] == "-04:00" and info["sample_rate_nominal_hz"] == 50.0


def test_each_sniffer_claims_only_its_fixture() -> None:
    readers = {"cwa": cwa, "gt3x": gt3x, "geneactiv": geneactiv}
    expected = {**{n: "cwa" for n in CWA_HEADS}, GNACTV_HEAD.name: "geneactiv"}
    for name, kind in expected.items():
        p = FIXTURES / name
        assert [k for k, m in readers.items() if m.sniff(p.read_bytes()[:4096], p)] == [kind], p
