"""`wearfm qc`: a per-recording quality table of a dataset (wear, calibration, clipping, gaps, rates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from wearfm.cli._app import JsonOpt, QuietOpt, app, emit_json, err_console, out_console, setup_logging, user_errors

__all__ = ["qc"]


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


@app.command()
def qc(
    dataset: Annotated[Path, typer.Argument(exists=True, help="A dataset folder or a recording file.")],
    plot: Annotated[Path | None, typer.Option(help="Also write a PNG of wear / non-wear per recording.")] = None,
    quiet: QuietOpt = False,
    json: JsonOpt = False,
) -> None:
    """Quality table per recording: days, wear and non-wear hours, calibration error, clipping, gaps, rates."""
    from wearfm.qc import dataset_qc, plot_qc

    setup_logging(quiet or json)
    with user_errors():
        report = dataset_qc(dataset)
        if plot is not None:
            report["plot"] = str(plot_qc(report, plot))
    if json:
        emit_json(report)
        return
    if quiet:
        return
    t = Table(title=f"qc {dataset}", title_justify="left")
    width = max((len(r["path"]) for r in report["recordings"]), default=9)
    t.add_column("recording", no_wrap=True, min_width=min(width, 60))
    for col, just in [
        ("subject", "left"),
        ("device", "left"),
        ("days", "right"),
        ("wear h", "right"),
        ("non-wear h", "right"),
        ("calibration error mg", "right"),
        ("clipped", "right"),
        ("gaps", "right"),
        ("rate Hz (nominal)", "right"),
    ]:
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in report["recordings"]:
        if r["calibration_applied"] is None:
            cal = "-"
        elif r["calibration_applied"]:
            cal = f"{r['calibration_error_before_mg']:.1f} -> {r['calibration_error_after_mg']:.1f}"
        else:
            cal = f"{_f(r['calibration_error_before_mg'])} (not applied)"
        nonwear = _f(r["nonwear_hours"])
        if r["nonwear_dropped_hours"] is not None:
            nonwear = f"{r['nonwear_dropped_hours']:.1f} dropped"
        t.add_row(
            r["path"],
            r["subject"],
            r["device"],
            f"{r['days']:.2f}",
            _f(r["wear_hours"]),
            nonwear,
            cal,
            _f(r["clipped_samples"], "{:,}"),
            str(r["gaps"]),
            f"{r['rate_measured_hz']:.2f} ({_f(r['rate_nominal_hz'], '{:g}')})",
        )
    out_console.print(t)
    s = report["summary"]
    out_console.print(
        f"{s['recordings']} recordings, {s['subjects']} subjects, {s['days']:.2f} days; "
        f"wear {_f(s['wear_hours'])} h, non-wear {_f(s['nonwear_hours'])} h "
        f"({s['nonwear_checked']} checked); calibrated {s['calibrated']}, refused {s['calibration_refused']}; "
        f"{s['with_clipping']} with clipping; {s['gaps']} gaps",
        highlight=False,
    )
    for r in report["recordings"]:
        if r["calibration_reason"]:
            err_console.print(f"{r['path']}: calibration not applied: {r['calibration_reason']}", highlight=False)
    if plot is not None:
        err_console.print(f"plot: {report['plot']}")
