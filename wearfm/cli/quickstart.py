"""`wearfm quickstart`: the whole pipeline in one command, on simulated data or your own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wearfm.cli._app import JsonOpt, QuietOpt, app, emit_json, err_console, setup_logging, user_errors


@app.command()
def quickstart(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the run writes.")] = Path(
        "wearfm-quickstart"
    ),
    data: Annotated[
        Path | None,
        typer.Option(
            help="Your own raw files or dataset folder (labelled, 2+ subjects); default: simulate.", exists=True
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Pretraining steps.")] = 100,
    batch: Annotated[
        int | None, typer.Option("--batch", help="Pretraining batch size [default: 32; lower it for little data].")
    ] = None,
    subjects: Annotated[int, typer.Option(help="Simulated subjects.")] = 10,
    minutes: Annotated[float, typer.Option(help="Simulated minutes per subject.")] = 8.0,
    seed: Annotated[int, typer.Option(help="Seed for simulation, training and probing.")] = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Simulate a wrist-IMU study, ingest it, pretrain, probe against baselines and export ONNX."""
    from wearfm.quickstart import QuickstartConfig
    from wearfm.quickstart import quickstart as run_quickstart

    setup_logging(quiet)
    cfg = QuickstartConfig(
        out=str(out),
        data=None if data is None else str(data),
        max_steps=steps,
        subjects=subjects,
        minutes=minutes,
        seed=seed,
    )
    if batch is not None:
        cfg = dataclasses.replace(cfg, batch_size=batch)
    with user_errors():
        res = run_quickstart(cfg, on_step=None if quiet else lambda s: err_console.rule(f"[bold]{s}"))
    if json_out:
        emit_json(res.to_dict())
    if quiet:
        return
    shots = sorted({k for by_k in res.probe.values() for k in by_k})
    t = Table(title="few-shot macro-F1 on held-out subjects (mean over trials)")
    t.add_column("encoder")
    for k in shots:
        t.add_column(f"{k}-shot", justify="right")
    for name, by_k in res.probe.items():
        t.add_row(name, *(f"{by_k.get(k, float('nan')):.3f}" for k in shots))
    err_console.print(t)
    w = Table(title="outputs", show_header=False)
    w.add_row("dataset", str(res.dataset))
    w.add_row("pretrained run", str(res.run))
    w.add_row("probe report", str(res.report))
    w.add_row("ONNX model", f"{res.onnx} (max |onnx - torch| = {res.onnx_max_abs_diff:.1e})")
    w.add_row("time", ", ".join(f"{k} {v:.0f}s" for k, v in res.seconds.items()))
    err_console.print(w)
