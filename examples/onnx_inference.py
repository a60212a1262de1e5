"""Run an exported wearfm encoder with onnxruntime and numpy only (no torch), as a phone app would.

Usage: python examples/onnx_inference.py MODEL.onnx RECORDING.parquet
"""

import json
import sys

import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq


def main(model: str, recording: str) -> np.ndarray:
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    rate = float(meta["wearfm.sample_rate_hz"])
    window = int(meta["wearfm.window_samples"])
    channels = json.loads(meta["wearfm.channels"])
    table = pq.read_table(recording, columns=["time", *channels])
    t = table.column("time").cast("int64").to_numpy() / 1e9
    # Resample to the model's rate by linear interpolation (the model normalises internally).
    grid = np.arange(t[0], t[-1], 1.0 / rate)
    x = np.stack([np.interp(grid, t, table.column(c).to_numpy()) for c in channels]).astype(np.float32)
    n = x.shape[1] // window
    batch = x[:, : n * window].reshape(len(channels), n, window).transpose(1, 0, 2)  # (n, C, T)
    emb = sess.run(["embedding"], {"x": np.ascontiguousarray(batch)})[0]
    print(f"{n} windows of {window / rate:g} s -> embeddings {emb.shape}")
    return emb


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
