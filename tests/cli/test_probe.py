import json

import pytest
from typer.testing import CliRunner

from tests._helpers.labelled import write_dataset
from wearfm.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def data(tmp_path):
    return write_dataset(tmp_path / "data")


def _run(args):
    return runner.invoke(app, ["probe", *map(str, args)])


def test_help():
    r = _run(["--help"])
    assert r.exit_code == 0 and "--encoder" in r.output and "--finetune" in r.output


def test_probe_writes_reports_and_tables(data, tmp_path):
    out = tmp_path / "rep"
    r = _run(
        [
            data,
            "--encoder",
            "features",
            "--encoder",
            "random:resnet1d_tiny",
            "--shots",
            "1,5",
            "--trials",
            "2",
            "--window",
            "2",
            "--test-subjects",
            "s2",
            "--out",
            out,
        ]
    )
    assert r.exit_code == 0, r.output
    assert "random:resnet1d_tiny [logreg]" in r.stdout and "macro-F1" in r.stdout and "±" in r.stdout
    for f in ("results.json", "results.csv", "f1_vs_shots.png", "confusion_k5.png", "run.json"):
        assert (out / f).is_file()
    d = json.loads((out / "results.json").read_text())
    assert d["split"] == {"train_subjects": ["s1", "s3", "s4"], "test_subjects": ["s2"]}


def test_probe_json(data, tmp_path):
    r = _run(
        [
            data,
            "-e",
            "features",
            "--shots",
            "2",
            "--trials",
            "2",
            "--window",
            "2",
            "--out",
            tmp_path / "o",
            "--json",
            "--head",
            "knn",
        ]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["encoders"][0]["head"] == "knn" and d["encoders"][0]["results"][0]["k"] == 2
    assert not set(d["split"]["train_subjects"]) & set(d["split"]["test_subjects"])


def test_logreg_and_sklearn_reference_heads_agree_and_report_times(data, tmp_path):
    """`--head logreg-sklearn` runs scikit-learn's head; both report embedding and fitting times."""
    args = [data, "-e", "features", "--shots", "1,5", "--trials", "2", "--window", "2", "--test-subjects", "s2"]
    out = {}
    for head in ("logreg", "logreg-sklearn"):
        r = _run([*args, "--out", tmp_path / head, "--json", "--head", head])
        assert r.exit_code == 0, r.output
        out[head] = json.loads(r.stdout.strip().splitlines()[-1])["encoders"][0]
        assert out[head]["head"] == head and out[head]["fit_seconds"] > 0 and out[head]["embed_seconds"] > 0
    for a, b in zip(out["logreg"]["results"], out["logreg-sklearn"]["results"], strict=True):
        assert a["k"] == b["k"] and abs(a["summary"]["macro_f1"]["mean"] - b["summary"]["macro_f1"]["mean"]) <= 0.005
    r = _run([*args, "--out", tmp_path / "t"])
    assert r.exit_code == 0 and "features (logreg): embedding" in r.output and "fitting" in r.output


@pytest.mark.parametrize(
    "make, extra, msg",
    [
        (dict(labelled=False), [], "no recording has labels"),
        (dict(subjects=("only",)), [], "1 subject(s)"),
        ({}, ["--shots", "1,500", "--few-classes", "stop"], "only 57 window(s) from train subjects, fewer than k=500"),
        ({}, ["--set", "channels=acc+gyr"], "needs channels"),
        ({}, ["--test-subjects", "nobody"], "not in the data"),
        ({}, ["-e", "random:nope"], "unknown encoder 'nope'"),
    ],
)
def test_bad_input_gives_one_red_line(tmp_path, make, extra, msg):
    data = write_dataset(tmp_path / "d", **make)
    r = _run([data, "-e", "features", "--window", "2", "--trials", "1", "--shots", "1", "-o", tmp_path / "o", *extra])
    assert r.exit_code == 1
    assert "error:" in r.output and msg in r.output.replace("\n", " ")
    assert "Traceback" not in r.output


@pytest.mark.parametrize("shots", ["abc", "1,x", "0,5", ","])
def test_bad_shots_say_what_a_valid_value_looks_like(data, tmp_path, shots):
    r = _run([data, "--encoder", "features", "--shots", shots, "--out", tmp_path / "r"])
    assert r.exit_code == 1
    assert "e.g. --shots 1,5,10" in r.output and "tuple" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_label_purity_option(data, tmp_path):
    r = _run([data, "--encoder", "features", "--label-purity", "1.5", "--out", tmp_path / "r"])
    assert r.exit_code == 1 and "label_purity must be in (0, 1], got 1.5" in r.output


@pytest.mark.parametrize("window,stride", [("2s", "1s"), ("2000ms", "1"), ("40samples", "20samples")])
def test_window_and_stride_take_the_same_durations_as_pretrain(data, tmp_path, window, stride):
    # features at --rate 20: 2 s windows, 1 s apart, however the durations are written
    args = [data, "-e", "features", "--rate", "20", "--shots", "1", "--trials", "1", "--out", tmp_path / "o", "--json"]
    r = _run([*args, "--window", window, "--stride", stride])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "o" / "results.json").read_text())["config"]
    assert (cfg["window_s"], cfg["stride_s"]) == (pytest.approx(2.0), pytest.approx(1.0))
