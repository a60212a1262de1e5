"""`embed`: Parquet of window embeddings from ONNX (without torch) or a run folder; bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests._helpers.labelled import write_dataset
from wearfm.errors import CheckpointError, DataError
from wearfm.export.embed import embed
from wearfm.export.onnx import export_onnx
from wearfm.models.saved import EncoderSpec, build_model, save_encoder

ACC = ("acc_x", "acc_y", "acc_z")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("embed")
    data = write_dataset(root / "data", subjects=("s1", "s2"), seconds=20)
    model = build_model(EncoderSpec("resnet1d_tiny", {"in_channels": 3}, 30.0, 60, ACC, method="simclr"))
    run = root / "run"
    save_encoder(model, run)
    onnx = Path(export_onnx(model, root / "m.onnx", exporter="torchscript"))
    return data, run, onnx


def test_onnx_and_torch_give_the_same_parquet(setup, tmp_path: Path) -> None:
    data, run, onnx = setup
    a = embed(data, onnx, tmp_path / "a.parquet")
    b = embed(data, run, tmp_path / "b.parquet")
    assert a["windows"] == b["windows"] >= 2 * 3 * 9 and a["model_kind"] == "onnx" and b["model_kind"] == "torch"
    ta, tb = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert ta.column_names == ["subject", "recording", "window_start", "label", "embedding"]
    assert str(ta.schema.field("embedding").type) == "list<element: float>"
    assert str(ta.schema.field("window_start").type) == "timestamp[ns]"
    assert set(ta.column("subject").to_pylist()) == {"s1", "s2"}
    assert set(ta.column("label").to_pylist()) == {"walk", "run", "lie"}
    za = np.array(ta.column("embedding").to_pylist(), dtype=np.float32)
    zb = np.array(tb.column("embedding").to_pylist(), dtype=np.float32)
    assert za.shape == (a["windows"], a["embed_dim"])
    np.testing.assert_allclose(za, zb, atol=1e-4)
    assert ta.column("window_start").to_pylist() == tb.column("window_start").to_pylist()


def test_onnx_path_does_not_import_torch(setup, tmp_path: Path) -> None:
    data, _, onnx = setup
    code = (
        "import sys\nfrom wearfm.export.embed import embed\n"
        f"r = embed({str(data)!r}, {str(onnx)!r}, {str(tmp_path / 'e.parquet')!r})\n"
        "assert r['windows'] >= 54, r\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_rate_mismatch_resamples_or_refuses(setup, tmp_path: Path) -> None:
    _, run, onnx = setup
    data50 = write_dataset(tmp_path / "d50", subjects=("s1",), activities=("walk",), seconds=20, hz=50.0)
    r = embed(data50, onnx, tmp_path / "e.parquet")
    assert r["resampled_recordings"] == 1 and r["windows"] >= 9 and r["rate_hz"] == 30.0
    with pytest.raises(DataError, match="not at the model's 30 Hz"):
        embed(data50, onnx, tmp_path / "f.parquet", strict=True)
    assert not (tmp_path / "f.parquet").exists()


def test_missing_channels_refused(setup, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", subjects=("s1",), activities=("walk",), seconds=20)
    model = build_model(EncoderSpec("resnet1d_tiny", {"in_channels": 6}, 30.0, 60, ACC + ("gyr_x", "gyr_y", "gyr_z")))
    run = save_encoder(model, tmp_path / "run6")
    with pytest.raises(DataError, match="lack the model's channels"):
        embed(data, run, tmp_path / "e.parquet")


def test_not_a_wearfm_encoder(setup, tmp_path: Path) -> None:
    data, _, _ = setup
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        embed(data, bad, tmp_path / "e.parquet")
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, "T"])
    y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["B", 3])
    g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["embedding"], axes=[2], keepdims=0)], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "plain.onnx")
    with pytest.raises(CheckpointError, match="not a wearfm encoder"):
        embed(data, tmp_path / "plain.onnx", tmp_path / "e.parquet")


def test_unwritable_output(setup, tmp_path: Path) -> None:
    data, _, onnx = setup
    with pytest.raises(IsADirectoryError):
        embed(data, onnx, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match="cannot create the output folder"):
        embed(data, onnx, tmp_path / "file" / "e.parquet")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(PermissionError, match="not writable"):
            embed(data, onnx, ro / "e.parquet")
    finally:
        ro.chmod(0o700)
