"""`open_model`: one resolution of run folders, encoder .pt files and .onnx exports for embed and probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._helpers.onnx_files import make_onnx
from wearfm.errors import CheckpointError
from wearfm.export.modelfile import model_kind, open_model
from wearfm.models.saved import EncoderSpec, build_model, save_encoder

ACC = ("acc_x", "acc_y", "acc_z")
REPO = Path(__file__).resolve().parents[2]


def test_kind_of_each_path(tmp_path: Path) -> None:
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    assert model_kind(tmp_path / "m.onnx") == "onnx"  # by name, existing or not
    assert model_kind(tmp_path / "missing.pt") == "torch"
    assert model_kind(tmp_path) == "torch"
    assert model_kind(other) == "torch"
    assert model_kind(tmp_path / "missing") is None
    assert model_kind("features") is None


def test_run_folder_and_pt_open_the_saved_encoder(tmp_path: Path) -> None:
    model = build_model(EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 25.0, 50, ACC, method="simclr"))
    pt = save_encoder(model, tmp_path / "run")
    for path in (tmp_path / "run", pt):
        m = open_model(path)
        assert (m.kind, m.rate_hz, m.window, m.channels, m.method) == ("torch", 25.0, 50, ACC, "simclr")
        assert m.architecture == "resnet1d_tiny" and m.embed_dim == model.embed_dim and m.session is None
        assert m.model is not None and not m.model.training


def test_onnx_opens_with_its_metadata(tmp_path: Path) -> None:
    m = open_model(make_onnx(tmp_path / "m.onnx", rate=50.0, window=100))
    assert (m.kind, m.rate_hz, m.window, m.channels) == ("onnx", 50.0, 100, ACC)
    assert (m.method, m.architecture, m.embed_dim, m.model) == ("test", "meanmax", 6, None)
    assert m.metadata["wearfm.encoder"] == "meanmax" and m.session.get_inputs()[0].name == "x"


def test_missing_and_unusable_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        open_model(tmp_path / "gone.onnx")
    with pytest.raises(FileNotFoundError, match="no such model"):
        open_model(tmp_path / "gone")
    with pytest.raises(CheckpointError, match="no saved encoder"):
        open_model(tmp_path)
    with pytest.raises(CheckpointError, match="lacks"):
        open_model(make_onnx(tmp_path / "plain.onnx", meta=False))


def test_opening_onnx_does_not_import_torch(tmp_path: Path) -> None:
    onnx = make_onnx(tmp_path / "m.onnx")
    code = (
        "import sys\nfrom wearfm.export.modelfile import open_model\n"
        f"assert open_model({str(onnx)!r}).kind == 'onnx'\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert out.stdout.strip() == "False", out.stderr
