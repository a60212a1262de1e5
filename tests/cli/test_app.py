"""CLI: what every command shares: usage errors as one red line, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wearfm.cli import app
from wearfm.cli._app import USAGE_EXIT

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args,message",
    [
        (["pretrain", "--lr", "abc"], "Invalid value for '--lr'"),
        (["pretrain", "/no/such/dataset"], "does not exist"),
        (["probe"], "Missing argument"),
        (["export", "--no-such-option"], "No such option: --no-such-option"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_red_line(args: list[str], message: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == USAGE_EXIT == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "╭" not in r.output and "Usage:" not in r.output
    if args[0] != "nosuch":
        assert f"wearfm {args[0]} --help" in lines[0]


def test_usage_error_in_a_real_process_is_one_line_on_stderr() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "wearfm", "pretrain", "--lr", "abc"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and "--lr" in r.stderr


def test_help_and_version_still_exit_0() -> None:
    assert runner.invoke(app, ["pretrain", "--help"]).exit_code == 0
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("wearfm ")
