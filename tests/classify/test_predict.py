"""`wearfm classify predict`: timelines, non-wear, rates, channels, chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._helpers.labelled import write_recording
from tests._helpers.signals import make_accel
from wearfm.classify.fit import fit
from wearfm.classify.predict import predict
from wearfm.config import ClassifyConfig
from wearfm.errors import ConfigError, DataError


@pytest.fixture
def clf(noisy: Path, tmp_path: Path) -> Path:
    out = tmp_path / "clf"
    fit(ClassifyConfig(data=str(noisy), encoder="features", out=str(out), shots=5))
    return out


def test_timeline_columns_and_probabilities(noisy: Path, clf: Path, tmp_path: Path) -> None:
    res = predict(ClassifyConfig(data=str(noisy), model=str(clf), out=str(tmp_path / "t.parquet"), smooth="hmm"))
    t = pq.read_table(tmp_path / "t.parquet")
    assert t.num_rows == res["windows"] == 75
    assert {"recording", "subject", "start", "seconds", "label", "nonwear", "predicted", "predicted_raw"} <= set(
        t.column_names
    )
    p = np.stack([t.column(f"prob_{c}").to_numpy() for c in ("lie", "run", "walk")], axis=1)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    raw = np.array(["lie", "run", "walk"])[p.argmax(1)]
    assert raw.tolist() == t.column("predicted_raw").to_pylist()
    assert set(t.column("seconds").to_pylist()) == {10.0}


def test_chunks_do_not_change_the_output(noisy: Path, clf: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.parquet"
    b = tmp_path / "b.parquet"
    predict(ClassifyConfig(data=str(noisy), model=str(clf), out=str(a), smooth="median:3"))
    predict(ClassifyConfig(data=str(noisy), model=str(clf), out=str(b), smooth="median:3", chunk_windows=2))
    assert pq.read_table(a).equals(pq.read_table(b))
    assert pq.ParquetFile(b).num_row_groups > pq.ParquetFile(a).num_row_groups


def _with_nonwear(path: Path, span_s: tuple[float, float]) -> None:
    """Mark ``span_s`` of the recording at ``path`` as non-wear (as `wearfm ingest --nonwear mark` records it)."""
    from wearfm.io.schema import decode_metadata, encode_metadata

    t = pq.read_table(path)
    meta = decode_metadata(t.schema.metadata)
    spans = [[int(span_s[0] * 1e9), int(span_s[1] * 1e9)]]
    meta["schema_version"] = "2"
    meta["nonwear"] = {"nonwear_s": span_s[1] - span_s[0], "spans_ns": spans}
    nw = pa.array(
        (t.column("time").cast(pa.int64()).to_numpy() >= spans[0][0])
        & (t.column("time").cast(pa.int64()).to_numpy() < spans[0][1])
    )
    t = t.append_column("nonwear", nw)
    pq.write_table(t.replace_schema_metadata(encode_metadata(meta)), path)


def test_nonwear_windows_get_the_nonwear_class(noisy: Path, clf: Path, tmp_path: Path) -> None:
    rec = tmp_path / "week" / "s9.parquet"
    write_recording(rec, make_accel(seconds=60, hz=30, activity="walk", seed=1), 30.0, "s9", None)
    _with_nonwear(rec, (20.0, 40.0))
    res = predict(ClassifyConfig(data=str(rec.parent), model=str(clf), out=str(tmp_path / "t.parquet"), smooth="hmm"))
    t = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert res["nonwear_windows"] == 2 and len(t) == 5  # the windows starting at 20 s and 30 s
    assert [r["nonwear"] for r in t] == [False, False, True, True, False]
    assert [r["predicted"] == "nonwear" for r in t] == [False, False, True, True, False]
    assert all(np.isnan(r["prob_walk"]) for r in t if r["nonwear"])


def test_other_rate_is_resampled_or_refused(clf: Path, tmp_path: Path) -> None:
    rec = tmp_path / "fast" / "s9.parquet"
    write_recording(rec, make_accel(seconds=40, hz=50, activity="run", seed=1), 50.0, "s9", None)
    res = predict(ClassifyConfig(data=str(rec.parent), model=str(clf), out=str(tmp_path / "t.parquet")))
    assert res["windows"] == 4  # 40 s at 50 Hz, resampled to 30 Hz: four 10 s windows
    with pytest.raises(ConfigError, match="--strict"):
        predict(ClassifyConfig(data=str(rec.parent), model=str(clf), out=str(tmp_path / "t.parquet"), strict=True))


def test_missing_channels_are_refused(noisy: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf"
    gyro_data = tmp_path / "gyro"
    from tests._helpers.labelled import write_dataset

    write_dataset(gyro_data, gyro=True)
    fit(ClassifyConfig(data=str(gyro_data), encoder="features", out=str(out), shots=2, channels="acc+gyr"))
    with pytest.raises(DataError, match="needs channels acc\\+gyr"):
        predict(ClassifyConfig(data=str(noisy), model=str(out), out=str(tmp_path / "t.parquet")))


def test_bad_smooth_is_refused(noisy: Path, clf: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="median:K"):
        predict(ClassifyConfig(data=str(noisy), model=str(clf), out=str(tmp_path / "t.parquet"), smooth="median:4"))


def test_blocks_cover_the_recording_once(clf: Path, tmp_path: Path) -> None:
    """Read in 25 s blocks, a 120 s recording gives the windows of one read: increasing starts, none twice."""
    rec = tmp_path / "long" / "s9.parquet"
    write_recording(rec, make_accel(seconds=120, hz=30, activity="walk", seed=1), 30.0, "s9", None)
    whole = predict(ClassifyConfig(data=str(rec.parent), model=str(clf), out=str(tmp_path / "a.parquet")))
    res = predict(
        ClassifyConfig(data=str(rec.parent), model=str(clf), out=str(tmp_path / "b.parquet"), block_hours=25 / 3600)
    )
    starts = pq.read_table(tmp_path / "b.parquet").column("start").cast(pa.int64()).to_numpy()
    assert res["windows"] == whole["windows"] == 11
    assert np.all(np.diff(starts) >= 10e9 - 1e6)  # no window twice, none overlapping the one before by more than 1 ms
