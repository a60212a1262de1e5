"""Tiny canonical datasets for the training tests (written with the schema/manifest helpers, no ingest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests._helpers.signals import make_accel
from wearfm.io.manifest import entry_from_file, write_manifest
from wearfm.io.schema import ACC, GYR, SCHEMA_VERSION, encode_metadata, schema_for

T0 = 1_700_000_000 * 10**9  # an arbitrary UTC start (ns)


def write_recording(
    path: Path,
    values: np.ndarray,
    *,
    hz: float,
    subject: str,
    start_ns: int = T0,
    labels: list[str | None] | None = None,
    gap_at: int | None = None,
    gap_s: float = 5.0,
) -> Path:
    """Write one canonical recording; ``gap_at`` inserts a ``gap_s`` hole before that sample."""
    n = len(values)
    t = start_ns + np.round(np.arange(n) * 1e9 / hz).astype(np.int64)
    if gap_at is not None:
        t[gap_at:] += int(gap_s * 1e9)
    cols = list(ACC) + (list(GYR) if values.shape[1] == 6 else [])
    arrays = [pa.array(t, pa.timestamp("ns"))] + [pa.array(values[:, k], pa.float32()) for k in range(len(cols))]
    names = ["time", *cols]
    if labels is not None:
        arrays.append(pa.array(labels, pa.string()).dictionary_encode())
        names.append("label")
    meta = {
        "schema_version": SCHEMA_VERSION,
        "subject": subject,
        "device": "sim",
        "placement": "wrist",
        "sample_rate_measured_hz": hz,
        "time_reference": "utc",
        "acc_unit": "g",
    }
    table = pa.Table.from_arrays(arrays, schema=schema_for(names).with_metadata(encode_metadata(meta)))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_dataset(
    root: Path,
    *,
    subjects: int = 3,
    seconds: float = 120.0,
    hz: float = 30.0,
    gyro: bool = False,
    labels: bool = True,
    gap: bool = False,
    seed: int = 0,
) -> Path:
    """A dataset folder of ``subjects`` recordings (walk / run halves) with a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(subjects):
        half = seconds / 2
        v = np.concatenate(
            [make_accel(half, hz, "walk", seed + s, gyro), make_accel(half, hz, "run", seed + 100 + s, gyro)]
        )
        n = len(v)
        lab = ["walk"] * (n // 2) + ["run"] * (n - n // 2) if labels else None
        paths.append(
            write_recording(
                root / f"s{s:02d}.parquet",
                v,
                hz=hz,
                subject=f"S{s:02d}",
                start_ns=T0 + s * 7200 * 10**9,
                labels=lab,
                gap_at=n // 3 if gap else None,
            )
        )
    write_manifest(root, [entry_from_file(p, root) for p in paths])
    return root
