import pickle
import random

import numpy as np
import pytest
import torch

from wearfm.errors import CheckpointError
from wearfm.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

REQUIRED = dict(model={}, optimizer={}, scheduler={}, step=3, epoch=0, batch_in_epoch=3, config={"seed": 0})


def _draw():
    return random.random(), float(np.random.rand()), np.random.normal(), float(torch.rand(1))


def test_rng_state_roundtrip_through_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    np.random.normal()  # leaves a cached gaussian in numpy's legacy state
    _draw()
    save_checkpoint(tmp_path / "c.pt", {**REQUIRED, "rng": [rng_state()]})
    expected = _draw()
    _draw()  # move every generator on
    state = load_checkpoint(tmp_path / "c.pt")
    set_rng_state(state["rng"][0])
    assert _draw() == expected


def test_save_is_atomic_and_load_accepts_folder(tmp_path):
    p = save_checkpoint(tmp_path / "run" / "checkpoint.pt", {**REQUIRED, "rng": [rng_state()]})
    assert p.exists()
    assert [f.name for f in p.parent.iterdir()] == ["checkpoint.pt"]  # no temporary left behind
    obj = load_checkpoint(tmp_path / "run")
    assert obj["step"] == 3 and obj["format"] == "wearfm-checkpoint" and "wearfm_version" in obj


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_corrupt_checkpoint(tmp_path):
    p = save_checkpoint(tmp_path / "checkpoint.pt", {**REQUIRED, "rng": [rng_state()]})
    p.write_bytes(p.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(p)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_foreign_pickle_is_refused_not_executed(tmp_path, capsys):
    p = tmp_path / "checkpoint.pt"
    with open(p, "wb") as f:
        pickle.dump({"format": "wearfm-checkpoint", "x": _Evil()}, f)
    with pytest.raises(CheckpointError):
        load_checkpoint(p)
    assert "must never run" not in capsys.readouterr().out


def test_foreign_torch_file(tmp_path):
    p = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, p)
    with pytest.raises(CheckpointError, match="not a wearfm training checkpoint"):
        load_checkpoint(p)
    torch.save({"format": "wearfm-checkpoint", "model": {}}, p)
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(p)


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda b: b[: len(b) // 2], "truncated or damaged"),
        (lambda b: b"t,ax,ay,az\n0,0,0,1\n", "a text file"),
        (lambda b: pickle.dumps({"x": object}), "Python objects other than tensors"),
    ],
)
def test_unreadable_checkpoint_message_is_whole(tmp_path, damage, reason):
    p = tmp_path / "checkpoint.pt"
    save_checkpoint(p, {**REQUIRED, "rng": [rng_state()]})
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    msg = str(e.value)
    assert reason in msg and msg.endswith("or point --resume at another run"), msg
    assert "\n" not in msg and msg.count("(") == msg.count(")") and msg.count("`") % 2 == 0
    assert len(msg) < 300
