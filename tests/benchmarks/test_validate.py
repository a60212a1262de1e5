"""The validation harness: which encoders of a run it probes, the random twin, and the subject ids of raw files."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

from tests._helpers.synth import write_dataset
from wearfm.config import PretrainConfig
from wearfm.models.saved import load_encoder
from wearfm.train import pretrain

ROOT = Path(__file__).resolve().parents[2]


def _validate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_harness", ROOT / "benchmarks" / "validate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_members_twin_and_subjects(tmp_path: Path) -> None:
    v = _validate()
    data = write_dataset(tmp_path / "d", subjects=2, seconds=60)
    run = tmp_path / "run"
    cfg = PretrainConfig(data=str(data), out=str(run), encoder="resnet1d_tiny", window_s=2.0, batch_size=4,
                         max_steps=4, seed=3, snapshot_every=2)  # fmt: skip
    pretrain(cfg)
    members = v._members(run, snapshots=True)
    assert [label for label, _ in members] == ["run@2", "run@4"]  # the final encoder equals the step-4 snapshot
    assert [label for label, _ in v._members(run, snapshots=False)] == ["run@4"]
    twin = load_encoder(v.random_twin(run, tmp_path / "twins"))
    trained = load_encoder(run)
    assert twin.spec.method == "random"
    assert dataclasses.replace(twin.spec, method="simclr") == trained.spec  # same architecture and contract
    torch.manual_seed(3)
    from wearfm.models.saved import build_model

    fresh = build_model(trained.spec)
    for k, t in twin.state_dict().items():
        assert torch.equal(t, fresh.state_dict()[k]), k  # untrained, from the run's seed
    assert not all(torch.equal(t, trained.state_dict()[k]) for k, t in twin.state_dict().items())
    wisdm, spsw = v.DATASETS[0], v.DATASETS[2]
    assert v._subject_of(Path("data_1606_accel_watch.txt"), wisdm) == "1606"
    assert v._subject_of(Path("s03_04_sw.csv"), spsw) == "s03"
    assert "1638" not in wisdm.test and "1638" in v.DATASETS[1].test  # 1638 has no watch recordings
