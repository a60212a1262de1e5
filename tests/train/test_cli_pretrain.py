import json

import pytest
import torch
from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.train.checkpoint import load_checkpoint

runner = CliRunner()
TINY = ["--encoder", "resnet1d_tiny", "--rate", "30", "--window", "5s", "--batch", "4", "--device", "cpu"]


def _run(*args):
    return runner.invoke(app, ["pretrain", *map(str, args)])


def test_help():
    r = _run("--help")
    assert r.exit_code == 0 and "--resume" in r.output and "--window" in r.output
    help_text = " ".join(r.output.split())
    assert all(m in help_text for m in ("simclr", "relcon-distance", "primus", "imu2clip", "imu-video", "patchtst"))


def test_simclr_two_steps_json(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    r = _run(
        tiny_dataset, *TINY, "--max-steps", 2, "--out", out, "--json", "--quiet", "--set", "simclr.projection_dim=8"
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and summary["artifacts"]["encoder"].endswith("encoder.pt")
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["simclr"]["projection_dim"] == 8 and run["config"]["window_s"] == pytest.approx(5.0)
    # --resume RUN continues the run; --max-steps extends it
    r = _run(tiny_dataset, *TINY, "--max-steps", 3, "--out", out, "--resume", out, "--json", "-q", "--set",
             "simclr.projection_dim=8")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["resumed_from"] == 2
    assert load_checkpoint(out)["step"] == 3


@pytest.mark.parametrize("window,samples", [("128samples", 128), ("4", 120), ("4.2s", 126)])
def test_window_units_and_progress_summary(tiny_dataset, tmp_path, window, samples):
    # a bare number is seconds, as in every command; samples need their suffix
    args = [a if a != "5s" else window for a in TINY]
    r = _run(tiny_dataset, *args, "--max-steps", 1, "--out", tmp_path / "s")
    assert r.exit_code == 0, r.output
    assert "done" in r.output and "windows/s" in r.output
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert round(cfg["window_s"] * 30) == samples


def test_resume_path_names_the_run(tiny_dataset, tmp_path):
    out = tmp_path / "p"
    assert _run(tiny_dataset, *TINY, "--max-steps", 1, "--out", out, "-q").exit_code == 0
    r = _run(tiny_dataset, *TINY, "--max-steps", 2, "--resume-from", out, "-q")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out)["step"] == 2


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--encoder", "nope"], "unknown encoder 'nope'; choose from"),
        (["--method", "nope"], "unknown method 'nope'; choose from"),
        (["--window", "100s"], "no recording is long enough"),
        (["--window", "ten"], "window 'ten'"),
        (["--batch", "999"], "fewer than one batch"),
        (["--set", "bogus=1"], "unknown setting 'bogus'"),
        (["--channels", "acc+gyr"], "lack channels"),
    ],
)
def test_bad_input_is_one_red_line(tiny_dataset, tmp_path, extra, message):
    r = _run(tiny_dataset, *TINY, "--max-steps", 1, "--out", tmp_path / "bad", *extra)
    assert r.exit_code != 0
    assert message in r.output, r.output
    assert "Traceback" not in r.output


def test_unknown_encoder_lists_registered_names(tiny_dataset, tmp_path):
    r = _run(tiny_dataset, *TINY, "--encoder", "nope", "--out", tmp_path / "x")
    assert "resnet1d" in r.output and "cnn_gru" in r.output


def test_empty_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _run(tmp_path / "empty", *TINY, "--out", tmp_path / "o")
    assert r.exit_code != 0 and "no recordings" in r.output and "Traceback" not in r.output


def test_corrupt_and_foreign_checkpoints(tiny_dataset, tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint at all")
    r = _run(tiny_dataset, *TINY, "--max-steps", 1, "--out", out, "--resume", out)
    assert r.exit_code != 0 and "corrupt or not a wearfm checkpoint" in r.output and "Traceback" not in r.output
    torch.save({"state_dict": {}}, out / "checkpoint.pt")
    r = _run(tiny_dataset, *TINY, "--max-steps", 1, "--out", out, "--resume", out)
    assert r.exit_code != 0 and "not a wearfm training checkpoint" in r.output
    r = _run(tiny_dataset, *TINY, "--max-steps", 1, "--resume", tmp_path / "none")
    assert r.exit_code != 0 and "no checkpoint to resume" in r.output
