"""`wearfm probe`: few-shot evaluation of encoders, split by subject."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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
    out_console,
    setup_logging,
    timed,
    user_errors,
)

__all__ = ["probe_command"]


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [s.strip() for s in value.split(",") if s.strip()]


def _shots(value: str | None) -> list[int] | None:
    """``--shots 1,5,10`` as integers; anything else is refused with an example of a valid value."""
    from wearfm.errors import ConfigError

    items = _csv(value)
    if items is None:
        return None
    try:
        shots = [int(s) for s in items]
    except ValueError:
        shots = []
    if not shots or any(k < 1 for k in shots):
        raise ConfigError(
            f"--shots {value!r}: give shot counts per class as positive whole numbers separated by commas, "
            "e.g. --shots 1,5,10"
        )
    return shots


@app.command("probe")
def probe_command(
    data: Annotated[Path, typer.Argument(help="Labelled dataset folder (from `wearfm ingest`).", exists=True)],
    encoder: Annotated[
        list[str],
        typer.Option(
            "--encoder",
            "-e",
            help="Run folder, encoder.pt, model.onnx, 'features', 'random:<name>' or 'supervised:<name>'; repeat.",
        ),
    ],
    shots: Annotated[str | None, typer.Option(help="Shot counts per class, comma-separated (e.g. 1,5,10).")] = None,
    trials: Annotated[int | None, typer.Option(help="Random draws of shots per shot count.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder.")] = None,
    head: Annotated[
        Literal["logreg", "logreg-sklearn", "knn", "mlp", "ridge"] | None,
        typer.Option(help="Probe head on frozen embeddings (logreg-sklearn: scikit-learn's, one fit at a time)."),
    ] = None,
    finetune: Annotated[
        bool, typer.Option("--finetune", help="Also train each torch encoder end to end with a linear head.")
    ] = False,
    test_subjects: Annotated[
        str | None, typer.Option(help="Comma-separated test subjects (default: a seeded --test-fraction).")
    ] = None,
    test_fraction: Annotated[float | None, typer.Option(help="Share of subjects held out for testing.")] = None,
    few_classes: Annotated[
        Literal["use-available", "stop"] | None,
        typer.Option(help="A class with fewer train windows than k: use what exists (warn) or stop."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Baselines: sample rate in Hz (default: first encoder's).")] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Window for every encoder, learned ones at their own rate: seconds ('10', '10s', '2.56s', "
            "'500ms'; samples '256samples' with --rate) (default: each learned encoder's own; baselines: the "
            "first learned encoder's, else 10 s)."
        ),
    ] = None,
    stride: Annotated[
        str | None, typer.Option(help="Step between window starts, as --window (default: the window, no overlap).")
    ] = None,
    label_purity: Annotated[
        float | None,
        typer.Option(help="Share of a window one label must cover for the window to be labelled (default: 1, all)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the subject split and shot draws.")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="CPU cores for fitting heads: logreg's solver threads, logreg-sklearn's CV processes (-1: all).",
        ),
    ] = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Few-shot probe of encoders on held-out subjects; writes tables, results and plots."""
    from wearfm.config import ProbeConfig, parse_duration

    setup_logging(quiet or json_)
    with user_errors():
        cfg = build_config(
            ProbeConfig,
            config,
            set_,
            data=str(data),
            encoders=encoder,
            shots=_shots(shots),
            trials=trials,
            out=None if out is None else str(out),
            head=head,
            finetune=True if finetune else None,
            test_subjects=_csv(test_subjects),
            test_fraction=test_fraction,
            few_classes=few_classes,
            rate_hz=rate,
            window_s=None if window is None else parse_duration(window, rate, option="--window"),
            stride_s=None if stride is None else parse_duration(stride, rate, option="--stride"),
            label_purity=label_purity,
            seed=seed,
            jobs=jobs,
            device=device,
        )
        from wearfm.probe import probe

        with timed("probe"):
            result = probe(cfg)
    if json_:
        d = result.to_dict()
        emit_json(
            {
                "out": cfg.out,
                "files": [str(f) for f in result.files],
                "split": d["split"],
                "encoders": [
                    {k: e[k] for k in ("name", "head", "n_test_windows", "embed_seconds", "fit_seconds", "results")}
                    for e in d["encoders"]
                ],
            }
        )
        return
    if not quiet:
        from wearfm.probe.report import tables

        for t in tables(result):
            out_console.print(t)
        for e in result.encoders:
            err_console.print(f"{e.name} ({e.head}): embedding {e.embed_seconds:.1f} s, fitting {e.fit_seconds:.1f} s")
        out_console.print(f"test subjects: {', '.join(result.test_subjects)}; reports in {cfg.out}")
