"""End-to-end fine-tuning on the shots: the encoder plus a linear head, trained with cross-entropy.

Used by ``--finetune`` (starting from a pretrained encoder) and by the ``supervised:<name>`` baseline
(starting from random weights). Training is deliberately plain and fixed, so that encoders are compared
under one recipe: AdamW (``lr``, weight decay 0.01), ``steps`` steps over mini-batches of at most 64 shots
drawn without replacement (reshuffled each pass), no augmentation, the model's own normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["finetune_predict"]

_MAX_BATCH = 64
_WEIGHT_DECAY = 0.01


def finetune_predict(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_classes: int,
    *,
    steps: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    eval_batch: int = 256,
) -> np.ndarray:
    """Train ``model`` (an ``EmbeddingModel``, modified in place) with a linear head; predict ``x_test``.

    Args:
        model: a fresh trainable ``EmbeddingModel`` (pretrained or random).
        x_train: (N, C, T) float32 shots.
        y_train: (N,) int class indices in ``[0, n_classes)``.
        x_test: (M, C, T) float32 windows to classify.
        n_classes: number of output classes.
        steps: optimiser steps.
        lr: AdamW learning rate.
        seed: seeds the head initialisation and batch order.
        device: torch device.
        eval_batch: windows per forward pass at prediction time.

    Returns:
        (M,) int64 predicted class indices.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    model = model.to(dev).train()
    head = nn.Linear(int(model.embed_dim), n_classes).to(dev)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=_WEIGHT_DECAY)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)).to(dev)
    yt = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(dev)
    bs = min(_MAX_BATCH, len(xt))
    order = rng.permutation(len(xt))
    pos = 0
    for _ in range(steps):
        if pos + bs > len(order):
            order, pos = rng.permutation(len(xt)), 0
        idx = torch.from_numpy(order[pos : pos + bs]).to(dev)
        pos += bs
        logits = head(model.forward_features(xt[idx]))  # (B, n_classes)
        loss = nn.functional.cross_entropy(logits, yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(x_test), eval_batch):
            xb = torch.from_numpy(np.ascontiguousarray(x_test[i : i + eval_batch], dtype=np.float32)).to(dev)
            preds.append(head(model.forward_features(xb)).argmax(-1).cpu().numpy())
    return np.concatenate(preds) if preds else np.zeros(0, np.int64)
