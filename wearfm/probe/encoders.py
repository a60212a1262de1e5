"""Resolve an ``--encoder`` spec into something that embeds (B, C, T) windows, with its data contract.

Accepted specs:

- a run folder of `wearfm pretrain` (holding ``encoder.pt``) or a ``.pt`` file from ``save_encoder``;
- an exported ``.onnx`` file (run with onnxruntime; torch is not imported on this path). Its metadata must
  carry ``wearfm.sample_rate_hz``, ``wearfm.window_samples`` and ``wearfm.channels``;
- ``random:<name>``, ``features`` and ``supervised:<name>``: the baselines of :mod:`wearfm.probe.baselines`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from wearfm.errors import ConfigError
from wearfm.export.modelfile import ModelFile, model_kind, open_model
from wearfm.probe import baselines
from wearfm.probe.resolved import ResolvedEncoder, resolve_device, torch_embedder

# ResolvedEncoder and resolve_device live in wearfm.probe.resolved and are re-exported here
__all__ = ["ResolvedEncoder", "resolve_encoder", "is_learned", "resolve_device"]

log = logging.getLogger(__name__)


def is_learned(spec: str) -> bool:
    """Whether ``spec`` names a saved model (run folder, .pt, .onnx) rather than a built-in baseline."""
    return not (spec == "features" or spec.startswith(("random:", "supervised:")))


def resolve_encoder(
    spec: str,
    *,
    rate_hz: float,
    window: int,
    channels: tuple[str, ...],
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 256,
) -> ResolvedEncoder:
    """Turn one ``--encoder`` value into a :class:`ResolvedEncoder`.

    Args:
        spec: run folder, ``.pt``, ``.onnx``, ``features``, ``random:<name>`` or ``supervised:<name>``.
        rate_hz: sample rate given to baselines (saved models carry their own).
        window: window length in samples given to baselines.
        channels: channel names given to baselines.
        seed: seed of the random initialisation of ``random:`` and ``supervised:`` encoders.
        device: torch device for torch encoders (``auto``: CUDA when available).
        batch_size: windows per forward pass (ONNX models with a fixed batch size use theirs).

    Raises:
        ConfigError: an unknown spec or encoder name.
        CheckpointError: a model file that cannot be used.
    """
    if spec == "features":
        return baselines.features_encoder(rate_hz, window, channels)
    if spec.startswith("random:"):
        return baselines.random_encoder(spec, spec.split(":", 1)[1], rate_hz, window, channels, seed, device)
    if spec.startswith("supervised:"):
        return baselines.supervised_encoder(spec, spec.split(":", 1)[1], rate_hz, window, channels, seed)
    if model_kind(spec) is None:
        raise ConfigError(
            f"--encoder {spec!r} is neither a run folder, a .pt or .onnx file, nor a baseline; "
            "use a run folder of `wearfm pretrain`, model.onnx, features, random:<name> or supervised:<name>"
        )
    m = open_model(spec)
    if m.kind == "onnx":
        return _onnx_encoder(spec, m, batch_size)
    return _saved_encoder(spec, m, device)


def _saved_encoder(spec: str, m: ModelFile, device: str) -> ResolvedEncoder:
    path = m.path

    def fresh() -> Any:
        from wearfm.models.saved import load_encoder

        return load_encoder(path).train()

    return ResolvedEncoder(
        spec=spec,
        kind="pretrained",
        rate_hz=m.rate_hz,
        window=m.window,
        channels=m.channels,
        embed_dim=int(m.embed_dim or 0),
        method=m.method or "",
        architecture=m.architecture,
        embed=torch_embedder(m.model, device),
        make_trainable=fresh,
    )


def _onnx_encoder(spec: str, m: ModelFile, batch_size: int) -> ResolvedEncoder:
    sess = m.session
    inp = sess.get_inputs()[0]
    out_name = sess.get_outputs()[0].name
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    step = fixed or batch_size

    def embed(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        outs = []
        for i in range(0, len(x), step):
            chunk = x[i : i + step]
            n = len(chunk)
            if fixed and n < fixed:  # pad to the model's fixed batch size
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
            outs.append(np.asarray(sess.run([out_name], {inp.name: chunk})[0])[:n])
        return np.concatenate(outs).astype(np.float32)

    return ResolvedEncoder(
        spec=spec,
        kind="onnx",
        rate_hz=m.rate_hz,
        window=m.window,
        channels=m.channels,
        embed_dim=m.embed_dim or 0,
        method=m.method if m.method is not None else "unknown",
        architecture=m.architecture,
        embed=embed,
    )
