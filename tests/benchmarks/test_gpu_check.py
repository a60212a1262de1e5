"""The GPU check script (benchmarks/gpu_check.py): its dry run passes on the CPU and a failing check fails it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

ISSUE_METHODS = ["simclr", "relcon-distance", "relcon", "primus", "imu2clip", "imu-video"]


def _run(tmp_path: Path, *argv: str) -> tuple[int, dict]:
    out = tmp_path / "check.json"
    rc = gpu_check.main(["--dry-run", "--device", "cpu", "--threads", "1", "--out", str(out), *argv])
    return rc, json.loads(out.read_text())


def test_dry_run_runs_every_part_and_passes(tmp_path, capsys):
    rc, rep = _run(tmp_path, "--only", "methods,relcon,ddp,compile")
    assert rc == 0, rep["checks"]
    assert rep["ok"] and rep["dry_run"] and rep["checks"] and all(c["ok"] for c in rep["checks"])
    results = rep["parts"]["methods"]["results"]
    assert [r["method"] for r in results] == ISSUE_METHODS
    assert [r["encoder"] for r in results] == [
        "resnet1d_tiny",
        "resnet1d_tiny",
        "resnet1d_tiny",
        "cnn_gru_tiny",
        "cnn_gru_tiny",
        "patchtst_tiny",
    ]  # each method's default encoder, at test size)
    for r in results:
        assert r["step_items_per_s"] > 0 and r["loader_items_per_s"] > 0 and math.isfinite(r["loss"])
        assert r["step_ms"] == pytest.approx(1000 * r["batch"] / r["step_items_per_s"])
        if r["method"] != "relcon-distance":  # stage 1 trains a distance network, not an encoder
            assert r["step_time_over_pure"] == pytest.approx(r["pure_items_per_s"] / r["step_items_per_s"])
    assert [g["name"].split(" / ")[0] for g in rep["goals"] if "bare encoder" in g["name"]] == [
        m for m in ISSUE_METHODS if m != "relcon-distance"
    ]  # every method with an encoder has the step-time goal
    relcon = next(r for r in results if r["method"] == "relcon")
    assert relcon["encoder_input_per_step"] == [[4 + 4 * 2, 3, 64]]  # anchors + within-subject candidates
    rc_part = rep["parts"]["relcon"]
    assert rc_part["loss_fast"] == pytest.approx(rc_part["loss_reference"], rel=1e-4)
    loop = rep["parts"]["loop"]
    assert loop["ddp"]["world_size"] == 1 and loop["ddp"]["backend"] == "gloo"
    assert loop["plain"]["backend"] is None and loop["compile"]["compile_backend"] == "eager"
    assert all(loop[k]["steps"] == gpu_check.TINY.run_steps for k in ("plain", "ddp", "compile"))
    table = capsys.readouterr().out
    assert "| part | shapes | items/s |" in table and "relcon / resnet1d_tiny" in table
    assert table.count("\n|") == len(rep["table"].splitlines())  # the table printed is the one saved
    assert not torch.distributed.is_initialized()  # the one-process group was left


def test_pytest_part_lists_gpu_tests_and_a_failure_fails_the_check(tmp_path):
    tests = tmp_path / "test_fake_gpu.py"
    tests.write_text(
        "import pytest\n\npytestmark = pytest.mark.gpu\n\n"
        "def test_fine():\n    assert True\n\n"
        "def test_broken():\n    assert 1 == 2\n\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n"
    )
    rc, rep = _run(tmp_path, "--only", "pytest", "--pytest-paths", str(tests))
    assert rc == 1 and not rep["ok"]
    part = rep["parts"]["pytest"]
    outcome = {t["name"].rsplit("::", 1)[1]: t["outcome"] for t in part["tests"]}
    assert outcome == {"test_fine": "passed", "test_broken": "failed", "test_skipped": "skipped"}
    assert [c["name"] for c in rep["checks"] if not c["ok"]] == ["pytest -m gpu"]


def test_relcon_mismatch_fails_the_check(tmp_path, monkeypatch):
    real = gpu_check.compare_step

    def off_by_a_bit(device, **kw):
        r = real(device, **kw)
        return {**r, "loss_fast": r["loss_reference"] + 0.01}

    monkeypatch.setattr(gpu_check, "compare_step", off_by_a_bit)
    rc, rep = _run(tmp_path, "--only", "relcon")
    assert rc == 1
    failed = [c["name"] for c in rep["checks"] if not c["ok"]]
    assert failed == ["relcon: batched loss == reference loss"]


def test_strict_fails_on_a_missed_goal(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "RELCON_GOAL", 1e9)  # no implementation is a billion times faster
    rc, rep = _run(tmp_path, "--only", "relcon")
    assert rc == 0 and rep["ok"]  # a missed goal is reported, not failed
    assert [g["met"] for g in rep["goals"] if g["name"].startswith("relcon")] == [False]
    rc, rep = _run(tmp_path, "--only", "relcon", "--strict")
    assert rc == 1 and not rep["ok"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_without_cuda_a_full_run_says_to_use_dry_run(capsys):
    with pytest.raises(SystemExit) as e:
        gpu_check.parse_args([])
    assert e.value.code == 2 and "--dry-run" in capsys.readouterr().err


def test_table_leaves_unmeasured_cells_empty():
    t = gpu_check.format_table([{"part": "x", "items_s": float("nan"), "ratio": 1.234, "result": "ok"}])
    assert t.splitlines()[2] == "| x |  |  |  |  | 1.23 |  |  |  | ok |"
