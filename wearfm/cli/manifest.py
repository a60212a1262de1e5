"""`wearfm manifest`: merge the manifest parts of a sharded ingest into one manifest, and check them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wearfm.cli._app import JsonOpt, QuietOpt, app, emit_json, err_console, out_console, setup_logging, user_errors

__all__ = ["manifest"]


@app.command()
def manifest(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder written by `wearfm ingest --shard K/N` workers.")],
    force: Annotated[
        bool, typer.Option(help="Write the manifest from the parts present even if shards are missing or incomplete.")
    ] = False,
    quiet: QuietOpt = False,
    json: JsonOpt = False,
) -> None:
    """Merge the per-shard manifests of a dataset into manifest.parquet; report missing shards and duplicates."""
    from wearfm.io.shard import merge_parts

    setup_logging(quiet or json)
    with user_errors():
        report = merge_parts(dataset, force=force)
    d = report.to_dict()
    if json:
        emit_json(d)
    elif not quiet:
        t = Table(title=f"manifest {dataset}", show_header=False, title_justify="left")
        t.add_row("shards", f"{d['parts']} of {d['shards']} parts")
        t.add_row("recordings", str(d["recordings"]))
        t.add_row("manifest.parquet", "written" if d["written"] else "not written")
        out_console.print(t)
    problems = {
        "missing shards": d["missing_shards"],
        "incomplete shards (errors or interrupted)": [s["shard"] for s in d["incomplete_shards"]],
        "recordings listed by two parts": d["duplicate_recordings"],
        "recordings without a manifest row": d["unlisted_recordings"],
        "manifest rows without a file": d["missing_files"],
    }
    for what, items in problems.items():
        if items:
            shown = ", ".join(map(str, items[:10])) + (f" (+{len(items) - 10} more)" if len(items) > 10 else "")
            err_console.print(f"[bold red]error:[/] {dataset}: {what}: {shown}", highlight=False, soft_wrap=True)
    if not report.ok:
        if not report.written:
            err_console.print(
                "manifest.parquet was not written; rerun the missing or failed shards (or pass --force)",
                highlight=False,
            )
        raise typer.Exit(1)
