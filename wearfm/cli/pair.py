"""`wearfm pair`: attach text narrations and video (or other) embeddings to a canonical dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wearfm.cli._app import JsonOpt, QuietOpt, app, emit_json, err_console, setup_logging, timed, user_errors

__all__ = ["pair_cmd"]


@app.command("pair")
def pair_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset folder written by `wearfm ingest`.", exists=True)],
    out: Annotated[Path, typer.Option("--out", help="Paired dataset folder to write.")],
    text: Annotated[
        Path | None,
        typer.Option("--text", help="Narrations CSV: recording (or subject), start, end, text.", exists=True),
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option("--video", help="Embeddings Parquet: recording (or subject), start, end, vector.", exists=True),
    ] = None,
    text_embeddings: Annotated[
        Path | None,
        typer.Option(
            "--text-embeddings",
            help="Parquet of precomputed text vectors (text, vector); no text model needed.",
            exists=True,
        ),
    ] = None,
    time_unit: Annotated[str, typer.Option("--time-unit", help="Unit of numeric start/end: s | ms | us | ns.")] = "s",
    relative: Annotated[
        bool, typer.Option("--relative", help="Numeric times count from each recording's first sample.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Text-embedding cache (default ~/.cache/wearfm/text).")
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Pair a dataset with text narrations and/or video embeddings, for primus, imu2clip and imu-video."""
    setup_logging(quiet)
    with user_errors():
        from wearfm.data.paired import pair_dataset

        with timed("pair"):
            summary = pair_dataset(
                data, out, text=text, video=video, text_embeddings=text_embeddings, time_unit=time_unit,
                relative=relative, overwrite=overwrite, cache_dir=cache_dir,
            )  # fmt: skip
    if json_:
        emit_json(summary)
    if not quiet:
        parts = [
            f"{m}: {summary[m]['rows']} spans, {summary[m]['dim']}-d ({summary[m]['source']})"
            for m in ("text", "video")
            if m in summary
        ]
        err_console.print(
            f"[green]paired[/] {summary['recordings']} recordings; {'; '.join(parts)} -> {summary['out']}",
            highlight=False,
        )
