"""SimCLR pretraining on two real WISDM subjects (ingested on the fly); skipped without ../shared/data."""

import json

import numpy as np
import pytest

from wearfm.config import IngestConfig, PretrainConfig
from wearfm.io.ingest import ingest
from wearfm.models.saved import load_encoder
from wearfm.train import pretrain

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def wisdm_two(real_data, tmp_path_factory):
    accel = real_data / "wisdm-phone" / "raw" / "phone" / "accel"
    files = sorted(accel.glob("data_16*_accel_phone.txt"))[:2]
    out = tmp_path_factory.mktemp("wisdm2")
    ingest(files, out, IngestConfig(format="wisdm"))
    return out


def test_simclr_on_wisdm(wisdm_two, tmp_path):
    cfg = PretrainConfig(
        data=str(wisdm_two), out=str(tmp_path / "run"), method="simclr", encoder="resnet1d_tiny", rate_hz=20.0,
        window_s=10.0, batch_size=16, max_steps=4, log_every=1, normalize=True,
    )  # fmt: skip
    r = pretrain(cfg)
    assert r.windows > 500 and np.isfinite(r.final_loss)  # 2 subjects x ~54 min of 10 s windows
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["dataset"]["subjects"] == 2 and run["dataset"]["rate_hz"] == 20.0
    enc = load_encoder(tmp_path / "run")
    mean = np.array(enc.spec.normalization["mean"])
    assert 0.5 < np.linalg.norm(mean) < 1.5  # gravity in g: the phone's acceleration was converted from m/s^2
