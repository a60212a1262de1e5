import pytest

from wearfm.config import IngestConfig, ProbeConfig
from wearfm.probe import probe


@pytest.mark.realdata
def test_features_on_sp_sw_har_watch(real_data, tmp_path):
    from wearfm.io.ingest import ingest

    files = sorted((real_data / "sp-sw-har" / "DATA").glob("s0[1-6]/*_sw.csv"))
    assert files, "sp-sw-har watch files not found"
    ingest(files, tmp_path / "watch", IngestConfig(format="sp-sw-har"))
    cfg = ProbeConfig(
        data=str(tmp_path / "watch"),
        encoders=("features",),
        shots=(5,),
        trials=2,
        out="",
        rate_hz=30.0,
        window_s=1.0,
        stride_s=0.25,
        test_subjects=("s02", "s05"),
    )
    r = probe(cfg)
    e = r.encoders[0]
    assert e.classes == ["SEATED", "SITTING_DOWN", "STANDING_UP", "TURNING", "WALKING"]
    assert e.scored_subjects == ["s02", "s05"] and not set(e.fit_subjects) & {"s02", "s05"}
    assert e.summary()[5]["macro_f1"]["mean"] > 0.3  # chance is 0.2 for 5 classes
