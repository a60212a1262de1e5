"""`wearfm pretrain`: self-supervised pretraining of an encoder on a canonical dataset (CPU, GPU or torchrun)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wearfm.cli._app import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    app,
    build_config,
    emit_json,
    err_console,
    setup_logging,
    user_errors,
)
from wearfm.config import DEFAULT_ENCODERS, PretrainConfig, describe_training_defaults

if TYPE_CHECKING:
    from wearfm.config import PretrainConfig

__all__ = ["pretrain_cmd", "resume_command", "EXIT_CODES", "ENCODER_NAMES"]


_METHOD_HELP = f"Pretraining method: {' | '.join(DEFAULT_ENCODERS)} (default: {PretrainConfig.method})."
#: The registered encoders (``wearfm.models.list_encoders()``; a test keeps the two equal), named here so that
#: ``--help`` needs no torch import.
ENCODER_NAMES = ("resnet1d", "resnet1d_small", "resnet1d_tiny", "cnn_gru", "cnn_gru_tiny", "patchtst", "patchtst_tiny")
_ENCODER_HELP = (
    f"Encoder: {' | '.join(ENCODER_NAMES)} (default: the method's: "
    + "; ".join(f"{m} {e}" for m, e in DEFAULT_ENCODERS.items())
    + ")."
)


@app.command("pretrain")
def pretrain_cmd(
    data: Annotated[
        Path | None,
        typer.Argument(help="Dataset folder written by `wearfm ingest` (with --resume: the run's own).", exists=True),
    ] = None,
    method: Annotated[str | None, typer.Option("--method", help=_METHOD_HELP)] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", help=_ENCODER_HELP)] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="Model sample rate (Hz).")] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="Window: seconds ('10', '10s', '2.56s', '500ms') or samples ('256samples')."),
    ] = None,
    stride: Annotated[
        str | None, typer.Option("--stride", help="Step between window starts, as --window (default: the window).")
    ] = None,
    channels: Annotated[str | None, typer.Option("--channels", help="acc | acc+gyr | gyr | comma list.")] = None,
    normalize: Annotated[
        bool | None, typer.Option("--normalize/--no-normalize", help="Per-channel standardisation (saved).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes over the data.")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Batch size per process.")] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help="Peak learning rate (AdamW; also --set weight_decay=, warmup_steps=). Default: the method's; "
            f"{describe_training_defaults()}.",
        ),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N steps (overrides epochs).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder to write.")] = None,
    resume_from: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            "--resume-from",
            help="Continue this run folder (or checkpoint.pt) with its own settings; options given override them "
            "where they can change (not the model, data windows or seed); --out defaults to it.",
        ),
    ] = None,
    device: DeviceOpt = None,
    amp: Annotated[str | None, typer.Option("--amp", help="auto | bf16 | fp16 | off.")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the training step.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="DataLoader worker processes.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Folder for the on-disk window store (built once, streaming; memory-mapped)."),
    ] = None,
    distance: Annotated[
        Path | None,
        typer.Option(
            "--distance",
            help="relcon: run folder (or distance.pt) of a trained relcon-distance model (relcon.distance).",
            rich_help_panel="RelCon",
        ),
    ] = None,
    within_candidates: Annotated[
        int | None,
        typer.Option(
            "--within-candidates",
            help="relcon: same-subject, same-hour candidates per anchor (relcon.within_candidates, default 20).",
            rich_help_panel="RelCon",
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Pretrain an encoder with a self-supervised method; writes encoder.pt, checkpoint.pt and run.json."""
    from wearfm.config import apply_overrides, parse_duration
    from wearfm.errors import ConfigError

    rank = int(os.environ.get("RANK", "0"))
    setup_logging(quiet or rank != 0)
    with user_errors():
        base = None
        if resume_from is not None:
            from wearfm.train.runinfo import load_run_config

            run_dir = resume_from.parent if resume_from.suffix == ".pt" else resume_from
            out = out if out is not None else run_dir
            base = load_run_config(resume_from)  # the run's own settings; options below override what they name
        elif data is None:
            raise ConfigError("no dataset given; pass DATA (a folder written by `wearfm ingest`), or --resume RUN")
        cfg = build_config(
            PretrainConfig, config, set_, base=base, data=None if data is None else str(data), method=method,
            encoder=encoder, rate_hz=rate, channels=channels, normalize=normalize, epochs=epochs, batch_size=batch,
            lr=lr, max_steps=max_steps, out=None if out is None else str(out), device=device, amp=amp,
            compile=compile or None, num_workers=workers, seed=seed, cache_dir=None if cache is None else str(cache),
            **{"relcon.distance": None if distance is None else str(distance),
               "relcon.within_candidates": within_candidates},
        )  # fmt: skip
        if (distance is not None or within_candidates is not None) and cfg.method != "relcon":
            raise ConfigError(f"--distance and --within-candidates are for --method relcon, not {cfg.method}")
        times: dict[str, Any] = {}
        if window is not None:
            times["window_s"] = parse_duration(window, cfg.rate_hz, option="--window")
        if stride is not None:
            times["stride_s"] = parse_duration(stride, cfg.rate_hz, option="--stride")
        cfg = apply_overrides(cfg, times)
        if base is not None and resume_from is not None:
            _refuse_fixed_changes(base, cfg, resume_from)
        resume_arg: bool | Path = resume_from if resume_from is not None else False
        cli_args = {"argv": sys.argv, "resume": str(resume_arg)}
        from wearfm.train import pretrain

        progress = _Progress(enabled=not quiet and rank == 0)
        with progress:
            result = pretrain(cfg, resume_arg, cli_args=cli_args, on_log=progress.update)
    code = EXIT_CODES.get(result.stopped_by or "", 0)
    if rank != 0:
        if code:
            raise typer.Exit(code)
        return
    if json_:
        emit_json(result.to_dict())
    if not quiet:
        state = "[yellow]stopped[/]" if result.interrupted else "[green]done[/]"
        err_console.print(
            f"{state}: {result.steps}/{result.total_steps} steps ({result.epochs:.2f} epochs), final loss "
            f"{result.final_loss:.4f}, {result.windows_per_s:.0f} windows/s, {result.train_s:.1f}s -> {result.out_dir}",
            highlight=False,
        )
        if result.interrupted:
            err_console.print(f"continue with: {resume_command(result.out_dir)}", highlight=False, soft_wrap=True)
    if code:
        raise typer.Exit(code)


#: Exit codes of a run stopped by a signal after saving its checkpoint (128 + the signal's number, as shells do).
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

#: Settings that cannot change on resume, with the option that sets each (others: ``--set NAME=...``).
_OPTION_OF = {
    "method": "--method", "encoder": "--encoder", "rate_hz": "--rate", "window_s": "--window", "stride_s": "--stride",
    "channels": "--channels", "normalize": "--normalize", "batch_size": "--batch", "lr": "--lr", "seed": "--seed",
    "amp": "--amp",
}  # fmt: skip


def resume_command(run_dir: Path) -> str:
    """The command that continues ``run_dir`` with its own settings (what an interrupted run prints)."""
    return f"wearfm pretrain --resume {shlex.quote(str(run_dir))}"


def _refuse_fixed_changes(base: PretrainConfig, cfg: PretrainConfig, source: Path) -> None:
    """Raise ``ConfigError`` naming each option that would change the model or data order of a resumed run."""
    from wearfm.config import to_dict
    from wearfm.errors import ConfigError
    from wearfm.train.runinfo import resume_changes

    diff = resume_changes(to_dict(base), cfg)
    if diff:
        parts = [f"{_OPTION_OF.get(k, f'--set {k}')} ({a!r} -> {b!r})" for k, (a, b) in diff.items()]
        raise ConfigError(
            f"{source}: cannot change {', '.join(parts)} when resuming, as it changes the model or the data order; "
            "leave it out to keep the run's own, or start a new run with another --out"
        )


class _Progress:
    """A Rich progress bar (loss, lr, windows/s, ETA) fed by the loop's metrics records."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(), console=err_console, transient=False,
            )  # fmt: skip
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, rec: dict[str, Any]) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("pretrain", total=rec["total_steps"], info="")
        info = f"loss {rec['loss']:.4f}  lr {rec['lr']:.2e}  {rec['windows_per_s']:.0f} win/s"
        self._bar.update(self._task, completed=rec["step"], total=rec["total_steps"], info=info)
