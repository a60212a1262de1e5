"""Synthetic labelled datasets for probe and classifier tests: one recording per subject x activity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests._helpers.signals import make_accel
from wearfm.io.schema import ACC, GYR, encode_metadata, schema_for

ACTIVITIES = ("walk", "run", "lie")


def write_recording(path: Path, values: np.ndarray, hz: float, subject: str, labels: list[str | None] | None) -> None:
    n = len(values)
    t = (np.arange(n) * (1e9 / hz)).astype("int64")
    cols = ["time", *ACC] + (list(GYR) if values.shape[1] == 6 else []) + (["label"] if labels is not None else [])
    arrays = [pa.array(t, type=pa.int64()).cast(pa.timestamp("ns"))]
    arrays += [pa.array(values[:, i], type=pa.float32()) for i in range(values.shape[1])]
    if labels is not None:
        arrays.append(
            pa.array(labels, type=pa.string()).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))
        )
    schema = schema_for(cols)
    meta = encode_metadata(
        {
            "schema_version": "1",
            "subject": subject,
            "device": "sim",
            "placement": "wrist",
            "sample_rate_measured_hz": hz,
            "acc_unit": "g",
            "time_reference": "utc",
        }
    )
    table = pa.Table.from_arrays(arrays, schema=schema.with_metadata(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_dataset(
    root: Path,
    subjects: tuple[str, ...] = ("s1", "s2", "s3", "s4"),
    activities: tuple[str, ...] = ACTIVITIES,
    seconds: float = 40.0,
    hz: float = 30.0,
    gyro: bool = False,
    labelled: bool = True,
) -> Path:
    for si, s in enumerate(subjects):
        for ai, a in enumerate(activities):
            x = make_accel(seconds=seconds, hz=hz, activity=a, seed=100 * si + ai, gyro=gyro)
            labels = [a] * len(x) if labelled else None
            # each recording starts at its own time so recordings of a subject do not overlap
            write_recording(root / f"{s}_{a}.parquet", x, hz, s, labels)
    return root


def write_noisy_dataset(
    root: Path,
    subjects: tuple[str, ...] = ("s1", "s2", "s3", "s4", "s5"),
    seconds: float = 60.0,
    hz: float = 30.0,
    noise: float = 1.5,
) -> Path:
    """One recording per subject x activity; Gaussian noise of ``noise`` g blurs the classes."""
    rng = np.random.default_rng(7)
    for si, s in enumerate(subjects):
        for ai, a in enumerate(ACTIVITIES):
            x = make_accel(seconds=seconds, hz=hz, activity=a, seed=100 * si + ai)
            x = (x + noise * rng.standard_normal(x.shape)).astype(np.float32)
            write_recording(root / f"{s}_{a}.parquet", x, hz, s, [a] * len(x))
    return root
