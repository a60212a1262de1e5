"""Probe reports: Rich tables, ``results.json``, ``results.csv``, the shots plot and confusion matrices.

Files written under the output folder:

- ``results.json``: config, subject split, per encoder the per-trial scores, mean and standard error per
  shot count, the subjects fitted and scored, and the confusion matrix for the largest shot count.
- ``results.csv``: one row per (encoder, k): ``encoder, head, k, trials, <metric>_mean, <metric>_se ...``.
- ``f1_vs_shots.png`` (``r2_vs_shots.png`` for regression): one line per encoder, error bars = s.e.
- ``confusion_k<K>.png``: row-normalised confusion matrix per encoder for the largest shot count.
- ``run.json``: the resolved config and wearfm version.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from wearfm import __version__
from wearfm.config import to_dict

if TYPE_CHECKING:
    from wearfm.probe.fewshot import ProbeResult

__all__ = ["tables", "markdown", "write_report", "slug"]

_TITLES = {"macro_f1": "macro-F1", "balanced_accuracy": "bal. acc.", "accuracy": "accuracy", "mae": "MAE", "r2": "R²"}


def slug(name: str) -> str:
    """A file-name-safe form of an encoder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "encoder"


def _fmt(s: dict[str, float | None]) -> str:
    mean, se = s["mean"], s["se"]
    return f"{mean:.3f}" if se is None else f"{mean:.3f} ± {se:.3f}"


def tables(result: ProbeResult) -> list[Table]:
    """One Rich table per encoder: a row per shot count, ``mean ± s.e.`` per metric."""
    out = []
    for r in result.encoders:
        scored = f", macro-F1 over the {len(r.scored_classes)} of {len(r.classes)} classes in test" if r.classes else ""
        t = Table(title=escape(f"{r.name} [{r.head}] ({r.n_test_windows} test windows{scored})"), title_justify="left")
        t.add_column("k", justify="right")
        for m in result.metrics:
            t.add_column(_TITLES.get(m, m), justify="right")
        for k, s in sorted(r.summary().items()):
            t.add_row(str(k), *(_fmt(s[m]) for m in result.metrics))
        out.append(t)
    return out


def markdown(result: ProbeResult) -> str:
    """The tables as one Markdown table (encoder x k), e.g. for a README."""
    head = "| encoder | k | " + " | ".join(_TITLES.get(m, m) for m in result.metrics) + " |"
    lines = [head, "|" + "---|" * (2 + len(result.metrics))]
    for r in result.encoders:
        for k, s in sorted(r.summary().items()):
            lines.append(f"| {r.name} | {k} | " + " | ".join(_fmt(s[m]) for m in result.metrics) + " |")
    return "\n".join(lines)


def write_report(result: ProbeResult, out: str | Path) -> list[Path]:
    """Write every report file of ``result`` into ``out`` (created); return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [_write_json(out / "results.json", result.to_dict()), _write_csv(out / "results.csv", result)]
    run = {"config": to_dict(result.config), "wearfm_version": __version__, "nonwear_skipped": result.nonwear_skipped}
    files.append(_write_json(out / "run.json", run))
    files.append(_plot_shots(out, result))
    conf = _plot_confusion(out, result)
    if conf is not None:
        files.append(conf)
    return files


def _write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path


def _write_csv(path: Path, result: ProbeResult) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["encoder", "head", "k", "trials", *(f"{m}_{s}" for m in result.metrics for s in ("mean", "se"))])
        for r in result.encoders:
            for k, s in sorted(r.summary().items()):
                vals = [s[m][x] for m in result.metrics for x in ("mean", "se")]
                n = len(r.scores[k][result.metrics[0]])
                w.writerow([r.name, r.head, k, n, *("" if v is None else f"{v:.6g}" for v in vals)])
    return path


def _plot_shots(out: Path, result: ProbeResult) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = "r2" if result.task == "regression" else "macro_f1"
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for r in result.encoders:
        summ = sorted(r.summary().items())
        ks = [k for k, _ in summ]
        means = [float(s[metric]["mean"] or 0.0) for _, s in summ]
        errs = [s[metric]["se"] or 0.0 for _, s in summ]
        ax.errorbar(ks, means, yerr=errs, marker="o", capsize=3, label=r.name)
    ax.set_xscale("log")
    ks_all = sorted(result.config.shots)
    ax.set_xticks(ks_all, [str(k) for k in ks_all])
    ax.set_xlabel("shots per class (k)" if result.task == "classification" else "shots per target bin (k)")
    ax.set_ylabel(_TITLES[metric] + " (mean ± s.e. over trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"{'r2' if metric == 'r2' else 'f1'}_vs_shots.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_confusion(out: Path, result: ProbeResult) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rs = [r for r in result.encoders if r.confusion is not None]
    if not rs:
        return None
    kmax = max(result.config.shots)
    n = len(rs[0].classes)
    size = max(3.5, 0.35 * n + 2)
    fig, axes = plt.subplots(1, len(rs), figsize=(size * len(rs), size), dpi=110, squeeze=False)
    for ax, r in zip(axes[0], rs, strict=True):
        assert r.confusion is not None
        cm = r.confusion.astype(np.float64)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(r.classes)), r.classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(r.classes)), r.classes, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{r.name} (k={kmax})", fontsize=9)
    fig.tight_layout()
    path = out / f"confusion_k{kmax}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
