"""A phone-style loop around an exported wearfm classifier: samples stream in, one class per window comes out.

Needs onnxruntime and numpy only. The model's metadata says what to feed it: the sample rate, the window
length, the channels (in g and deg/s) and the class names. Samples arrive in small bursts, as a sensor
callback delivers them; they fill a ring buffer, and each time a window is complete the model runs on it.
Here the stream is read from a ``.npy`` file of (N, channels) samples at the model's rate, or, without one,
simulated (still, then walking, then still).

Usage: python examples/onnx_classify_stream.py HAR.onnx [SAMPLES.npy]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import numpy as np
import onnxruntime as ort


def simulated_stream(rate: float, channels: list[str], seconds: float = 60.0, burst: int = 8) -> Iterator[np.ndarray]:
    """Bursts of (burst, C) samples: 20 s still, 20 s walking (1.8 steps/s), 20 s still; gravity on z."""
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.zeros((n, len(channels)), dtype=np.float32)
    z = channels.index("acc_z") if "acc_z" in channels else 0
    x[:, z] = 1.0
    walking = (t >= seconds / 3) & (t < 2 * seconds / 3)
    x[walking, z] += 0.3 * np.sin(2 * np.pi * 1.8 * t[walking])
    x += 0.01 * rng.standard_normal(x.shape).astype(np.float32)
    for i in range(0, n, burst):
        yield x[i : i + burst]


class StreamingClassifier:
    """Collects samples in a ring buffer and classifies each complete window (no overlap)."""

    def __init__(self, model: str) -> None:
        self.sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.rate = float(meta["wearfm.sample_rate_hz"])
        self.window = int(meta["wearfm.window_samples"])
        self.channels = json.loads(meta["wearfm.channels"])
        self.classes = json.loads(meta["wearfm.class_names"])
        self.buffer = np.zeros((len(self.channels), self.window), dtype=np.float32)
        self.filled = 0

    def push(self, samples: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Add (n, C) samples; returns (class, probabilities) for every window they complete."""
        out = []
        for row in samples:
            self.buffer[:, self.filled] = row
            self.filled += 1
            if self.filled == self.window:
                probs = self.sess.run(["probabilities"], {"x": self.buffer[None]})[0][0]
                out.append((self.classes[int(probs.argmax())], probs))
                self.filled = 0
        return out


def main(model: str, samples: str | None = None) -> list[str]:
    clf = StreamingClassifier(model)
    if samples:
        data = np.load(samples).astype(np.float32)
        stream: Iterator[np.ndarray] = (data[i : i + 8] for i in range(0, len(data), 8))
    else:
        stream = simulated_stream(clf.rate, clf.channels)
    labels = []
    for burst in stream:
        for name, probs in clf.push(burst):
            t = len(labels) * clf.window / clf.rate
            print(f"{t:7.1f} s  {name:<14} p={probs.max():.2f}")
            labels.append(name)
    return labels


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
