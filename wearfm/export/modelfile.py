"""Model paths: a run folder, an encoder ``.pt`` or an exported ``.onnx``, opened with the loader its kind needs.

``.onnx`` files are opened with onnxruntime and torch is never imported for them (this module imports neither at
import time). Everything else that exists, and every ``.pt`` path, is a saved encoder read by
:func:`wearfm.models.saved.load_encoder`, whose messages name what is missing or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wearfm.export.meta import model_contract, open_onnx

__all__ = ["ModelKind", "ModelFile", "model_kind", "open_model"]

ModelKind = Literal["onnx", "torch"]


def model_kind(path: str | Path) -> ModelKind | None:
    """Which loader ``path`` needs: ``onnx``, ``torch`` or None (a path that names no model).

    ``onnx``: an ``.onnx`` name; ``torch``: a ``.pt`` name, a folder or another existing file.

    Examples:
        >>> model_kind("relcon.onnx"), model_kind("runs/relcon/encoder.pt"), model_kind("no/such/thing")
        ('onnx', 'torch', None)
    """
    p = Path(path)
    if p.suffix == ".onnx":
        return "onnx"
    if p.suffix == ".pt" or p.exists():
        return "torch"
    return None


@dataclass(frozen=True)
class ModelFile:
    """An opened model and the data contract it expects.

    Attributes:
        kind: ``onnx`` or ``torch``.
        path: the path as given.
        rate_hz: sample rate the model expects.
        window: window length in samples.
        channels: input channel names in order.
        method: pretraining method, or None when an ONNX file does not say.
        architecture: encoder registry name, or None when an ONNX file does not say.
        embed_dim: embedding size, or None when an ONNX file does not say.
        session: the onnxruntime session (``onnx`` only).
        metadata: the ONNX metadata map (``onnx`` only).
        model: the :class:`~wearfm.models.saved.EmbeddingModel` in eval mode (``torch`` only).
    """

    kind: ModelKind
    path: Path
    rate_hz: float
    window: int
    channels: tuple[str, ...]
    method: str | None
    architecture: str | None
    embed_dim: int | None
    session: Any = None
    metadata: dict[str, str] = field(default_factory=dict)
    model: Any = None


def open_model(path: str | Path) -> ModelFile:
    """Open a run folder, encoder ``.pt`` or exported ``.onnx`` with the loader its kind needs.

    Raises:
        FileNotFoundError: an ``.onnx`` path that is not a file, or a path that names no model.
        CheckpointError: a model file that cannot be used.

    Examples:
        >>> m = open_model("runs/relcon")  # doctest: +SKIP
        >>> m.kind, m.rate_hz, m.channels  # doctest: +SKIP
        ('torch', 30.0, ('acc_x', 'acc_y', 'acc_z'))
    """
    p = Path(path)
    kind = model_kind(p)
    if kind == "onnx":
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such ONNX file")
        sess, meta = open_onnx(p)
        rate, window, channels = model_contract(meta, p)
        dim = meta.get("wearfm.embed_dim")
        return ModelFile(
            kind="onnx",
            path=p,
            rate_hz=rate,
            window=window,
            channels=channels,
            method=meta.get("wearfm.method"),
            architecture=meta.get("wearfm.encoder"),
            embed_dim=int(dim) if dim else None,
            session=sess,
            metadata=meta,
        )
    if kind == "torch":
        from wearfm.models.saved import load_encoder

        model = load_encoder(p)
        s = model.spec
        return ModelFile(
            kind="torch",
            path=p,
            rate_hz=float(s.rate_hz),
            window=int(s.window_samples),
            channels=tuple(s.channels),
            method=s.method,
            architecture=s.encoder,
            embed_dim=int(model.embed_dim),
            model=model,
        )
    raise FileNotFoundError(f"{p}: no such model; give an .onnx file or a run folder of `wearfm pretrain`")
