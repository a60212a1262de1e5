"""`wearfm export` (saved encoder -> checked ONNX file) and `wearfm embed` (dataset -> window embeddings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from wearfm.cli._app import (
    ConfigOpt,
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

__all__ = ["export_command", "embed_command"]


@app.command("export")
def export_command(
    run: Annotated[
        Path,
        typer.Argument(
            help="Run folder of `wearfm pretrain` (or an encoder.pt), or a classifier folder of `wearfm classify fit`.",
            exists=True,
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The .onnx file to write.")] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (default 18).")] = None,
    quantize: Annotated[Literal["none", "int8"] | None, typer.Option(help="Write an int8 model too.")] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Dataset whose windows calibrate static int8 and join the check.", exists=True),
    ] = None,
    exporter: Annotated[
        Literal["auto", "dynamo", "torchscript"] | None, typer.Option(help="ONNX exporter (auto: per architecture).")
    ] = None,
    check: Annotated[
        bool | None, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch (default: on).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a trained encoder (or a classifier: encoder + head) to a self-describing ONNX file, checked."""
    from wearfm.config import ExportConfig
    from wearfm.export.run import export

    setup_logging(quiet or json_)
    with user_errors():
        cfg = build_config(
            ExportConfig,
            config,
            set_,
            model=str(run),
            out=None if out is None else str(out),
            opset=opset,
            quantize=quantize,
            calibration=None if calibration is None else str(calibration),
            exporter=exporter,
            check=check,
        )
        with timed("export"):
            res = export(cfg)
    if json_:
        emit_json(res)
        return
    if quiet:
        return
    if res.get("kind") == "classifier":
        _print_classifier(res)
        return
    t = Table(title=f"exported {res['path']}", show_header=False, title_justify="left")
    t.add_row("encoder", f"{res['encoder']} ({res['method']})")
    t.add_row("exporter / opset", f"{res['exporter']} / {res['opset']}")
    t.add_row("dynamic axes", ", ".join(f"{k}: {v}" for k, v in res["dynamic_axes"].items()))
    t.add_row("size", f"{res['size_bytes'] / 1e6:.2f} MB")
    if res["checks"]:
        t.add_row("max |onnx - torch|", f"{res['max_abs_diff']:.2e} over {len(res['checks'])} checks (batch 1, 7, 64)")
    if res["quantization"] != "none":
        t.add_row(
            "quantization",
            f"{res['quantization']} (fp32 {res['fp32_size_bytes'] / 1e6:.2f} MB kept at "
            f"{res['fp32_path']}; mean cosine int8 vs fp32 {res['int8_mean_cosine']:.4f})",
        )
    out_console.print(t)


def _print_classifier(res: dict[str, Any]) -> None:
    t = Table(title=f"exported classifier {res['path']}", show_header=False, title_justify="left")
    t.add_row("classes", ", ".join(res["classes"]))
    t.add_row("outputs", "embedding (batch, D), probabilities (batch, classes)")
    t.add_row("size", f"{res['size_bytes'] / 1e6:.2f} MB")
    for c in res["checks"]:
        t.add_row(
            f"onnx vs python ({c['inputs']})",
            f"max |dp| {c['max_abs_diff']:.2e}, same class {c['argmax_agreement']:.2%} of {c['windows']} windows",
        )
    if res["quantization"] != "none":
        t.add_row(
            "quantization",
            f"{res['quantization']}: same class as fp32 on {res['int8_argmax_agreement']:.2%} (fp32 kept at "
            f"{res['fp32_path']})",
        )
    out_console.print(t)


@app.command("embed")
def embed_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder or recording file (from `wearfm ingest`).", exists=True)],
    model: Annotated[Path, typer.Option("--model", "-m", help="An exported .onnx file or a run folder.", exists=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file of window embeddings to write.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse data at another sample rate instead of resampling it.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 256,
    stride: Annotated[
        str | None,
        typer.Option(help="Step between window starts: seconds ('2.5', '2.5s', '500ms') (default: the window)."),
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Embed every window of a dataset with an exported or trained encoder; writes Parquet."""
    from wearfm.config import parse_duration
    from wearfm.export.embed import embed

    setup_logging(quiet or json_)
    with user_errors():
        with timed("embed"):
            stride_s = None if stride is None else parse_duration(stride, option="--stride")
            res = embed(data, model, out, strict=strict, batch_size=batch_size, stride_s=stride_s)
    if json_:
        emit_json(res)
    elif not quiet:
        err_console.print(
            f"[green]wrote[/] {res['windows']} embeddings ({res['embed_dim']}-d, {res['window_samples']} samples at "
            f"{res['rate_hz']:g} Hz) to {res['out']}",
            highlight=False,
        )
