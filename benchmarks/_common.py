"""Helpers shared by the benchmark scripts: device timing, known GPU peaks, and synthetic datasets."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from wearfm.io.manifest import entry_from_file, write_manifest
from wearfm.io.schema import ACC, GYR, SCHEMA_VERSION, encode_metadata, schema_for

T = TypeVar("T")

T0_NS = 1_700_000_000 * 10**9  # start of every synthetic recording (UTC, ns)
# dense bf16 peaks; the first key found in the device name wins, so the PCIe H100 is listed before the SXM one
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0}


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a wall-clock interval covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_ms(fn: Callable[[], T], device: torch.device, repeats: int) -> tuple[float, T]:
    """The best wall time of ``repeats`` calls of ``fn`` in milliseconds, and the last call's result."""
    best, out = float("inf"), None
    for _ in range(max(repeats, 1)):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0, out  # type: ignore[return-value]


def peak_tflops(device: torch.device, given: float | None = None) -> float:
    """The device's peak TFLOP/s: ``given``, else a known GPU's dense bf16 peak, else NaN."""
    if given:
        return given
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_BF16_TFLOPS.items():
            if key in name:
                return value
    return float("nan")


def synthetic_dataset(root: Path, subjects: int, minutes: float, hz: float = 30.0) -> Path:
    """Canonical recordings of a noisy walking-like signal (acc + gyr), one per subject, with a manifest."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(subjects):
        n = int(minutes * 60 * hz)
        t = np.arange(n) / hz
        v = 0.05 * rng.standard_normal((n, 6)).astype(np.float32)
        v[:, 2] += 1.0 + 0.3 * np.sin(2 * np.pi * 1.8 * t)
        v[:, 3:] *= 200
        times = pa.array(T0_NS + np.round(t * 1e9).astype(np.int64), pa.timestamp("ns"))
        cols = ["time", *ACC, *GYR]
        meta = {
            "schema_version": SCHEMA_VERSION,
            "subject": f"S{s}",
            "device": "synthetic",
            "placement": "wrist",
            "sample_rate_measured_hz": hz,
            "time_reference": "utc",
            "acc_unit": "g",
            "gyr_unit": "deg/s",
        }
        arrays = [times] + [pa.array(v[:, k]) for k in range(6)]
        table = pa.Table.from_arrays(arrays, schema=schema_for(cols).with_metadata(encode_metadata(meta)))
        p = root / f"s{s}.parquet"
        pq.write_table(table, p)
        paths.append(p)
    write_manifest(root, [entry_from_file(p, root) for p in paths])
    return root


def synthetic_paired_dataset(
    root: Path, subjects: int, minutes: float, hz: float, *, text_dim: int = 384, video_dim: int = 512
) -> Path:
    """:func:`synthetic_dataset` paired with random text vectors (10 s narrations) and video vectors (2 s).

    The text vectors are precomputed (no text model is loaded); their size is all-MiniLM-L6-v2's, the video
    vectors' a CLIP image embedding's. Returns the paired dataset folder ``root / "paired"``.
    """
    from wearfm.data.paired import pair_dataset

    raw = synthetic_dataset(root / "raw", subjects, minutes, hz)
    rng = np.random.default_rng(1)
    phrases = [f"the person does activity {i}" for i in range(8)]
    t0, span = T0_NS / 1e9, minutes * 60
    narr = ["recording,start,end,text"]
    vid: dict[str, list[Any]] = {"recording": [], "start": [], "end": [], "vector": []}
    for s in range(subjects):
        for a in np.arange(0.0, span - 1e-9, 10.0):
            narr.append(f"s{s},{t0 + a:.3f},{t0 + min(a + 10.0, span):.3f},{phrases[int(a // 10) % len(phrases)]}")
        for a in np.arange(0.0, span - 1e-9, 2.0):
            vid["recording"].append(f"s{s}")
            vid["start"].append(t0 + a)
            vid["end"].append(t0 + min(a + 2.0, span))
            vid["vector"].append(rng.standard_normal(video_dim).astype(np.float32).tolist())
    (root / "narrations.csv").write_text("\n".join(narr) + "\n")
    vecs = pa.array(rng.standard_normal((len(phrases), text_dim)).astype(np.float32).tolist(), pa.list_(pa.float32()))
    pq.write_table(pa.table({"text": phrases, "vector": vecs}), root / "text_vectors.parquet")
    video = {**vid, "vector": pa.array(vid["vector"], pa.list_(pa.float32()))}
    pq.write_table(pa.table(video), root / "video.parquet")
    out = root / "paired"
    pair_dataset(
        raw, out, text=root / "narrations.csv", video=root / "video.parquet",
        text_embeddings=root / "text_vectors.parquet", overwrite=True,
    )  # fmt: skip
    return out
