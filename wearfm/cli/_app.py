"""The Typer app and what every command shares: logging, error handling, config building, JSON output."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from wearfm import __version__
from wearfm.errors import WearfmError

__all__ = [
    "app",
    "err_console",
    "out_console",
    "setup_logging",
    "user_errors",
    "emit_json",
    "build_config",
    "timed",
    "QuietOpt",
    "JsonOpt",
    "ConfigOpt",
    "SetOpt",
]

C = TypeVar("C")

app = typer.Typer(
    name="wearfm",
    help="Wearable motion foundation models: ingest raw IMU files, pretrain, probe and export encoders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True)
out_console = Console()
log = logging.getLogger("wearfm")

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress or summary.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout.")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML or JSON file of settings (see wearfm/config.py).", exists=True)
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: --set key=value (dotted for sections).")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wearfm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Wearable motion foundation models: ingest, pretrain, probe, export."""


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Send wearfm's log records to stderr through Rich (WARNING and above when quiet)."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger("wearfm")
    root.handlers[:] = [RichHandler(console=err_console, show_path=False, show_time=False, markup=False)]
    root.setLevel(level)
    root.propagate = False


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a user's mistake into one red line on stderr and exit code 1 (130 when interrupted by Ctrl-C)."""
    try:
        yield
    except (WearfmError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        msg = str(e) or type(e).__name__
        err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
        raise typer.Exit(getattr(e, "exit_code", 1)) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        raise typer.Exit(130) from None


def emit_json(obj: Any) -> None:
    """Write ``obj`` as one line of JSON on stdout (for pipelines)."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def build_config(cls: type[C], config: Path | None, overrides: list[str] | None, **options: Any) -> C:
    """Defaults -> ``--config`` file -> ``--set`` overrides -> explicit command options (non-None)."""
    from wearfm.config import apply_overrides, load_config

    cfg = load_config(cls, config, overrides)
    return apply_overrides(cfg, {k: v for k, v in options.items() if v is not None})


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Log ``step...`` and ``step: done (1.2s)`` around a block."""
    t0 = time.perf_counter()
    log.info("%s...", step)
    yield
    log.info("%s: done (%.1fs)", step, time.perf_counter() - t0)
