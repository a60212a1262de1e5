import pickle

import pytest
import torch

from wearfm.errors import CheckpointError
from wearfm.models.files import load_marked

KW = {"unreadable": "not a readable thing", "unmarked": "not a thing"}


class _Foreign:
    pass


def test_marked_dict_loads(tmp_path):
    torch.save({"format": "thing", "x": torch.ones(2)}, tmp_path / "a.pt")
    obj = load_marked(tmp_path / "a.pt", "thing", **KW)
    assert torch.equal(obj["x"], torch.ones(2))


def test_foreign_pickle_truncated_file_and_missing_marker_are_refused(tmp_path):
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Foreign()))
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a readable thing \(.*; delete it"):
        load_marked(tmp_path / "evil.pt", "thing", **KW, unreadable_hint="delete it")
    torch.save({"format": "thing"}, tmp_path / "t.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "t.pt").read_bytes()[:20])
    with pytest.raises(CheckpointError, match="not a readable thing"):
        load_marked(tmp_path / "t.pt", "thing", **KW)
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match=r"o\.pt: not a thing \(no 'thing' marker\); use the right file"):
        load_marked(tmp_path / "o.pt", "thing", **KW, marker_hint="use the right file")
