import logging
from dataclasses import replace

import numpy as np
import pytest

from tests._helpers.labelled import write_dataset
from tests._helpers.probe_config import probe_config
from wearfm.data.windows import load_windows
from wearfm.errors import ConfigError, DataError
from wearfm.probe import draw_shots, probe, split_subjects
from wearfm.probe.targets import make_task

# --- split and draws ---------------------------------------------------------------------------------


def test_split_is_disjoint_seeded_and_covers_everyone():
    subjects = [f"s{i}" for i in range(10)]
    tr, te = split_subjects(subjects, test_fraction=0.3, seed=1)
    assert len(te) == 3 and not set(tr) & set(te) and sorted(tr + te) == sorted(subjects)
    assert split_subjects(subjects, test_fraction=0.3, seed=1) == (tr, te)
    assert split_subjects(subjects, test_fraction=0.3, seed=2) != (tr, te)
    assert split_subjects(subjects, test_subjects=("s3", "s7")) == (
        [s for s in subjects if s not in ("s3", "s7")],
        ["s3", "s7"],
    )


@pytest.mark.parametrize(
    "subjects, kw, err, msg",
    [
        (["a"], {}, DataError, "at least 2"),
        (["a", "b"], {"test_subjects": ("zz",)}, ConfigError, "not in the data"),
        (["a", "b"], {"test_subjects": ("a", "b")}, ConfigError, "every subject"),
        (["a", "b"], {"test_fraction": 1.5}, ConfigError, "between 0 and 1"),
    ],
)
def test_split_errors(subjects, kw, err, msg):
    with pytest.raises(err, match=msg):
        split_subjects(subjects, **kw)


def test_draw_shots_without_replacement_and_capped():
    pools = [np.arange(0, 10), np.arange(10, 13)]
    idx = draw_shots(pools, 5, np.random.default_rng(0))
    assert len(idx) == 8 and len(set(idx.tolist())) == 8
    assert (idx[:5] < 10).all() and set(idx[5:].tolist()) == {10, 11, 12}


# --- the protocol ------------------------------------------------------------------------------------


def test_no_subject_is_on_both_sides(dataset):
    """Every draw of every trial and k uses train subjects only; every labelled test-subject window is scored."""
    cfg = probe_config(dataset, shots=(1, 5, 25), trials=4)
    train_s, test_s = split_subjects(["s1", "s2", "s3", "s4"], (), cfg.test_fraction, cfg.seed)
    ws = load_windows(dataset, rate_hz=30.0, window=60, channels="acc")
    task = make_task(ws, train_s, test_s, cfg, source="x")
    names = ws.subject_names()
    for t in range(cfg.trials):
        for k in cfg.shots:
            assert set(names[task.draw(cfg.seed, t, k)]) <= set(train_s)
    assert set(names[task.test_idx]) == set(test_s)
    assert len(task.test_idx) == int((np.isin(names, test_s) & (ws.label >= 0)).sum())

    result = probe(cfg)
    assert result.test_subjects == test_s and not set(result.train_subjects) & set(test_s)
    for r in result.encoders:
        assert r.scored_subjects == test_s
        assert set(r.fit_subjects) <= set(train_s) and not set(r.fit_subjects) & set(r.scored_subjects)
        assert r.n_test_windows == len(task.test_idx)


def test_features_separate_activities_and_runs_are_reproducible(dataset):
    cfg = probe_config(dataset, test_subjects=("s2",))
    a = probe(cfg)
    b = probe(replace(cfg, jobs=1))  # the inner-CV fits run in parallel by default; results do not change
    assert cfg.jobs == -1 and a.encoders[0].scores == b.encoders[0].scores
    s = a.encoders[0].summary()
    assert s[5]["macro_f1"]["mean"] > 0.9
    assert set(s[1]) == {"macro_f1", "balanced_accuracy", "accuracy"}
    assert len(a.encoders[0].scores[5]["accuracy"]) == cfg.trials
    assert s[5]["accuracy"]["se"] is not None


def test_embeddings_are_computed_once(dataset, monkeypatch):
    import wearfm.probe.baselines as bl

    calls = []
    real = bl.handcrafted_features

    def counting(x, rate, ch):
        calls.append(len(x))
        return real(x, rate, ch)

    monkeypatch.setattr(bl, "handcrafted_features", counting)
    r1 = probe(probe_config(dataset, trials=1, shots=(1,), batch_size=1000))
    n1 = sum(calls)
    calls.clear()
    probe(probe_config(dataset, trials=5, shots=(1, 2, 5), batch_size=1000))
    assert len(calls) == 1  # one batch: all needed windows embedded once, then reused for 15 fits
    assert sum(calls) <= 228 and n1 == r1.encoders[0].n_test_windows + 3  # 1 shot x 3 classes


def test_few_classes_stop_and_use_available(tmp_path, caplog):
    data = write_dataset(tmp_path / "d", seconds=12.0)  # 5 windows of 2 s per class and subject
    with pytest.raises(DataError, match=r"class 'lie' has only 15 window\(s\).*k=50"):
        probe(probe_config(data, shots=(1, 50), few_classes="stop", test_subjects=("s1",)))
    with caplog.at_level(logging.WARNING, logger="wearfm"):
        r = probe(probe_config(data, shots=(1, 50), trials=1, test_subjects=("s1",)))
    assert "class 'run' has only 15 window(s)" in caplog.text
    assert r.encoders[0].summary()[50]["accuracy"]["mean"] > 0


def test_no_labels_is_an_error(tmp_path):
    data = write_dataset(tmp_path / "d", labelled=False)
    with pytest.raises(DataError, match="no recording has labels"):
        probe(probe_config(data))


def test_labels_shorter_than_the_window_suggest_a_shorter_window(tmp_path):
    from tests._helpers.labelled import write_recording
    from tests._helpers.signals import make_accel

    for s in ("s1", "s2"):
        x = make_accel(seconds=30, hz=30.0, activity="walk", seed=1)
        labels = [("walk", "sit")[(i // 60) % 2] for i in range(len(x))]  # a new label every 2 s
        write_recording(tmp_path / "d" / f"{s}.parquet", x, 30.0, s, labels)
    with pytest.raises(DataError, match=r"no window of 10 s has one label .* --window 1 --stride 0.25"):
        probe(probe_config(tmp_path / "d", window_s=None, rate_hz=30.0))
    r = probe(probe_config(tmp_path / "d", window_s=1.0, stride_s=0.25, rate_hz=30.0, shots=(1,), trials=1))
    assert r.encoders[0].n_test_windows > 0


def test_single_subject_is_an_error(tmp_path):
    data = write_dataset(tmp_path / "d", subjects=("only",))
    with pytest.raises(DataError, match="1 subject"):
        probe(probe_config(data))


def test_missing_channels_is_an_error(dataset):
    with pytest.raises(DataError, match=r"needs channels \['acc_x', 'acc_y', 'acc_z', 'gyr_x'.*lack"):
        probe(probe_config(dataset, channels="acc+gyr"))


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"encoders": ()}, "at least one --encoder"),
        ({"encoders": ("nonsense",)}, "neither a run folder"),
        ({"encoders": ("random:nope",)}, "unknown encoder 'nope'"),
        ({"shots": (0,)}, "positive"),
        ({"jobs": 0}, "--jobs must be"),
        ({"head": "svm"}, "unknown --head"),
        ({"head": "ridge", "finetune": True}, "cannot be used with --head ridge"),
    ],
)
def test_bad_config(dataset, kw, msg):
    with pytest.raises(ConfigError, match=msg):
        probe(probe_config(dataset, **kw))


def test_ridge_on_numeric_targets(tmp_path):
    data = write_dataset(tmp_path / "d", activities=("walk", "run", "lie"))
    # relabel activities as an intensity score
    import pyarrow as pa
    import pyarrow.parquet as pq

    score = {"lie": "0.0", "walk": "1.0", "run": "2.5"}
    for f in data.glob("*.parquet"):
        t = pq.read_table(f)
        lab = t.column("label").combine_chunks().dictionary_decode().to_pylist()
        arr = pa.array([score[v] for v in lab]).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))
        pq.write_table(t.set_column(t.schema.get_field_index("label"), t.schema.field("label"), arr), f)
    r = probe(probe_config(data, head="ridge", shots=(2, 5), test_subjects=("s4",)))
    assert r.task == "regression" and r.metrics == ("mae", "r2")
    assert r.encoders[0].summary()[5]["r2"]["mean"] > 0.8
    with pytest.raises(ConfigError, match="numeric labels"):
        probe(probe_config(write_dataset(tmp_path / "d2"), head="ridge"))


def test_report_files(dataset, tmp_path):
    import csv
    import json

    out = tmp_path / "rep"
    r = probe(probe_config(dataset, out=str(out)))
    names = sorted(p.name for p in r.files)
    assert names == ["confusion_k5.png", "f1_vs_shots.png", "results.csv", "results.json", "run.json"]
    d = json.loads((out / "results.json").read_text())
    assert d["split"]["test_subjects"] == r.test_subjects
    assert d["encoders"][0]["confusion"]["k"] == 5
    m = np.array(d["encoders"][0]["confusion"]["matrix"])
    assert m.sum() == 3 * r.encoders[0].n_test_windows  # summed over 3 trials
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [int(x["k"]) for x in rows] == [1, 5] and float(rows[1]["macro_f1_mean"]) > 0.5
    assert (out / "f1_vs_shots.png").stat().st_size > 1000


def test_overlapping_windows_with_stride(dataset):
    plain = probe(probe_config(dataset, trials=1, shots=(1,), test_subjects=("s1",)))
    dense = probe(probe_config(dataset, trials=1, shots=(1,), test_subjects=("s1",), stride_s=1.0))
    assert dense.encoders[0].n_test_windows == 2 * plain.encoders[0].n_test_windows  # 1199 samples: 38 vs 19
    with pytest.raises(ConfigError, match="stride_s"):
        probe(probe_config(dataset, stride_s=0.0))


# --- macro-F1 over the classes in the test labels ------------------------------------------------------


def test_macro_f1_ignores_training_classes_absent_from_test():
    from wearfm.probe.fewshot import _metrics
    from wearfm.probe.targets import Task

    y = np.array([0, 1, 2, 0, 0, 1, 1])
    task = Task(False, ["a", "b", "c"], y, [np.array([0]), np.array([1]), np.array([2])], np.arange(3, 7), 3)
    perfect = _metrics(task, task.y_test, task.y_test.copy())
    assert perfect == {"macro_f1": 1.0, "balanced_accuracy": 1.0, "accuracy": 1.0}
    # predicting the absent class "c" for one "a" window: a: P=1 R=1/2 F1=2/3; b: F1=1 -> macro (2/3 + 1) / 2
    m = _metrics(task, task.y_test, np.array([0, 2, 1, 1]))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)


def test_probe_scores_test_classes_only_and_reports_support(tmp_path):
    import json

    data = write_dataset(tmp_path / "d")
    (data / "s4_lie.parquet").unlink()  # the test subject never lies down
    cfg = probe_config(data, test_subjects=("s4",), out=str(tmp_path / "r"), shots=(5,), trials=1)
    res = probe(cfg)
    r = res.encoders[0]
    assert r.classes == ["lie", "run", "walk"] and r.test_support["lie"] == 0 and r.test_support["walk"] > 0
    assert r.scored_classes == ["run", "walk"]
    saved = json.loads((tmp_path / "r" / "results.json").read_text())["encoders"][0]
    assert saved["test_support"] == r.test_support and saved["macro_f1_classes"] == ["run", "walk"]
    # the reported macro-F1 is the mean F1 of the two test classes, computed here from the confusion matrix
    c = r.confusion.astype(float)
    f1 = [2 * c[i, i] / (c[i, :].sum() + c[:, i].sum()) for i in (1, 2)]
    assert r.scores[5]["macro_f1"][0] == pytest.approx(np.mean(f1))
