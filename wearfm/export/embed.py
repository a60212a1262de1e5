"""Window embeddings of a dataset from an exported ``.onnx`` model or a run folder, written to Parquet.

With an ``.onnx`` model only onnxruntime, numpy and pyarrow (and scipy for resampling) are used: torch is
never imported on that path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wearfm._atomic import remove_stale_temporaries, temp_path
from wearfm.errors import DataError
from wearfm.export.meta import INPUT_NAME, OUTPUT_NAME
from wearfm.export.modelfile import open_model

__all__ = ["embed", "EMBEDDING_SCHEMA_FIELDS"]

log = logging.getLogger(__name__)

EMBEDDING_SCHEMA_FIELDS = ("subject", "recording", "window_start", "label", "embedding")
_RATE_TOLERANCE = 0.02  # relative: a recording within 2 % of the model's rate counts as matching


def _open(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], float, int, tuple[str, ...], dict[str, Any]]:
    m = open_model(path)
    info = {"model": str(path), "kind": m.kind, "method": m.method or ""}
    if m.kind == "onnx":
        sess = m.session

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0], dtype=np.float32)

    else:
        import torch

        model = m.model

        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return np.asarray(model.forward_features(torch.from_numpy(x)).numpy(), dtype=np.float32)

    return run, m.rate_hz, m.window, m.channels, info


def embed(
    data: str | Path,
    model: str | Path,
    out: str | Path,
    *,
    strict: bool = False,
    batch_size: int = 256,
    stride_s: float | None = None,
    label_purity: float = 1.0,
) -> dict[str, Any]:
    """Embed every window of ``data`` with ``model`` and write a Parquet file.

    Columns: ``subject`` (string), ``recording`` (string, path in the dataset), ``window_start``
    (timestamp[ns]), ``label`` (string, null when no label covers ``label_purity`` of the window; only when
    the data has labels) and ``embedding`` (list<float32>).

    Args:
        data: a dataset folder or one recording file of `wearfm ingest`.
        model: an exported ``.onnx`` file, a run folder or an ``encoder.pt``.
        out: the Parquet file to write (replaced atomically).
        strict: refuse data whose sample rate differs from the model's (default: resample, logged).
        batch_size: windows per forward pass.
        stride_s: seconds between window starts (default: the window length, no overlap).
        label_purity: share of a window one label must cover for the window to be labelled.

    Returns:
        A summary: windows, embed_dim, rate, window, channels, output path, resampled recordings.

    Raises:
        DataError: the data lacks the model's channels, or (``strict``) has another sample rate.
        CheckpointError: the model is not a wearfm encoder.

    Examples:
        >>> embed("data/mine", "relcon.onnx", "emb.parquet")["windows"]  # doctest: +SKIP
        1234
    """
    from wearfm.data.windows import load_windows
    from wearfm.io.manifest import lacking_channels, list_recordings

    model_p, out_p = Path(model), Path(out)
    if not model_p.exists():
        raise FileNotFoundError(f"{model_p}: no such model; give an .onnx file or a run folder of `wearfm pretrain`")
    _check_writable(out_p)
    run, rate, window, channels, info = _open(model_p)
    _, entries = list_recordings(data)
    lacking = lacking_channels(entries, channels)
    if lacking:
        raise DataError(
            f"{data}: {len(lacking)} recording(s) lack the model's channels {list(channels)} "
            f"(e.g. {lacking[0].path} has {list(lacking[0].channels)}); "
            "embed data recorded with those sensors, or use a model trained on these channels"
        )
    off = [e for e in entries if e.sample_rate_hz and abs(e.sample_rate_hz / rate - 1) > _RATE_TOLERANCE]
    if off:
        msg = (
            f"{len(off)} of {len(entries)} recording(s) are not at the model's {rate:g} Hz "
            f"(e.g. {off[0].path} at {off[0].sample_rate_hz:.1f} Hz)"
        )
        if strict:
            raise DataError(f"{data}: {msg}; resample it with `wearfm ingest --resample {rate:g}` or drop --strict")
        log.info("%s: resampling to %g Hz", msg, rate)
    extra = sorted({c for e in entries for c in e.channels} - set(channels))
    if extra:
        log.info("using channels %s of the data (ignoring %s)", list(channels), extra)
    stride = max(1, int(round(stride_s * rate))) if stride_s else window
    ws = load_windows(data, rate_hz=rate, window=window, channels=channels, stride=stride, label_purity=label_purity)
    chunks = []
    for i in range(0, len(ws), batch_size):
        chunks.append(run(ws.batch(np.arange(i, min(i + batch_size, len(ws))))))
    z = np.concatenate(chunks).astype(np.float32)
    dim = int(z.shape[1])
    cols: dict[str, Any] = {
        "subject": pa.array(ws.subject_names().tolist(), pa.string()),
        "recording": pa.array([ws.entries[r].path for r in ws.recording], pa.string()),
        "window_start": pa.array(ws.start_ns, pa.int64()).cast(pa.timestamp("ns")),
    }
    if ws.label_names:
        cols["label"] = pa.array(ws.label_strings().tolist(), pa.string())
    cols["embedding"] = pa.ListArray.from_arrays(np.arange(0, z.size + 1, dim, dtype=np.int32), pa.array(z.ravel()))
    table = pa.table(cols)
    meta = {
        "model": str(model_p),
        "sample_rate_hz": str(rate),
        "window_samples": str(window),
        "channels": ",".join(channels),
        "embed_dim": str(dim),
        "method": str(info["method"]),
    }
    table = table.replace_schema_metadata({f"wearfm.embed.{k}".encode(): v.encode() for k, v in meta.items()})
    remove_stale_temporaries(out_p)
    tmp = temp_path(out_p)
    pq.write_table(table, tmp)
    tmp.replace(out_p)
    log.info("wrote %d embeddings of %d dims to %s", len(z), dim, out_p)
    return {
        "out": str(out_p),
        "windows": int(len(z)),
        "embed_dim": dim,
        "rate_hz": rate,
        "window_samples": window,
        "channels": list(channels),
        "resampled_recordings": len(off),
        "model_kind": info["kind"],
        "labelled_windows": int((ws.label >= 0).sum()),
    }


def _check_writable(out: Path) -> None:
    if out.is_dir():
        raise IsADirectoryError(f"{out}: is a folder; give a file name such as {out / 'embeddings.parquet'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"{out}: cannot create the output folder ({e.strerror}); choose another --out") from None
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"{out}: the folder {out.parent} is not writable; choose another --out")
