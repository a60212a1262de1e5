"""`wearfm classify fit|predict|summary`: a few-shot activity classifier, applied to whole recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from wearfm.cli._app import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SetOpt,
    app,
    build_config,
    emit_json,
    out_console,
    setup_logging,
    timed,
    user_errors,
)

__all__ = ["classify_app"]

classify_app = typer.Typer(
    help="Fit a few-shot activity classifier, predict a timeline for every recording, summarise time per day.",
    no_args_is_help=True,
)
app.add_typer(classify_app, name="classify")

SubjectsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated subjects to use (default: every subject of the data).")
]


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [s.strip() for s in value.split(",") if s.strip()]


@classify_app.command("fit")
def fit_command(
    data: Annotated[Path, typer.Argument(help="Labelled dataset folder (from `wearfm ingest`).", exists=True)],
    encoder: Annotated[
        str,
        typer.Option("--encoder", "-e", help="Run folder, encoder.pt, model.onnx, 'features' or 'random:<name>'."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Classifier folder to write.")],
    shots: Annotated[
        int | None, typer.Option(help="Labelled windows per class, drawn with --seed (default: every one).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the shot draw and the head's inner CV.")] = None,
    subjects: SubjectsOpt = None,
    stride: Annotated[
        str | None,
        typer.Option(help="Step between window starts, as --window elsewhere: '0.25', '250ms' (default: the window)."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Baselines: sample rate in Hz (default 30).")] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Window: seconds ('10', '10s', '500ms') (default: the encoder's; baselines 10 s)."),
    ] = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fit the probe's logistic-regression head on labelled windows and keep it with the encoder."""
    from wearfm.classify.fit import fit
    from wearfm.config import ClassifyConfig

    setup_logging(quiet or json_)
    with user_errors():
        cfg = build_config(
            ClassifyConfig,
            config,
            set_,
            data=str(data),
            encoder=encoder,
            out=str(out),
            shots=shots,
            seed=seed,
            subjects=_csv(subjects),
            stride_s=_seconds(stride, "--stride"),
            rate_hz=rate,
            window_s=_seconds(window, "--window"),
            device=device,
        )
        with timed("classify fit"):
            res = fit(cfg)
    if json_:
        emit_json(res)
        return
    if quiet:
        return
    t = Table(title=f"classifier {res['out']}", title_justify="left")
    t.add_column("class")
    t.add_column("windows fitted", justify="right")
    for c, n in res["windows_per_class"].items():
        t.add_row(c, str(n))
    out_console.print(t)
    cv = res["cv"]
    cv_line = f"{cv['macro_f1']:.3f} ({cv['folds']} subject folds)" if cv["macro_f1"] is not None else cv["reason"]
    out_console.print(f"C = {res['c']:g}; cross-validated macro-F1: {cv_line}; HMM transitions: {res['transitions']}")


@classify_app.command("predict")
def predict_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder or recording file (from `wearfm ingest`).", exists=True)],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Classifier folder of `wearfm classify fit`.", exists=True)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet timeline to write (one row per window).")],
    smooth: Annotated[
        str | None, typer.Option(help="Temporal smoothing: none, hmm, or median:K (K odd windows, e.g. median:5).")
    ] = None,
    stride: Annotated[
        str | None,
        typer.Option(help="Step between window starts, as --window elsewhere: '0.25', '250ms' (default: the window)."),
    ] = None,
    subjects: SubjectsOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse data at another sample rate instead of resampling it.")
    ] = False,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Classify every window of every recording; windows in non-wear are marked, not guessed."""
    from wearfm.classify.predict import predict
    from wearfm.config import ClassifyConfig

    setup_logging(quiet or json_)
    with user_errors():
        cfg = build_config(
            ClassifyConfig,
            config,
            set_,
            data=str(data),
            model=str(model),
            out=str(out),
            smooth=smooth,
            stride_s=_seconds(stride, "--stride"),
            subjects=_csv(subjects),
            strict=True if strict else None,
            device=device,
        )
        with timed("classify predict"):
            res = predict(cfg)
    if json_:
        emit_json(res)
        return
    if quiet:
        return
    t = Table(title=f"timeline {res['out']} ({res['windows']} windows, {res['recordings']} recordings)")
    t.add_column("predicted")
    t.add_column("windows", justify="right")
    for c, n in res["predicted"].items():
        t.add_row(c, str(n))
    out_console.print(t)
    if "macro_f1" in res:
        out_console.print(
            f"labelled windows: {res['labelled_windows']}; macro-F1 {res['macro_f1']:.3f} "
            f"(smooth {res['smooth']}; {res['macro_f1_raw']:.3f} unsmoothed)"
        )


@classify_app.command("summary")
def summary_command(
    timeline: Annotated[Path, typer.Argument(help="Timeline of `wearfm classify predict`.", exists=True)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Daily table to write (.csv or .parquet).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Stacked-bar plot of hours per class per day (.png).")] = None,
    min_wear_hours: Annotated[float | None, typer.Option(help="Wear hours that make a day valid (default 16).")] = None,
    format_: Annotated[
        Literal["auto", "csv", "parquet"] | None, typer.Option("--format", help="Table format (auto: by suffix).")
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Minutes per class per subject per calendar day, with wear time and a valid-day flag."""
    from wearfm.classify.summary import summarize
    from wearfm.config import ClassifyConfig

    setup_logging(quiet or json_)
    with user_errors():
        cfg = build_config(
            ClassifyConfig,
            None,
            None,
            out=None if out is None else str(out),
            min_wear_hours=min_wear_hours,
            format=format_,
        )
        res = summarize(timeline, cfg, plot)
    if json_:
        emit_json(res)
        return
    if quiet:
        return
    t = Table(title=f"minutes per day ({res['valid_days']} valid of {len(res['days'])})", title_justify="left")
    cols = ["subject", "date", "wear_min", "valid", *[f"{c}_min" for c in res["classes"]]]
    for c in cols:
        t.add_column(c, justify="left" if c in ("subject", "date") else "right")
    for r in res["days"]:
        t.add_row(*[f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]) for c in cols])
    out_console.print(t)


def _seconds(spec: str | None, option: str) -> float | None:
    """A duration option in seconds (``wearfm.config.parse_duration``); samples need the encoder's rate."""
    from wearfm.config import parse_duration

    return None if spec is None else parse_duration(spec, None, option=option)
