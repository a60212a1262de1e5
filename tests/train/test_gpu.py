"""GPU checks (skipped without CUDA): a bf16 autocast SimCLR run and a checkpoint that reloads on CPU."""

import numpy as np
import pytest
import torch

from wearfm.config import PretrainConfig
from wearfm.models.saved import load_encoder
from wearfm.train import pretrain

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("encoder", ["resnet1d_tiny", "cnn_gru_tiny"])
def test_bf16_autocast_run(tiny_dataset, tmp_path, encoder):
    cfg = PretrainConfig(
        data=str(tiny_dataset), out=str(tmp_path / encoder), method="simclr", encoder=encoder, window_s=5.0,
        batch_size=8, max_steps=4, device="cuda", amp="auto",
    )  # fmt: skip
    r = pretrain(cfg)
    assert r.device.startswith("cuda") and np.isfinite(r.final_loss)
    enc = load_encoder(tmp_path / encoder)  # saved weights are fp32 and load on CPU
    assert all(p.dtype == torch.float32 for p in enc.parameters())
