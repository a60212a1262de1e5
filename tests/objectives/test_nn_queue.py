from __future__ import annotations

import pytest
import torch

from wearfm.objectives.nn_queue import NNQueue


def _ref_lookup(keys, key_ids, key_has, query, qid):
    best, best_j = -2.0, None
    for j in range(len(keys)):
        if not key_has[j] or key_ids[j] == qid or key_ids[j] < 0:
            continue
        c = float(query @ keys[j]) / (float(query.norm()) * float(keys[j].norm()))
        if c > best:
            best, best_j = c, j
    return best_j


def test_empty_queue_finds_nothing():
    q = NNQueue(8, {"imu": 4, "video": 3})
    idx, found = q.lookup(torch.randn(5, 3), ids=torch.arange(5))
    assert not found.any()


def test_lookup_matches_loop_reference_and_fifo():
    g = torch.Generator().manual_seed(0)
    q = NNQueue(10, {"imu": 4, "video": 3}, nn_by="video")
    stored = []
    for step in range(4):  # 4 batches of 4 -> wraps around a queue of 10
        ids = torch.arange(step * 4, step * 4 + 4)
        v = torch.randn(4, 3, generator=g)
        has = torch.rand(4, generator=g) > 0.3
        q.push({"imu": torch.randn(4, 4, generator=g), "video": v}, ids=ids, masks={"video": has})
        stored += list(zip(ids.tolist(), v, has.tolist(), strict=True))
    kept = stored[-10:]
    assert sorted(q.ids.tolist()) == sorted(i for i, _, _ in kept)
    queries = torch.randn(6, 3, generator=g)
    qids = torch.tensor([15, 14, 3, 100, 9, 12])
    idx, found = q.lookup(queries, ids=qids)
    for r in range(6):
        ref = _ref_lookup(q.emb_video, q.ids.tolist(), q.has_video.tolist(), queries[r], int(qids[r]))
        assert bool(found[r]) == (ref is not None)
        if ref is not None:
            assert int(idx[r]) == ref


@pytest.mark.parametrize("nn_by", ["video", "text", "imu"])
def test_never_returns_the_window_itself(nn_by):
    dims = {"imu": 6, "video": 5, "text": 4}
    q = NNQueue(64, dims, nn_by=nn_by)
    g = torch.Generator().manual_seed(1)
    embs = {m: torch.randn(20, d, generator=g) for m, d in dims.items()}
    ids = torch.arange(20)
    q.push(embs, ids=ids)
    # Query with exactly the stored vectors: the most similar entry is the window itself, and must be skipped.
    idx, found = q.lookup(embs[nn_by], ids=ids)
    assert found.all()
    assert torch.all(q.ids[idx] != ids)
    # Pushed twice (two epochs): still never itself.
    q.push(embs, ids=ids)
    idx, found = q.lookup(embs[nn_by], ids=ids)
    assert torch.all(q.ids[idx] != ids)


def test_gather_masks_and_missing_modalities():
    q = NNQueue(4, {"imu": 2, "video": 2, "text": 2}, nn_by="text")
    q.push({"imu": torch.randn(2, 2), "text": torch.randn(2, 2)}, ids=torch.tensor([0, 1]))
    idx, found = q.lookup(torch.randn(3, 2), ids=torch.tensor([5, 6, 7]), query_mask=torch.tensor([True, False, True]))
    assert found.tolist() == [True, False, True]
    embs, masks = q.gather(idx, found)
    assert masks["video"].sum() == 0  # nothing stored for video
    assert masks["text"].tolist() == [True, False, True]
    assert embs["imu"].shape == (3, 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="nn_by"):
        NNQueue(4, {"imu": 2}, nn_by="video")
    with pytest.raises(ValueError, match="positive"):
        NNQueue(0, {"imu": 2}, nn_by="imu")


def test_ties_are_broken_at_random_and_never_self():
    torch.manual_seed(0)
    q = NNQueue(32, {"imu": 2, "text": 3}, nn_by="text")
    same = torch.tensor([[1.0, 0.0, 0.0]]).repeat(10, 1)  # ten windows with one identical narration
    q.push({"imu": torch.randn(10, 2), "text": same}, ids=torch.arange(10))
    picks = set()
    for _ in range(20):
        idx, found = q.lookup(same[:1], ids=torch.tensor([3]))
        assert found.all() and int(q.ids[idx[0]]) != 3
        picks.add(int(idx[0]))
    assert len(picks) > 3
    q0 = NNQueue(32, {"imu": 2, "text": 3}, nn_by="text", tie_tol=0.0)
    q0.push({"imu": torch.randn(10, 2), "text": same}, ids=torch.arange(10))
    assert {int(q0.lookup(same[:1], ids=torch.tensor([0]))[0][0]) for _ in range(5)} == {1}
