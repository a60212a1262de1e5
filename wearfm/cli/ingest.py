"""`wearfm ingest` (raw files -> canonical Parquet dataset) and `wearfm info` (what a dataset holds)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    user_errors,
)
from wearfm.config import IngestConfig
from wearfm.errors import UnsupportedFormatError

__all__ = ["ingest", "info"]

Format = Literal[
    "auto", "csv", "actilife-csv", "geneactiv-csv", "omgui-csv", "wisdm", "sp-sw-har", "cwa", "gt3x", "geneactiv"
]


def _cols(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(c.strip() for c in value.split(",") if c.strip())


@app.command()
def ingest(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders or quoted glob patterns ('raw/**/*.csv').")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to write (created).")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Input format; auto sniffs content.")] = "auto",
    acc_cols: Annotated[str | None, typer.Option(help="Acceleration columns X,Y,Z (names or 0-based indices).")] = None,
    gyr_cols: Annotated[str | None, typer.Option(help="Gyroscope columns X,Y,Z.")] = None,
    time_col: Annotated[str | None, typer.Option(help="Time column (default: detect time/timestamp).")] = None,
    time_unit: Annotated[
        Literal["auto", "s", "ms", "us", "ns", "iso"] | None, typer.Option(help="Unit of the time column.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Sample rate (Hz) of a file without a time column.")] = None,
    start_time: Annotated[str | None, typer.Option(help="ISO start time with --rate.")] = None,
    time_reference: Annotated[
        Literal["utc", "local", "device-uptime"] | None, typer.Option(help="What the time column counts from.")
    ] = None,
    acc_unit: Annotated[
        Literal["auto", "g", "m/s2"] | None, typer.Option(help="Acceleration unit (auto: from gravity).")
    ] = None,
    gyr_unit: Annotated[Literal["rad/s", "deg/s"] | None, typer.Option(help="Gyroscope unit of the input.")] = None,
    delimiter: Annotated[str | None, typer.Option(help="auto, ',', tab, ';' or whitespace.")] = None,
    header: Annotated[Literal["auto", "yes", "no"] | None, typer.Option(help="Whether line 1 is a header.")] = None,
    skip_rows: Annotated[
        int | None, typer.Option(help="Preamble lines before the header or data (0: detect a preamble).")
    ] = None,
    label_col: Annotated[str | None, typer.Option(help="Label column (default: 'label' if present).")] = None,
    annotations: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="CSV of labelled segments.")
    ] = None,
    annotation_units: Annotated[Literal["time", "samples"] | None, typer.Option(help="Units of start/end.")] = None,
    subject_from: Annotated[str | None, typer.Option(help="path:N | name:REGEX | column:NAME | value:ID.")] = None,
    session_from: Annotated[str | None, typer.Option(help="Same syntax as --subject-from.")] = None,
    device: Annotated[str | None, typer.Option(help="Device name to record.")] = None,
    placement: Annotated[str | None, typer.Option(help="Body location, e.g. wrist.")] = None,
    resample: Annotated[float | None, typer.Option(help="Resample to this rate (Hz), anti-aliased.")] = None,
    max_gap: Annotated[float | None, typer.Option(help="Gaps longer than this (s) split a recording.")] = None,
    merge_tolerance: Annotated[float | None, typer.Option(help="Sensor merge tolerance (s).")] = None,
    unsorted: Annotated[Literal["sort", "reject"] | None, typer.Option(help="Non-monotonic timestamps.")] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Parallel jobs (threads for small files, processes for large).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Rewrite outputs that are up to date.")] = False,
    concat: Annotated[
        bool, typer.Option(help="Join files of one subject/device/session, in start-time order, into one recording.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="K/N: ingest only worker K's share of N (then `wearfm manifest OUT` merges the parts)."),
    ] = None,
    on_error: Annotated[Literal["stop", "skip"] | None, typer.Option(help="stop, or skip bad files (exit 0).")] = None,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Gravity autocalibration (van Hees 2014) of each recording.")
    ] = False,
    nonwear: Annotated[
        Literal["keep", "mark", "drop"] | None,
        typer.Option(help="Non-wear: keep (no check), mark (a nonwear column), drop (split recordings there)."),
    ] = None,
    quiet: QuietOpt = False,
    json: JsonOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Convert raw IMU files (CSV/TSV, WISDM, SP-SW-HAR, device files) into a canonical Parquet dataset."""
    from wearfm.io.ingest import ingest as run_ingest

    setup_logging(quiet or json)
    with _sigterm_exits_143(), user_errors():
        cfg = build_config(
            IngestConfig,
            config,
            set_,
            format=None if format == "auto" else format,
            acc_cols=_cols(acc_cols),
            gyr_cols=_cols(gyr_cols),
            time_col=time_col,
            time_unit=time_unit,
            rate_hz=rate,
            start_time=start_time,
            time_reference=time_reference,
            acc_unit=acc_unit,
            gyr_unit=gyr_unit,
            delimiter=delimiter,
            header=header,
            label_col=label_col,
            skip_rows=skip_rows,
            annotations=None if annotations is None else str(annotations),
            annotation_units=annotation_units,
            subject_from=subject_from,
            session_from=session_from,
            device=device,
            placement=placement,
            resample_hz=resample,
            max_gap_s=max_gap,
            merge_tolerance_s=merge_tolerance,
            unsorted=unsorted,
            jobs=jobs,
            overwrite=overwrite or None,
            concat=concat or None,
            shard=shard,
            on_error=on_error,
            calibrate=calibrate or None,
            nonwear=nonwear,
        )
        show = not (quiet or json)
        with Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            disable=not show,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, source: str) -> None:
                bar.update(task, completed=done, total=total, description=Path(source).name if source else "")

            summary = run_ingest(list(inputs), out, cfg, progress=progress)
    if json:
        emit_json(summary.to_dict())
    elif not quiet:
        _print_summary(summary.to_dict())
    if summary.errors and not summary.recordings:  # --on-error skip, and every source failed
        err_console.print("[bold red]error:[/] no input could be read; see the errors above", highlight=False)
        raise typer.Exit(1)


@contextmanager
def _sigterm_exits_143() -> Iterator[None]:
    """SIGTERM ends ingest as Ctrl-C does (temporary files removed, the manifest lists what was finished): exit 143."""
    from wearfm.io.ingest import Terminated, sigterm_raises

    try:
        with sigterm_raises():
            yield
    except Terminated:
        err_console.print("[bold red]terminated[/]")
        raise typer.Exit(143) from None


def _print_summary(s: dict[str, Any]) -> None:
    t = Table(title=f"ingest -> {s['out']}", show_header=False, title_justify="left")
    t.add_row("files", f"{s['files']} ({s['converted']} converted, {s['skipped']} up to date, {s['ignored']} ignored)")
    t.add_row("recordings", str(s["recordings"]))
    t.add_row("subjects", _subjects_line(s["subjects"], s["subject_source"]))
    t.add_row("rows", f"{s['rows']:,}")
    t.add_row("hours", f"{s['hours']:.2f}")
    t.add_row("dropped", ", ".join(f"{k}: {v:,}" for k, v in s["dropped"].items()) or "none")
    t.add_row("time", f"{s['seconds']:.1f} s")
    if s["errors"]:
        t.add_row("failed", f"{len(s['errors'])} file(s), skipped (--on-error skip)")
    out_console.print(t)
    for e in s["errors"]:
        err_console.print(f"[bold red]error:[/] {e['error']}", highlight=False, soft_wrap=True)


def _subjects_line(n: int, sources: dict[str, int]) -> str:
    """``3 (from file name minus day/part suffix: 4 recordings)``: how many subjects, and how they were assigned."""
    how = "; ".join(f"{k}: {v} recording{'s' if v != 1 else ''}" for k, v in sources.items())
    return f"{n} (from {how})" if how else str(n)


@app.command()
def info(
    path: Annotated[Path, typer.Argument(exists=True, help="A dataset folder, a recording file or an .onnx model.")],
    json: JsonOpt = False,
) -> None:
    """Show what a dataset or recording holds (recordings, subjects, hours, rates, labels) or an ONNX model."""
    setup_logging(quiet=True)
    with user_errors():
        if path.suffix.lower() == ".onnx":
            d = _describe_onnx(path)
        else:
            from wearfm.io.summary import describe_dataset

            d = describe_dataset(path)
    if json:
        emit_json(d)
        return
    if path.suffix.lower() == ".onnx":
        t = Table(title=str(path), show_header=False, title_justify="left")
        for k, v in d.items():
            t.add_row(str(k), str(v))
        out_console.print(t)
        return
    _print_dataset(d)


def _describe_onnx(path: Path) -> dict[str, Any]:
    try:  # the light module first: describing a model needs onnx, not torch
        from wearfm.export.meta import describe_onnx
    except ImportError:
        try:
            from wearfm.export.onnx import describe_onnx
        except ImportError:
            raise UnsupportedFormatError(f"{path}: describing ONNX models needs wearfm.export and onnx") from None
    return dict(describe_onnx(path))


def _print_dataset(d: dict[str, Any]) -> None:
    t = Table(title=f"dataset {d['path']}", show_header=False, title_justify="left")
    t.add_row("recordings", str(d["recordings"]))
    t.add_row("subjects", _subjects_line(d["subjects"], d.get("subject_source", {})))
    t.add_row("devices", ", ".join(f"{k} ({v})" for k, v in d["devices"].items()))
    t.add_row("hours", f"{d['hours']:.2f}")
    t.add_row("samples", f"{d['samples']:,}")
    r = d["rate_hz"]
    t.add_row("rate (Hz)", f"median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f})")
    t.add_row("channels", "; ".join(f"{k} ({v})" for k, v in d["channels"].items()))
    t.add_row("labelled", f"{d['labelled_samples']:,} samples")
    out_console.print(t)
    if d["labels"]:
        lt = Table(title="labels", title_justify="left")
        lt.add_column("label")
        lt.add_column("samples", justify="right")
        for k, v in d["labels"].items():
            lt.add_row(k, f"{v:,}")
        out_console.print(lt)
