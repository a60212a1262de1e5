"""ONNX export of an encoder's ``forward_features``, checked against PyTorch with onnxruntime.

Exporter choice (``exporter="auto"``), measured with torch 2.13 / onnxscript 0.7:

* encoders without recurrent layers (``resnet1d``, ``patchtst``) use the ``torch.export``-based exporter
  (``dynamo=True``), the default and maintained one; batch and time stay symbolic;
* encoders with an ``nn.GRU``/``nn.LSTM`` (``cnn_gru``) use the TorchScript exporter (``dynamo=False``): it
  emits one native ONNX ``GRU`` node that runs at any batch size and length, whereas ``torch.export``
  decomposes the recurrence step by step (minutes to export, a graph tied to the traced length).

If the chosen exporter fails, or its model disagrees with PyTorch, the other one is tried. The time axis is
dynamic when onnxruntime matches PyTorch at a second window length too; otherwise the model is re-exported
with a fixed time axis (``wearfm.dynamic_axes`` says which).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wearfm import __version__
from wearfm.errors import CheckpointError, ConfigError, WearfmError
from wearfm.export.meta import INPUT_NAME, OUTPUT_NAME, describe_onnx, units_for, write_onnx_metadata

if TYPE_CHECKING:
    import torch

    from wearfm.models.saved import EmbeddingModel

__all__ = [
    "ExportResult",
    "VerificationError",
    "export_onnx",
    "verify_onnx",
    "compare_onnx",
    "describe_onnx",
    "build_metadata",
    "realistic_windows",
    "EXPORTERS",
]

log = logging.getLogger(__name__)

EXPORTERS = ("auto", "dynamo", "torchscript")
BATCH_SIZES = (1, 7, 64)


class VerificationError(WearfmError, ValueError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote. Usable as a path (``os.fspath(result)``).

    Attributes:
        path: the ONNX file.
        exporter: ``dynamo`` or ``torchscript``.
        opset: ONNX opset of the file.
        dynamic_axes: the input's dynamic axes, e.g. ``{0: "batch", 2: "time"}``.
        max_abs_diff: worst |onnxruntime - PyTorch| over the checks (NaN when not checked).
        checks: one dict per checked case (inputs, batch, length, max_abs_diff).
        size_bytes: file size.
        seconds: wall time of the export and checks.
        metadata: the ``wearfm.*`` metadata written into the file.
    """

    path: Path
    exporter: str
    opset: int
    dynamic_axes: dict[int, str]
    max_abs_diff: float = float("nan")
    checks: list[dict[str, Any]] = field(default_factory=list)
    size_bytes: int = 0
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def __fspath__(self) -> str:
        return str(self.path)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "path": str(self.path),
            "exporter": self.exporter,
            "opset": self.opset,
            "dynamic_axes": {str(k): v for k, v in self.dynamic_axes.items()},
            "max_abs_diff": self.max_abs_diff if self.checks else None,  # JSON has no NaN: null when not checked
            "checks": self.checks,
            "size_bytes": self.size_bytes,
            "seconds": round(self.seconds, 2),
        }


def realistic_windows(n: int, channels: tuple[str, ...], length: int, rate_hz: float, seed: int = 0) -> np.ndarray:
    """(n, C, T) float32 windows that look like wrist/pocket IMU data.

    Gravity points in a random direction; gait-like oscillations in g and, for gyroscope channels, rotations of
    tens of deg/s, plus sensor noise.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length) / max(rate_hz, 1e-6)
    out = np.zeros((n, len(channels), length), dtype=np.float64)
    g = rng.standard_normal((n, 3))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    f = rng.uniform(0.5, 3.0, (n, 1, 1))
    amp = rng.uniform(0.0, 0.8, (n, len(channels), 1))
    phase = rng.uniform(0, 2 * np.pi, (n, len(channels), 1))
    wave = np.sin(2 * np.pi * f * t[None, None, :] + phase)
    for i, c in enumerate(channels):
        axis = "xyz".index(c[-1]) if c[-1] in "xyz" else i % 3
        if c.startswith("gyr"):
            out[:, i] = 60.0 * amp[:, i] * wave[:, i] + rng.standard_normal((n, length))
        else:
            out[:, i] = g[:, axis, None] + amp[:, i] * wave[:, i] + 0.01 * rng.standard_normal((n, length))
    return out.astype(np.float32)


def build_metadata(
    model: EmbeddingModel,
    *,
    opset: int,
    exporter: str,
    dynamic_axes: dict[int, str],
    checkpoint_sha256: str = "",
    quantization: str = "none",
    quantization_info: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The ``wearfm.*`` metadata of an exported ``model`` (see :data:`wearfm.export.meta.ONNX_METADATA_KEYS`)."""
    s = model.spec
    norm = s.normalization
    normalization = {
        "mean": list(norm["mean"]) if norm else None,
        "std": list(norm["std"]) if norm else None,
        "applied_inside_model": True,
        "note": "(x - mean) / std is part of the graph: feed raw values in g (acc) and deg/s (gyr)",
    }
    return {
        "wearfm.sample_rate_hz": repr(float(s.rate_hz)),
        "wearfm.window_samples": str(int(s.window_samples)),
        "wearfm.channels": json.dumps(list(s.channels)),
        "wearfm.units": json.dumps(units_for(s.channels)),
        "wearfm.normalization": json.dumps(normalization),
        "wearfm.embed_dim": str(int(model.embed_dim)),
        "wearfm.method": str(s.method),
        "wearfm.encoder": str(s.encoder),
        "wearfm.encoder_kwargs": json.dumps(s.encoder_kwargs, default=str, sort_keys=True),
        "wearfm.head": json.dumps(s.head),
        "wearfm.version": __version__,
        "wearfm.checkpoint_sha256": checkpoint_sha256,
        "wearfm.opset": str(int(opset)),
        "wearfm.quantization": quantization,
        "wearfm.quantization_info": json.dumps(quantization_info or {}, default=str),
        "wearfm.exporter": exporter,
        "wearfm.dynamic_axes": json.dumps({str(k): v for k, v in dynamic_axes.items()}),
    }


def export_onnx(
    model: EmbeddingModel,
    path: str | Path,
    example_input: torch.Tensor | np.ndarray | None = None,
    opset: int = 18,
    metadata: dict[str, str] | None = None,
    *,
    exporter: str = "auto",
    check: bool = True,
    atol: float = 1e-4,
    windows: np.ndarray | None = None,
    checkpoint_sha256: str = "",
) -> ExportResult:
    """Export ``model.forward_features`` to ONNX (input ``x`` (batch, C, T), output ``embedding`` (batch, D)).

    Args:
        model: an :class:`~wearfm.models.saved.EmbeddingModel` (normalisation and head are exported with it).
        path: the ``.onnx`` file to write (replaced atomically).
        example_input: (B, C, T) input to trace with; default: realistic windows of the model's length.
        opset: ONNX opset (recorded as ``wearfm.opset``).
        metadata: extra metadata entries, added to those of :func:`build_metadata`.
        exporter: ``auto``, ``dynamo`` or ``torchscript`` (see the module docstring).
        check: compare onnxruntime with PyTorch (random and realistic windows, batch 1, 7 and 64).
        atol: largest accepted absolute difference.
        windows: real (N, C, T) windows to include in the check.
        checkpoint_sha256: SHA-256 of the checkpoint the model came from.

    Returns:
        An :class:`ExportResult` (also usable as a path).

    Raises:
        VerificationError: no exporter gave a model within ``atol`` of PyTorch.
        ConfigError: unknown exporter.

    Examples:
        >>> res = export_onnx(load_encoder("runs/relcon"), "relcon.onnx")  # doctest: +SKIP
        >>> res.max_abs_diff < 1e-4  # doctest: +SKIP
        True
    """
    import torch

    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown exporter {exporter!r}; choose from {list(EXPORTERS)}")
    t_start = time.perf_counter()
    model = model.cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = model.spec
    c, t = len(spec.channels), int(spec.window_samples)
    if example_input is None:
        example_input = realistic_windows(2, spec.channels, t, spec.rate_hz, seed=1)
    x = torch.as_tensor(np.asarray(example_input, dtype=np.float32))
    if x.ndim != 3 or x.shape[1] != c:
        raise ConfigError(f"example_input must be (batch, {c}, time), got {tuple(x.shape)}")
    recurrent = any(isinstance(m, torch.nn.RNNBase) for m in model.modules())
    order = (
        [exporter] if exporter != "auto" else (["torchscript", "dynamo"] if recurrent else ["dynamo", "torchscript"])
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    errors: list[str] = []
    for kind in order:
        for dynamic_time in (True, False):
            try:
                _export(model, tmp, x, opset, kind, dynamic_time)
            except Exception as e:  # noqa: BLE001 - exporter failures are many and version-specific
                errors.append(f"{kind} (dynamic time={dynamic_time}): {type(e).__name__}: {str(e)[:300]}")
                log.info("export with %s failed: %s", kind, errors[-1])
                continue
            axes = _dynamic_axes(tmp)
            checks: list[dict[str, Any]] = []
            if check or 2 in axes:
                lengths = (t, _other_length(t)) if 2 in axes else (t,)
                try:
                    checks = compare_onnx(
                        model, tmp, windows=windows, lengths=lengths, batch_sizes=BATCH_SIZES if check else (2,)
                    )
                except Exception as e:  # noqa: BLE001 - onnxruntime refuses shapes with assorted errors
                    errors.append(f"{kind} (dynamic time={dynamic_time}): onnxruntime: {str(e)[:300]}")
                    log.info("%s", errors[-1])
                    continue
                worst = max(ch["max_abs_diff"] for ch in checks)
                if not worst <= atol:
                    bad = [ch for ch in checks if not ch["max_abs_diff"] <= atol]
                    errors.append(
                        f"{kind} (dynamic time={dynamic_time}): max |onnx - torch| = {worst:.2e} > {atol:g} "
                        f"(e.g. {bad[0]})"
                    )
                    log.info("%s", errors[-1])
                    continue
                if not check:
                    checks = []
            diff = max((ch["max_abs_diff"] for ch in checks), default=float("nan"))
            opset_used = describe_onnx(tmp)["opset"] or opset
            meta = build_metadata(
                model, opset=opset_used, exporter=kind, dynamic_axes=axes, checkpoint_sha256=checkpoint_sha256
            )
            meta.update(metadata or {})
            write_onnx_metadata(tmp, meta)
            tmp.replace(path)
            res = ExportResult(
                path, kind, opset_used, axes, diff, checks, path.stat().st_size, time.perf_counter() - t_start, meta
            )
            checked = f"max |onnx - torch| = {diff:.2e}" if checks else "not compared with PyTorch"
            log.info("exported %s with %s (opset %d, dynamic axes %s; %s)", path, kind, opset_used, axes, checked)
            return res
    tmp.unlink(missing_ok=True)
    raise VerificationError(f"{path}: could not export {spec.encoder} to ONNX: " + "; ".join(errors))


def _other_length(t: int) -> int:
    return t + t // 2 + 3  # longer than the window (never below an encoder's minimum length), odd on purpose


#: torch's ONNX registry warns once per torchvision operator when torchvision is absent; wearfm's encoders use none
_TORCHVISION_LOGGER = "torch.onnx._internal.exporter._registration"


class _NoTorchvisionNotice(logging.Filter):
    """Drops the "torchvision is not installed. Skipping torchvision::nms" records (noise for IMU encoders)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "torchvision is not installed" not in str(record.msg)


@contextlib.contextmanager
def _torchvision_notices_dropped() -> Iterator[None]:
    reg_log, flt = logging.getLogger(_TORCHVISION_LOGGER), _NoTorchvisionNotice()
    reg_log.addFilter(flt)
    try:
        yield
    finally:
        reg_log.removeFilter(flt)


def _export(model: Any, path: Path, x: Any, opset: int, kind: str, dynamic_time: bool) -> None:
    import torch

    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf), torch.no_grad(), _torchvision_notices_dropped():
        warnings.simplefilter("ignore")
        if kind == "dynamo":
            enc = getattr(model, "encoder", model)
            dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1, max=1 << 16)}
            if dynamic_time:
                dims[2] = torch.export.Dim("time", min=max(2, int(getattr(enc, "min_length", 2))), max=1 << 20)
            prog = torch.onnx.export(
                model,
                (x,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=(dims,),
                opset_version=opset,
                external_data=False,
                verbose=False,
                optimize=True,
            )
            if prog is None:  # pragma: no cover - torch returns the program when no file is given
                raise RuntimeError("torch.onnx.export returned nothing")
            prog.save(str(path))
        else:
            axes = {0: "batch", 2: "time"} if dynamic_time else {0: "batch"}
            torch.onnx.export(
                model,
                (x,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True,
            )
    if buf.getvalue().strip():
        log.debug("exporter output:\n%s", buf.getvalue())


def _dynamic_axes(path: Path) -> dict[int, str]:
    shape = describe_onnx(path)["inputs"][0]["shape"]
    names = {0: "batch", 1: "channels", 2: "time"}
    return {i: names[i] for i, d in enumerate(shape) if not isinstance(d, int) and i in names}


def compare_onnx(
    model: Any,
    path: str | Path,
    *,
    windows: np.ndarray | None = None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    lengths: tuple[int, ...] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Run PyTorch and onnxruntime on the same inputs; one dict per (inputs, batch, length) case.

    Inputs are ``random`` (Gaussian around 1 g), ``realistic`` (:func:`realistic_windows`) and, when given,
    ``real`` windows (cycled to fill each batch; used at their own length only).
    """
    import onnxruntime as ort
    import torch

    spec = model.spec
    c, t = len(spec.channels), int(spec.window_samples)
    lengths = lengths or (t,)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, np.ndarray]] = []
    for length in lengths:
        for b in batch_sizes:
            r = (0.5 * rng.standard_normal((b, c, length))).astype(np.float32)
            r[:, min(2, c - 1)] += 1.0
            cases.append(("random", r))
            cases.append(("realistic", realistic_windows(b, spec.channels, length, spec.rate_hz, seed=seed + b)))
    if windows is not None and len(windows):
        w = np.asarray(windows, dtype=np.float32)
        for b in batch_sizes:
            cases.append(("real", w[np.arange(b) % len(w)]))
    out = []
    model = model.cpu().eval()
    for kind, xb in cases:
        with torch.no_grad():
            ref = model.forward_features(torch.from_numpy(xb)).numpy()
        got = sess.run([OUTPUT_NAME], {INPUT_NAME: xb})[0]
        if got.shape != ref.shape:
            raise VerificationError(f"{path}: output shape {got.shape} differs from PyTorch's {ref.shape}")
        out.append(
            {
                "inputs": kind,
                "batch": int(xb.shape[0]),
                "length": int(xb.shape[2]),
                "max_abs_diff": float(np.max(np.abs(got - ref))) if np.isfinite(got).all() else float("inf"),
            }
        )
    return out


def verify_onnx(
    model: Any,
    path: str | Path,
    *,
    windows: np.ndarray | None = None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    atol: float = 1e-4,
) -> float:
    """Max |onnxruntime - PyTorch| over random, realistic and (given) real windows at ``batch_sizes``.

    The time axis is checked at the model's window and, when the file declares it dynamic, a second length.

    Raises:
        VerificationError: the difference exceeds ``atol``.
        CheckpointError: onnxruntime cannot run the file.
    """
    axes = _dynamic_axes(Path(path))
    t = int(model.spec.window_samples)
    lengths = (t, _other_length(t)) if 2 in axes else (t,)
    try:
        checks = compare_onnx(model, path, windows=windows, batch_sizes=batch_sizes, lengths=lengths)
    except VerificationError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: onnxruntime cannot run this model ({str(e)[:300]})") from None
    worst = max(ch["max_abs_diff"] for ch in checks)
    for ch in checks:
        log.debug("check %s", ch)
    if not worst <= atol:
        raise VerificationError(f"{path}: max |onnx - torch| = {worst:.2e} exceeds {atol:g}")
    return float(worst)
