"""Per-recording quality report of a dataset: wear time, calibration, clipping, gaps and rates, and a plot.

Everything comes from the recording files' ``wearfm.*`` metadata (Parquet footers only, no samples read),
so a report over a cohort of week-long recordings takes seconds.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wearfm.io.manifest import list_recordings
from wearfm.io.schema import read_metadata

__all__ = ["RecordingQC", "dataset_qc", "plot_qc"]

log = logging.getLogger(__name__)


@dataclass
class RecordingQC:
    """Quality of one recording file; hours are None where ingest did not check (no ``--nonwear``)."""

    path: str
    subject: str
    device: str
    start_ns: int
    days: float
    wear_hours: float | None
    nonwear_hours: float | None
    nonwear_dropped_hours: float | None  # --nonwear drop: non-wear removed from the recording this came from
    calibration_applied: bool | None  # None: not calibrated (no --calibrate)
    calibration_error_before_mg: float | None
    calibration_error_after_mg: float | None
    calibration_reason: str | None
    clipped_samples: int | None  # None: not counted (no signal pass, or device range unknown)
    gaps: int  # gaps that split this recording's source into several files
    rate_measured_hz: float
    rate_nominal_hz: float | None
    nonwear_spans_ns: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (one element of ``recordings`` in ``wearfm qc --json``)."""
        return asdict(self)


def _mg(v: Any) -> float | None:
    return None if v is None else round(float(v) * 1000, 2)


def dataset_qc(dataset: str | Path) -> dict[str, Any]:
    """The quality report of a dataset folder (or one recording file).

    Returns:
        ``{"dataset", "recordings": [RecordingQC dicts], "summary": {...}}``; ``summary`` has the number of
        recordings and subjects, days, wear and non-wear hours (over the recordings checked), how many were
        calibrated, refused calibration, have clipped samples, and the gaps.

    Examples:
        >>> dataset_qc("data/study")["summary"]["wear_hours"]  # doctest: +SKIP
        1012.5
    """
    root, entries = list_recordings(dataset)
    metas = [read_metadata(root / e.path) for e in entries]
    segments: dict[str, set[Any]] = {}  # the gap-free segments each source was split into
    for e, meta in zip(entries, metas, strict=True):
        segments.setdefault(e.source_file, set()).add(meta.get("segment"))
    rows: list[RecordingQC] = []
    dropped_by_parent: dict[tuple[str, str], float] = {}
    for e, meta in zip(entries, metas, strict=True):
        cal = meta.get("calibration") or None
        nw = meta.get("nonwear") or None
        clip = meta.get("clipping") or None
        dropped = nw.get("dropped_s") if nw else None
        if nw and dropped is not None:
            dropped_by_parent[(e.source_file, str(nw.get("part_of")))] = float(dropped)
        rows.append(
            RecordingQC(
                path=e.path,
                subject=e.subject,
                device=e.device,
                start_ns=e.start_ns,
                days=round(e.duration_s / 86400, 3),
                wear_hours=None if nw is None else round(float(nw["wear_s"]) / 3600, 3),
                nonwear_hours=None if nw is None else round(float(nw["nonwear_s"]) / 3600, 3),
                nonwear_dropped_hours=None if dropped is None else round(float(dropped) / 3600, 3),
                calibration_applied=None if cal is None else bool(cal.get("applied")),
                calibration_error_before_mg=None if cal is None else _mg(cal.get("error_before_g")),
                calibration_error_after_mg=None if cal is None else _mg(cal.get("error_after_g")),
                calibration_reason=None if cal is None else cal.get("reason"),
                clipped_samples=None if clip is None else clip.get("samples"),
                gaps=len(segments[e.source_file]) - 1,
                rate_measured_hz=float(meta.get("sample_rate_measured_hz") or e.sample_rate_hz),
                rate_nominal_hz=meta.get("sample_rate_nominal_hz"),
                nonwear_spans_ns=list(nw.get("spans_ns") or []) if nw else [],
            )
        )
    checked = [r for r in rows if r.wear_hours is not None]
    calibrated = [r for r in rows if r.calibration_applied is not None]
    summary = {
        "recordings": len(rows),
        "subjects": len({r.subject for r in rows}),
        "days": round(sum(r.days for r in rows), 3),
        "nonwear_checked": len(checked),
        "wear_hours": round(sum(r.wear_hours or 0.0 for r in checked), 3) if checked else None,
        "nonwear_hours": round(sum(r.nonwear_hours or 0.0 for r in checked) + sum(dropped_by_parent.values()) / 3600, 3)
        if checked
        else None,
        "calibrated": sum(bool(r.calibration_applied) for r in calibrated),
        "calibration_refused": sum(not r.calibration_applied for r in calibrated),
        "with_clipping": sum(bool(r.clipped_samples) for r in rows),
        "gaps": sum(len(v) - 1 for v in segments.values()),
    }
    return {"dataset": str(dataset), "recordings": [r.to_dict() for r in rows], "summary": summary}


def plot_qc(report: dict[str, Any], out: str | Path) -> Path:
    """Write a PNG with one row per recording: worn (green), non-wear (red) and unchecked (grey) over days.

    Examples:
        >>> plot_qc(dataset_qc("data/study"), "qc.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    recs = report["recordings"]
    n = max(len(recs), 1)
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.35 * n))
    for i, r in enumerate(recs):
        y = n - 1 - i
        total = r["days"]
        checked = r["wear_hours"] is not None
        ax.broken_barh([(0.0, total)], (y - 0.35, 0.7), color="#2e9e4f" if checked else "#b0b0b0")
        for s, e in r["nonwear_spans_ns"]:
            a = (s - r["start_ns"]) / 86400e9
            ax.broken_barh([(a, (e - s) / 86400e9)], (y - 0.35, 0.7), color="#d62728")
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"{r['subject']} {Path(r['path']).name}"[:40] for r in reversed(recs)] or [""], fontsize=7)
    ax.set_xlabel("days from the start of each recording")
    ax.set_title(f"wear / non-wear: {report['dataset']}", loc="left", fontsize=9)
    ax.legend(
        handles=[
            Patch(color="#2e9e4f", label="worn"),
            Patch(color="#d62728", label="non-wear"),
            Patch(color="#b0b0b0", label="not checked"),
        ],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=3,
        frameon=False,
        fontsize=7,
    )
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
