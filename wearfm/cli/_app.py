"""The Typer app and what every command shares: logging, error handling, config building, JSON output."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from typer import _click
from typer.core import TyperGroup

from wearfm import __version__
from wearfm.errors import WearfmError

__all__ = [
    "app",
    "USAGE_EXIT",
    "usage_error_line",
    "err_console",
    "out_console",
    "setup_logging",
    "user_errors",
    "emit_json",
    "build_config",
    "timed",
    "QuietOpt",
    "JsonOpt",
    "DeviceOpt",
    "ConfigOpt",
    "SetOpt",
]

C = TypeVar("C")

#: Exit status of a command line that could not be parsed (an unknown option, a bad value, a missing path);
#: click's convention, kept so scripts can tell "not run" from "ran and failed" (1).
USAGE_EXIT = 2


class _OneLineErrors(TyperGroup):
    """The app's root group: Typer's usage errors become one red line too, like every other error."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the app; in standalone mode print usage errors on one line and exit with their code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click.exceptions.ClickException as e:
            if type(e).__name__ != "NoArgsIsHelpError":  # `wearfm` alone: the help is already shown
                err_console.print(usage_error_line(e), highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            err_console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def usage_error_line(e: Exception) -> str:
    """One line (Rich markup) for a command-line usage error, naming the command's ``--help``."""
    msg = " ".join(e.format_message().split()) if hasattr(e, "format_message") else str(e)
    ctx = getattr(e, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"[bold red]error:[/] {escape(msg)}{escape(hint)}"


app = typer.Typer(
    name="wearfm",
    cls=_OneLineErrors,
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
DeviceOpt = Annotated[str | None, typer.Option("--device", help="Torch device: auto, cpu, cuda, cuda:N.")]
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


def build_config(
    cls: type[C], config: Path | None, overrides: list[str] | None, *, base: C | None = None, **options: Any
) -> C:
    """Defaults (or ``base``) -> ``--config`` file -> ``--set`` overrides -> explicit command options (non-None)."""
    from wearfm.config import apply_overrides, load_config

    cfg = load_config(cls, config, overrides, base=base)
    return apply_overrides(cfg, {k: v for k, v in options.items() if v is not None})


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Log ``step...`` and ``step: done (1.2s)`` around a block."""
    t0 = time.perf_counter()
    log.info("%s...", step)
    yield
    log.info("%s: done (%.1fs)", step, time.perf_counter() - t0)
