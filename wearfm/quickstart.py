"""The one-command main job: simulate (or take) raw recordings, ingest, pretrain, probe, export.

Every step calls the same library function its own command calls, so the quickstart is also a worked example
of the Python API. On 2 CPU cores the default run takes a few minutes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wearfm.config import IngestConfig, PretrainConfig, ProbeConfig, load_config
from wearfm.errors import DataError
from wearfm.io.manifest import MANIFEST_NAME, read_manifest
from wearfm.simulate import SimulationConfig, write_simulated_dataset

__all__ = ["QuickstartConfig", "QuickstartResult", "quickstart", "recommended_recipe", "RECIPES_DIR"]

#: Pretraining recipes (``wearfm pretrain --config recipes/NAME.toml``); the first by name is the recommended one.
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recommended_recipe(folder: Path = RECIPES_DIR) -> str | None:
    """The recommended pretraining recipe: the first ``*.toml`` of ``folder`` by name (None if there is none).

    Examples:
        >>> recommended_recipe()  # doctest: +SKIP
        '.../recipes/01-simclr-small-wrist.toml'
    """
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    return str(files[0]) if files else None


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuickstartConfig:
    """Settings of `wearfm quickstart` (sized for a few minutes on 2 CPU cores).

    Attributes:
        out: folder for everything the run writes.
        data: raw files or a canonical dataset of the user's; None simulates a study.
        subjects / minutes: size of the simulated study.
        recipe: a pretraining recipe (TOML, as ``wearfm pretrain --config``); None: the recommended one,
            :func:`recommended_recipe` (the first file of ``recipes/`` by name), else the method's defaults.
        method / encoder: what to pretrain (None: the recipe's).
        rate_hz / window_s / channels: the model's input (None: the recipe's).
        max_steps / batch_size: length of the pretraining.
        shots / trials: the few-shot probe.
        seed: one seed for simulation, training and probing.
    """

    out: str = "wearfm-quickstart"
    data: str | None = None
    subjects: int = 10
    minutes: float = 8.0
    recipe: str | None = None
    method: str | None = None
    encoder: str | None = None
    rate_hz: float | None = None
    window_s: float | None = None
    channels: str | None = None
    max_steps: int = 100
    batch_size: int = 32
    shots: tuple[int, ...] = (1, 5, 10)
    trials: int = 5
    seed: int = 0


@dataclass
class QuickstartResult:
    """Where each output lies, the probe table and the timings of each step."""

    out: Path
    dataset: Path
    run: Path
    report: Path
    onnx: Path
    probe: dict[str, dict[int, float]] = field(default_factory=dict)  # encoder -> k -> macro-F1
    onnx_max_abs_diff: float = float("nan")
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the ``--json`` output)."""
        return {
            "out": str(self.out),
            "dataset": str(self.dataset),
            "run": str(self.run),
            "report": str(self.report),
            "onnx": str(self.onnx),
            "macro_f1": {e: {str(k): v for k, v in by_k.items()} for e, by_k in self.probe.items()},
            "onnx_max_abs_diff": self.onnx_max_abs_diff,
            "seconds": self.seconds,
        }


StepFn = Callable[[str], None]


def quickstart(cfg: QuickstartConfig, on_step: StepFn | None = None) -> QuickstartResult:
    """Run the whole pipeline and return where everything went.

    Args:
        cfg: the settings.
        on_step: called with the name of each step as it starts (for progress display).

    Examples:
        >>> res = quickstart(QuickstartConfig(out="/tmp/qs", subjects=4, minutes=3, max_steps=5))  # doctest: +SKIP
        >>> sorted(res.probe)  # doctest: +SKIP
        ['features', 'random:resnet1d', 'simclr']
    """
    import wearfm.methods  # noqa: F401 - registers the methods whose defaults the recipe resolves
    from wearfm.export.onnx import export_onnx
    from wearfm.io.ingest import ingest
    from wearfm.methods.base import resolve_method_defaults
    from wearfm.models.saved import load_encoder
    from wearfm.probe.fewshot import probe
    from wearfm.train.loop import pretrain

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    step = on_step or (lambda s: None)

    def tick(name: str, t0: float) -> None:
        seconds[name] = round(time.perf_counter() - t0, 2)
        log.info("%s: done (%.1fs)", name, seconds[name])

    # 1. raw recordings -> canonical dataset
    t0 = time.perf_counter()
    dataset = out / "data"
    if cfg.data is None:
        step("simulate")
        raw = out / "raw"
        write_simulated_dataset(raw, SimulationConfig(subjects=cfg.subjects, minutes=cfg.minutes, seed=cfg.seed))
        tick("simulate", t0)
        t0 = time.perf_counter()
        step("ingest")
        icfg = IngestConfig(
            format="csv",
            time_col="timestamp",
            time_unit="ms",
            acc_cols=("ax", "ay", "az"),
            gyr_cols=("gx", "gy", "gz"),
            gyr_unit="rad/s",
            label_col="activity",
            subject_from="path:-2",
            device="sim-watch",
            placement="wrist",
        )
        ingest([raw], dataset, icfg)
        tick("ingest", t0)
    elif (Path(cfg.data) / MANIFEST_NAME).exists():
        dataset = Path(cfg.data)
    else:
        step("ingest")
        ingest([cfg.data], dataset, IngestConfig(format="auto"))
        tick("ingest", t0)
    entries = read_manifest(dataset)
    if not any(e.label_counts for e in entries):
        raise DataError(f"{dataset}: no labels; the quickstart's probe needs labelled recordings")
    if len({e.subject for e in entries}) < 2:
        raise DataError(f"{dataset}: one subject only; the probe splits by subject and needs at least two")

    # 2. pretrain
    t0 = time.perf_counter()
    step("pretrain")
    recipe = cfg.recipe or recommended_recipe()
    base = load_config(PretrainConfig, recipe) if recipe else PretrainConfig()
    log.info("pretraining recipe: %s", recipe or "the method's defaults (no recipes/ folder found)")
    chosen: dict[str, Any] = {
        k: v
        for k, v in (("method", cfg.method), ("encoder", cfg.encoder), ("rate_hz", cfg.rate_hz),
                     ("window_s", cfg.window_s), ("channels", cfg.channels))
        if v is not None
    }  # fmt: skip
    base = resolve_method_defaults(dataclasses.replace(base, **chosen))
    run = out / "runs" / base.method
    pcfg = dataclasses.replace(
        base,
        data=str(dataset),
        out=str(run),
        stride_s=base.window_s / 2,
        max_steps=cfg.max_steps,
        epochs=1,
        batch_size=cfg.batch_size,
        warmup_steps=max(cfg.max_steps // 10, 1),
        seed=cfg.seed,
        ckpt_every=max(cfg.max_steps, 1),
        snapshot_every=None,
    )
    resume = (run / "checkpoint.pt").exists()
    pretrain(pcfg, resume=resume)
    tick("pretrain", t0)

    # 3. probe against a random-initialised encoder and handcrafted features
    t0 = time.perf_counter()
    step("probe")
    report = out / "report"
    prcfg = ProbeConfig(
        data=str(dataset),
        encoders=(str(run), f"random:{pcfg.encoder}", "features"),
        out=str(report),
        shots=cfg.shots,
        trials=cfg.trials,
        seed=cfg.seed,
    )
    pres = probe(prcfg)
    table: dict[str, dict[int, float]] = {}
    for r in pres.encoders:
        name = pcfg.method if r.name == str(run) else r.name
        table[name] = {int(k): round(v["macro_f1"]["mean"] or 0.0, 4) for k, v in r.summary().items()}
    tick("probe", t0)

    # 4. export to ONNX, checked against PyTorch
    t0 = time.perf_counter()
    step("export")
    onnx_path = out / f"{pcfg.method}.onnx"
    model = load_encoder(run)
    exp = export_onnx(model, onnx_path, check=True)
    tick("export", t0)
    diff = float(getattr(exp, "max_abs_diff", float("nan")))
    return QuickstartResult(out, dataset, run, report, onnx_path, table, diff, seconds)
