"""Helpers shared by the paired-data, method and CLI tests: a tiny canonical dataset plus span files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests._helpers.signals import make_accel
from wearfm.io.manifest import entry_from_file, write_manifest
from wearfm.io.schema import encode_metadata, schema_for

T0 = 1_700_000_000 * 10**9  # ns
ACTS = ("walk", "run", "lie")
NARRATION = {"walk": "the person is walking", "run": "the person is running", "lie": "the person is lying down"}


def write_dataset(root: Path, subjects: int = 2, seconds: float = 60.0, hz: float = 30.0, gyro: bool = True) -> Path:
    """Subjects s0, s1, ... each one recording of ``seconds`` made of three equal activity blocks."""
    root.mkdir(parents=True, exist_ok=True)
    cols = ["time", "acc_x", "acc_y", "acc_z"] + (["gyr_x", "gyr_y", "gyr_z"] if gyro else []) + ["label"]
    for s in range(subjects):
        n = int(seconds * hz)
        third = n // 3
        parts, labels = [], []
        for a, act in enumerate(ACTS):
            k = third if a < 2 else n - 2 * third
            parts.append(make_accel(k / hz, hz, act, seed=10 * s + a, gyro=gyro))
            labels += [act] * k
        x = np.concatenate(parts)
        t = T0 + s * 10**12 + np.round(np.arange(n) * 1e9 / hz).astype(np.int64)
        arrays = [pa.array(t, pa.timestamp("ns"))] + [pa.array(x[:, i], pa.float32()) for i in range(x.shape[1])]
        arrays.append(pa.array(labels, pa.string()).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string())))
        meta = {"schema_version": "1", "subject": f"s{s}", "sample_rate_measured_hz": hz, "device": "sim"}
        schema = schema_for(cols).with_metadata(encode_metadata(meta))
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), root / f"s{s}.parquet")
    write_manifest(root, [entry_from_file(f, root) for f in sorted(root.glob("s*.parquet"))])
    return root


def span_rows(subjects: int = 2, seconds: float = 60.0) -> list[tuple[str, float, float, str]]:
    """(recording, start_s, end_s, activity) for each activity block, absolute Unix seconds."""
    rows = []
    for s in range(subjects):
        t0 = (T0 + s * 10**12) / 1e9
        third = seconds / 3
        for a, act in enumerate(ACTS):
            rows.append((f"s{s}.parquet", t0 + a * third, t0 + (a + 1) * third, act))
    return rows


def write_text_csv(path: Path, subjects: int = 2, seconds: float = 60.0) -> Path:
    lines = ["recording,start,end,text"]
    for rec, a, b, act in span_rows(subjects, seconds):
        lines.append(f"{rec},{a:.3f},{b:.3f},{NARRATION[act]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_video_parquet(
    path: Path, subjects: int = 2, seconds: float = 60.0, dim: int = 16, seg_s: float = 2.0
) -> Path:
    """Segment embeddings every ``seg_s`` seconds: a per-activity prototype plus noise."""
    rng = np.random.default_rng(0)
    proto = {act: rng.standard_normal(dim) for act in ACTS}
    recs, starts, ends, vecs = [], [], [], []
    for rec, a, b, act in span_rows(subjects, seconds):
        for t in np.arange(a, b - 1e-9, seg_s):
            recs.append(rec.removesuffix(".parquet"))
            starts.append(float(t))
            ends.append(float(min(t + seg_s, b)))
            vecs.append((proto[act] + 0.1 * rng.standard_normal(dim)).astype(np.float32).tolist())
    table = pa.table(
        {"recording": recs, "start": starts, "end": ends, "vector": pa.array(vecs, pa.list_(pa.float32()))}
    )
    pq.write_table(table, path)
    return path


def write_text_embeddings(path: Path, dim: int = 8) -> Path:
    rng = np.random.default_rng(1)
    texts = [NARRATION[act] for act in ACTS]
    vecs = [rng.standard_normal(dim).astype(np.float32).tolist() for _ in texts]
    pq.write_table(pa.table({"text": texts, "vector": pa.array(vecs, pa.list_(pa.float32()))}), path)
    return path
