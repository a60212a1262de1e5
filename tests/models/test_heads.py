from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from wearfm.models import create_encoder
from wearfm.models.heads import ProjectionHead


def _n(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_two_layer_head_shapes_and_layers() -> None:
    head = ProjectionHead(256, 128, 64)
    assert head(torch.randn(5, 256)).shape == (5, 64)
    kinds = [type(m).__name__ for m in head.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [type(m).__name__ for m in ProjectionHead(8, 4, 2, batch_norm=False).layers] == ["Linear", "ReLU", "Linear"]


def test_hidden_zero_is_primus_single_linear_and_gives_primus_size() -> None:
    head = ProjectionHead(512, 0, 512)
    assert [type(m).__name__ for m in head.layers] == ["Linear"]
    assert _n(head) == 262_656
    backbone = create_encoder("cnn_gru", in_channels=6)
    assert _n(backbone) + 2 * _n(head) == 1_376_204  # PRIMUS multihead total (~1.38 M)


def test_eval_is_deterministic_and_batch_independent() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(16, 32, 8)
    head.train()
    for _ in range(3):
        head(torch.randn(32, 16) * 3 + 1)  # move the running statistics
    head.eval()
    x = torch.randn(4, 16)
    assert torch.equal(head(x), head(x))
    assert torch.allclose(head(x[:1]), head(x)[:1], atol=1e-6)


def test_gradients_flow() -> None:
    head = ProjectionHead(16, 32, 8)
    x = torch.randn(6, 16, requires_grad=True)
    head(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in head.parameters())


def test_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="hidden_dim"):
        ProjectionHead(16, -1, 8)
    with pytest.raises(ValueError, match="in_dim"):
        ProjectionHead(0, 4, 8)


def test_onnx_export_eval_head(tmp_path: Path) -> None:
    import onnxruntime as ort

    head = ProjectionHead(16, 32, 8)
    head.train()
    head(torch.randn(64, 16) + 2)
    head.eval()
    path = tmp_path / "head.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head, (torch.randn(2, 16),), path, dynamo=False, input_names=["z"], dynamic_axes={"z": {0: "batch"}}
        )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 16)
    out = sess.run(None, {"z": x.numpy()})[0]
    assert np.abs(out - head(x).detach().numpy()).max() <= 1e-5
