import subprocess
import sys

from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.quickstart import QuickstartConfig, quickstart

runner = CliRunner()


def test_quickstart_runs_the_whole_chain(tmp_path):
    cfg = QuickstartConfig(
        out=str(tmp_path / "qs"),
        subjects=4,
        minutes=2,
        max_steps=2,
        batch_size=16,
        encoder="resnet1d_tiny",
        shots=(1, 2),
        trials=2,
    )
    res = quickstart(cfg)
    assert (res.dataset / "manifest.parquet").exists()
    assert (res.run / "encoder.pt").exists()
    assert (res.report / "results.json").exists()
    assert res.onnx.exists() and res.onnx_max_abs_diff <= 1e-4
    assert set(res.probe) == {"simclr", "random:resnet1d_tiny", "features"}
    assert all(0.0 <= v <= 1.0 for by_k in res.probe.values() for v in by_k.values())


def test_quickstart_on_own_unlabelled_data_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("t,ax,ay,az\n" + "".join(f"{i * 0.02:.2f},0,0,1\n" for i in range(3000)))
    r = runner.invoke(app, ["quickstart", "--data", str(raw), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 1
    assert "no labels" in r.output and "Traceback" not in r.output


def test_every_command_has_help():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("quickstart", "ingest", "info", "pair", "pretrain", "probe", "export", "embed"):
        assert cmd in r.output
        h = runner.invoke(app, [cmd, "--help"])
        assert h.exit_code == 0, cmd


def test_installed_entry_point_version():
    from wearfm import __version__

    r = subprocess.run([sys.executable, "-m", "wearfm", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    assert r.stdout.strip() == f"wearfm {__version__}"


def test_quickstart_hints_name_its_own_options(tmp_path):
    """Too little data for one batch: the message's options are quickstart's (it has --batch), and they work."""
    import re

    import typer.main

    from tests._helpers.synth import write_dataset

    data = write_dataset(tmp_path / "small", subjects=2, seconds=20)
    r = runner.invoke(app, ["quickstart", "--data", str(data), "--out", str(tmp_path / "o"), "--steps", "1", "-q"])
    assert r.exit_code == 1 and "fewer than one batch" in r.output, r.output
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", r.output))
    cmd = typer.main.get_command(app).commands["quickstart"]
    options = {o for p in cmd.params for o in p.opts}
    assert named and named <= options, named - options
    r = runner.invoke(app, ["quickstart", "--data", str(data), "--out", str(tmp_path / "o"), "--steps", "1", "--batch",
                            "4", "-q", "--help"])  # fmt: skip
    assert r.exit_code == 0 and "--batch" in r.output
