from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._helpers.paired import (
    NARRATION,
    T0,
    write_dataset,
    write_text_csv,
    write_text_embeddings,
    write_video_parquet,
)
from wearfm.data.paired import has_pairs, load_pairs, pair_dataset
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError, DataError


@pytest.fixture()
def ds(tmp_path):
    return write_dataset(tmp_path / "ds")


def _pair(ds, tmp_path, **kw):
    kw.setdefault("text", write_text_csv(tmp_path / "narr.csv"))
    kw.setdefault("text_embeddings", write_text_embeddings(tmp_path / "temb.parquet"))
    kw.setdefault("video", write_video_parquet(tmp_path / "vid.parquet"))
    return pair_dataset(ds, tmp_path / "paired", **kw)


def test_pair_writes_dataset_and_side_tables(ds, tmp_path):
    summary = _pair(ds, tmp_path)
    out = tmp_path / "paired"
    assert has_pairs(out) and not has_pairs(ds)
    assert summary["recordings"] == 2 and summary["text"]["dim"] == 8 and summary["video"]["dim"] == 16
    assert summary["text"]["rows"] == 6 and summary["video"]["rows"] == 60
    assert (out / "manifest.parquet").exists() and (out / "s0.parquet").exists()
    assert os.stat(out / "s0.parquet").st_ino == os.stat(ds / "s0.parquet").st_ino  # hard link
    t = pq.read_table(out / "pairs" / "text.parquet")
    assert t.column_names == ["recording", "start_ns", "end_ns", "text", "vector"]
    assert set(t.column("recording").to_pylist()) == {"s0.parquet", "s1.parquet"}
    info = json.loads((out / "pairs" / "pairs.json").read_text())
    assert info["modalities"]["text"]["source"] == "precomputed:temb.parquet"


def test_windows_get_overlapping_text_and_mean_video(ds, tmp_path):
    _pair(ds, tmp_path)
    ws = load_windows(tmp_path / "paired", rate_hz=30, window=150)  # 5 s windows, 12 per recording
    pairs = load_pairs(tmp_path / "paired", ws)
    assert pairs.present["text"].all() and pairs.present["video"].all()
    # Each window's narration is the activity that covers it most, i.e. its (pure) label.
    labels = ws.label_strings()
    for i in range(len(ws)):
        assert pairs.texts[i] == NARRATION[labels[i]]
    # Video: mean of the 2 s segments overlapping the window, weighted by overlap: check window 1 by hand.
    vid = pq.read_table(tmp_path / "paired" / "pairs" / "video.parquet").to_pydict()
    ws0, we0 = int(ws.start_ns[1]), int(ws.start_ns[1]) + 5 * 10**9
    acc, wsum = np.zeros(16), 0.0
    for r, s, e, v in zip(vid["recording"], vid["start_ns"], vid["end_ns"], vid["vector"], strict=True):
        ov = min(e, we0) - max(s, ws0)
        if r == ws.entries[ws.recording[1]].path and ov > 0:
            acc += ov * np.asarray(v)
            wsum += ov
    np.testing.assert_allclose(pairs.vectors["video"][1], acc / wsum, rtol=1e-5)


def test_partial_coverage_leaves_windows_unpaired(ds, tmp_path):
    csv = tmp_path / "few.csv"
    csv.write_text(f"subject,start,end,text\ns0,{T0 / 1e9},{T0 / 1e9 + 10},the person is walking\n")
    pair_dataset(ds, tmp_path / "paired", text=csv, text_embeddings=write_text_embeddings(tmp_path / "e.parquet"))
    ws = load_windows(tmp_path / "paired", rate_hz=30, window=150)
    pairs = load_pairs(tmp_path / "paired", ws)
    assert pairs.present["text"].sum() == 2  # the first two 5 s windows of s0
    assert not pairs.vectors["text"][~pairs.present["text"]].any()
    with pytest.raises(DataError, match="video"):
        load_pairs(tmp_path / "paired", ws, modalities=("text", "video"))


def test_relative_times_and_iso_times(ds, tmp_path):
    rel = tmp_path / "rel.csv"
    rel.write_text("recording,start,end,text\ns1,0,5,the person is walking\n")
    pair_dataset(ds, tmp_path / "p1", text=rel, relative=True, text_embeddings=write_text_embeddings(tmp_path / "e.pq"))
    ws = load_windows(tmp_path / "p1", rate_hz=30, window=150)
    pairs = load_pairs(tmp_path / "p1", ws)
    assert pairs.present["text"].sum() == 1 and ws.subject_names()[pairs.present["text"]][0] == "s1"
    iso = tmp_path / "iso.csv"
    iso.write_text("recording,start,end,text\ns0,2023-11-14T22:13:20,2023-11-14T22:13:25,the person is running\n")
    pair_dataset(ds, tmp_path / "p2", text=iso, text_embeddings=tmp_path / "e.pq")
    assert load_pairs(tmp_path / "p2", ws).present["text"].sum() == 1  # T0 is 2023-11-14T22:13:20Z


def test_bad_inputs(ds, tmp_path):
    emb = write_text_embeddings(tmp_path / "e.parquet")
    bad = tmp_path / "bad.csv"
    bad.write_text("recording,start,end\ns0,0,1\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['text'\]"):
        pair_dataset(ds, tmp_path / "o", text=bad, text_embeddings=emb)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"recording,start,end,text\nnope,{T0 / 1e9},{T0 / 1e9 + 5},x\n")
    with pytest.raises(DataError, match="row 2 references recording 'nope'"):
        pair_dataset(ds, tmp_path / "o", text=unknown, text_embeddings=emb)
    vid = tmp_path / "v.parquet"
    pq.write_table(
        pa.table(
            {
                "recording": ["s0", "s0"],
                "start": [0.0, 1.0],
                "end": [1.0, 2.0],
                "vector": pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]], pa.list_(pa.float32())),
            }
        ),
        vid,
    )
    with pytest.raises(DataError, match="inconsistent sizes"):
        pair_dataset(ds, tmp_path / "o", video=vid, relative=True)
    with pytest.raises(ConfigError, match="nothing to pair"):
        pair_dataset(ds, tmp_path / "o")
    _pair(ds, tmp_path)
    with pytest.raises(ConfigError, match="--overwrite"):
        _pair(ds, tmp_path)
    ws = load_windows(ds, rate_hz=30, window=150)
    with pytest.raises(DataError, match="wearfm pair"):
        load_pairs(ds, ws)


@pytest.mark.skipif(not __import__("wearfm.text", fromlist=["x"]).text_model_available(), reason="wearfm[text] absent")
def test_text_model_embeds_and_caches(ds, tmp_path):
    summary = pair_dataset(ds, tmp_path / "p", text=write_text_csv(tmp_path / "n.csv"), cache_dir=tmp_path / "cache")
    assert summary["text"]["dim"] == 384 and summary["text"]["source"] == "all-MiniLM-L6-v2"
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # 3 distinct narrations, embedded once
    v = np.asarray(pq.read_table(tmp_path / "p" / "pairs" / "text.parquet").column("vector").to_pylist())
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
