import json

import pytest
import torch
from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
TINY = ["--encoder", "resnet1d_tiny", "--rate", "30", "--window", "5s", "--batch", "4", "--device", "cpu"]


def _run(*args):
    return runner.invoke(app, ["pretrain", *map(str, args)])


def test_help():
    r = _run("--help")
    assert r.exit_code == 0 and "--resume" in r.output and "--window" in r.output
    help_text = " ".join(r.output.split())
    assert all(m in help_text for m in ("simclr", "relcon-distance", "primus", "imu2clip", "imu-video", "patchtst"))


def test_help_names_exactly_the_registered_methods_and_encoders():
    import wearfm.methods  # noqa: F401  (registers every method)
    from wearfm.cli.pretrain import ENCODER_NAMES
    from wearfm.config import DEFAULT_ENCODERS
    from wearfm.methods.base import list_methods
    from wearfm.models import list_encoders

    assert sorted(ENCODER_NAMES) == sorted(list_encoders())
    assert sorted(DEFAULT_ENCODERS) == sorted(list_methods())  # the --method help lists these
    help_text = "".join(_run("--help").output.split())  # no spaces: wrapped table cells join up
    assert all(name in help_text for name in (*list_encoders(), *list_methods()))


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


def test_batch_of_one_is_refused_for_contrastive_methods(tiny_dataset, tmp_path):
    args = [a if a != "4" else "1" for a in TINY]
    r = _run(tiny_dataset, *args, "--max-steps", 1, "--out", tmp_path / "b1")
    assert r.exit_code == 1, r.output
    assert "without negatives" in r.output and "--batch 2 or more" in r.output
    assert not (tmp_path / "b1" / "checkpoint.pt").exists()


def test_resume_takes_the_runs_own_settings(tiny_dataset, tmp_path):
    from wearfm.config import PretrainConfig
    from wearfm.train import pretrain

    out = tmp_path / "own"
    cfg = PretrainConfig(
        data=str(tiny_dataset), out=str(out), encoder="resnet1d_tiny", rate_hz=20.0, window_s=4.0, batch_size=4,
        max_steps=3, device="cpu", seed=3,
    )  # fmt: skip
    assert pretrain(cfg, stop_at=1).interrupted
    r = _run("--resume", out, "-q")  # no DATA and no settings: all from the run folder
    assert r.exit_code == 0, r.output
    state = load_checkpoint(out)
    assert state["step"] == 3
    assert state["config"]["rate_hz"] == 20.0 and state["config"]["encoder"] == "resnet1d_tiny"
    # options the user names override what may change ...
    r = _run("--resume", out, "--max-steps", 4, "--lr", "0.001", "-q")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out)["step"] == 4
    # ... and what would change the model or the data order is refused, naming the option
    r = _run("--resume", out, "--encoder", "resnet1d", "--rate", "30", "-q")
    assert r.exit_code == 1
    assert "cannot change --encoder ('resnet1d_tiny' -> 'resnet1d'), --rate (20.0 -> 30.0)" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_pretrain_without_data_or_resume(tmp_path):
    r = _run("--out", tmp_path / "x")
    assert r.exit_code == 1 and "no dataset given" in r.output and "--resume RUN" in r.output


def _wait_for_lines(path, n, proc, timeout=120.0):
    import time

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path}: fewer than {n} lines after {timeout} s")


def test_signal_saves_exits_130_or_143_and_the_printed_command_resumes(tiny_dataset, tmp_path):
    import os
    import shlex
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    wearfm = [sys.executable, "-m", "wearfm"]
    out = tmp_path / "sig"
    cmd = [*wearfm, "pretrain", str(tiny_dataset), *TINY, "--max-steps", "100000", "--set", "log_every=1",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_lines(out / "metrics.jsonl", 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    step = load_checkpoint(out)["step"]
    assert step >= 2
    line = next(x for x in err.splitlines() if x.startswith("continue with: "))
    printed = shlex.split(line.removeprefix("continue with: "))
    assert printed[:2] == ["wearfm", "pretrain"]
    # the printed command, as printed, continues the run (stopped again by SIGTERM: exit 143)
    lines = len((out / "metrics.jsonl").read_text().splitlines())
    proc = subprocess.Popen([*wearfm, *printed[1:]], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for_lines(out / "metrics.jsonl", lines + 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "other settings" not in err
    assert load_checkpoint(out)["step"] > step


def test_missing_channels_name_the_recordings_that_lack_them(tmp_path):
    """acc+gyr on a dataset where one subject has no gyroscope: the message names that recording and suggests
    the channels every recording has, not the ones asked for."""
    from tests._helpers.synth import T0, make_accel, write_recording
    from wearfm.io.manifest import entry_from_file, write_manifest

    root = tmp_path / "mixed"
    root.mkdir()
    paths = [
        write_recording(root / "a.parquet", make_accel(30, 30.0, "walk", 0, True), hz=30.0, subject="1600"),
        write_recording(root / "b.parquet", make_accel(30, 30.0, "walk", 1, False), hz=30.0, subject="1607",
                        start_ns=T0 + 10**12),
    ]  # fmt: skip
    write_manifest(root, [entry_from_file(p, root) for p in paths])
    r = _run(root, *TINY, "--channels", "acc+gyr", "--max-steps", 1, "--out", tmp_path / "o")
    assert r.exit_code == 1
    line = " ".join(r.output.split())
    assert "1 of 2 recording(s) lack channels acc+gyr" in line, line
    assert "b.parquet (subject 1607: acc)" in line and "a.parquet" not in line
    assert "use --channels acc," in line and "--channels acc+gyr" not in line


def test_resume_without_config_json_uses_the_checkpoints_settings(tiny_dataset, tmp_path):
    """A run killed before writing config.json still resumes with its own settings (kept in checkpoint.pt)."""
    from wearfm.config import PretrainConfig
    from wearfm.train import pretrain

    out = tmp_path / "killed"
    cfg = PretrainConfig(
        data=str(tiny_dataset), out=str(out), encoder="resnet1d_tiny", rate_hz=15.0, window_s=4.0, batch_size=4,
        max_steps=2, device="cpu",
    )  # fmt: skip
    pretrain(cfg, stop_at=1)
    (out / "config.json").unlink()
    r = _run("--resume", out / "checkpoint.pt", "-q")
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out)["step"] == 2 and load_checkpoint(out)["config"]["rate_hz"] == 15.0
