"""GENEActiv .bin reader on synthetic files in the device's text layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests._helpers.geneactiv_files import GAIN, OFFSET, bin_header, bin_page, hex_line
from wearfm.errors import FormatError, UnsupportedFormatError
from wearfm.io import geneactiv


def _make(path: Path, n_pages: int = 3, seed: int = 0, freqs: list[str] | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.integers(-2048, 2048, size=(n_pages, 300, 3))
    pages = [
        bin_page(
            k,
            f"2020-01-02 03:{4 + (5 + 6 * k) // 60:02d}:{(5 + 6 * k) % 60:02d}:500",
            raw[k],
            (freqs or ["50.0"] * n_pages)[k],
        )
        for k in range(n_pages)
    ]
    path.write_text(bin_header(pages=n_pages) + "".join(pages), newline="")
    return raw


def _acc(t: pa.Table) -> np.ndarray:
    return np.c_[[t.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z")]].T


def test_values_calibrated_and_page_times(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    raw = _make(p, freqs=["50.0", "50.0", "25.0"])
    table, info = geneactiv.read_all(p)
    gain = np.array([GAIN[a] for a in "xyz"])
    off = np.array([OFFSET[a] for a in "xyz"])
    np.testing.assert_allclose(_acc(table), (raw.reshape(-1, 3) * 100 - off) / gain, rtol=1e-6)
    t = table.column("time").cast("int64").to_numpy()
    t0 = np.datetime64("2020-01-02T03:04:05.500", "ns").astype(np.int64)
    assert t[0] == t0 and t[300] == t0 + 6 * 10**9 and t[600] == t0 + 12 * 10**9
    assert np.all(np.diff(t[:300]) == 20_000_000) and np.all(np.diff(t[600:]) == 40_000_000)  # page frequency
    assert info["device"] == "GENEActiv" and info["device_serial"] == "012345"
    assert info["timezone"] == "+01:00" and info["sample_rate_nominal_hz"] == 50.0 and info["device_range_g"] == 8.0
    assert info["counters"]["pages"] == 3 and info["counters"]["frequency_changes"] == 1


def test_decode_page_hex_signs_and_light() -> None:
    xyz = np.array([[-2048, 2047, -1]] * 300)
    light = np.full(300, 1023)
    raw = bytes.fromhex(hex_line(xyz, light))
    got, lx, button = geneactiv.decode_page_hex(raw, 1)
    assert got[0, 0].tolist() == [-2048, 2047, -1] and lx[0, 0] == 1023 and button[0, 0] == 0


def test_corrupt_and_truncated_pages(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    _make(p, n_pages=4)
    text = p.read_text()
    pages = text.split("Recorded Data")
    bad = pages[2].replace("Measurement Frequency:50.0\r\n", "Measurement Frequency:50.0\r\nZZ", 1)
    text = "Recorded Data".join([pages[0], pages[1], bad[:-2] + "\r\n", pages[3], pages[4][:1000]])
    p.write_text(text, newline="")
    table, info = geneactiv.read_all(p)
    assert table.num_rows == 600
    assert info["counters"]["corrupt_pages"] == 1 and info["counters"]["truncated_pages"] == 1
    assert info["counters"]["corrupt_pages_dropped"] == 300
    payload = pages[4][:1000].rstrip().splitlines()[-1].strip()  # the truncated page's samples, 12 hex digits each
    assert len(payload) > 100 and info["counters"]["truncated_pages_dropped"] == len(payload) // 12


def test_streaming_and_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "a.bin"
    _make(p, n_pages=30)
    whole, _ = geneactiv.read_all(p)
    monkeypatch.setattr(geneactiv, "READ_BYTES", 5000)
    chunks, _ = geneactiv.read(p, geneactiv.IngestConfig())
    parts = list(chunks)
    assert len(parts) >= 3 and pa.concat_tables(parts).equals(whole)
    gz = tmp_path / "a.bin.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert geneactiv.read_all(gz)[0].equals(whole)


def test_old_genea_format_is_unsupported(tmp_path: Path) -> None:
    p = tmp_path / "old.bin"
    p.write_bytes(b"GENEA/1.00\r\nSerial-Number:01275\r\nSample-Rate:80Hz\r\n\r\n" + bytes(range(256)) * 4)
    assert geneactiv.sniff(p.read_bytes()[:4096], p)
    with pytest.raises(UnsupportedFormatError, match="unsupported device format") as e:
        geneactiv.read_all(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty file"),
        (b"time,x,y,z\n0,1,2,3\n", "not a GENEActiv"),
        (b"MD\xfc\x03" + bytes(2000), "not a GENEActiv"),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.bin"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=match) as e:
        geneactiv.read_all(p)
    assert str(p) in str(e.value)


def test_truncated_inside_header_or_first_page(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    _make(p, n_pages=1)
    data = p.read_bytes()
    h = tmp_path / "h.bin"
    h.write_bytes(data[:300])
    with pytest.raises(FormatError, match="truncated|calibration"):
        geneactiv.read_all(h)
    q = tmp_path / "q.bin"
    q.write_bytes(data[:-500])
    with pytest.raises(FormatError, match="no complete GENEActiv data page"):
        geneactiv.read_all(q)


def test_sniff() -> None:
    assert geneactiv.sniff(b"Device Identity\r\nDevice Unique Serial Code:1\r\n", Path("a.bin"))
    assert not geneactiv.sniff(b"MD\xfc\x03", Path("a.bin"))
