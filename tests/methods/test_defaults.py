"""Per-method training defaults, the weight-decay exemptions and the recommended recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import wearfm.methods  # noqa: F401 - registers every method
from wearfm.config import DEFAULT_ENCODERS, METHOD_TRAINING_DEFAULTS, PretrainConfig, load_config, resolve_training
from wearfm.errors import ConfigError
from wearfm.methods import METHODS
from wearfm.methods.base import Method, list_methods, no_weight_decay, resolve_encoder, resolve_method_defaults
from wearfm.quickstart import RECIPES_DIR, recommended_recipe


def test_every_method_has_its_own_training_defaults() -> None:
    assert set(list_methods()) <= set(METHOD_TRAINING_DEFAULTS)
    for m in list_methods():
        cfg = resolve_training(PretrainConfig(method=m))
        d = METHOD_TRAINING_DEFAULTS[m]
        assert (cfg.lr, cfg.weight_decay, cfg.warmup_steps) == (d["lr"], d["weight_decay"], d["warmup_steps"])
    # the papers' settings differ between methods; an explicit value always wins
    assert resolve_training(PretrainConfig(method="relcon")).weight_decay == 0.0
    assert resolve_training(PretrainConfig(method="primus")).lr == 2e-4
    kept = resolve_training(PretrainConfig(method="primus", lr=1e-3, weight_decay=0.1, warmup_steps=7))
    assert (kept.lr, kept.weight_decay, kept.warmup_steps) == (1e-3, 0.1, 7)


def test_pretrain_records_the_methods_defaults(tmp_path: Path) -> None:
    from tests._helpers.synth import write_dataset
    from wearfm.train import pretrain

    data = write_dataset(tmp_path / "d", subjects=2, seconds=60)
    cfg = PretrainConfig(data=str(data), out=str(tmp_path / "r"), encoder="resnet1d_tiny", window_s=2.0,
                         batch_size=4, max_steps=1)  # fmt: skip
    pretrain(cfg)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["lr"] == METHOD_TRAINING_DEFAULTS["simclr"]["lr"]
    assert saved["weight_decay"] == METHOD_TRAINING_DEFAULTS["simclr"]["weight_decay"]


class _Toy(Method):
    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.conv = nn.Conv1d(3, 4, 5)
        self.norm = nn.BatchNorm1d(4)
        self.revin_weight = nn.Parameter(torch.ones(1, 3, 1))  # 3-D, yet an affine scale
        self.revin_bias = nn.Parameter(torch.zeros(1, 3, 1))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.log_temperature = nn.Parameter(torch.zeros(()))


def test_no_weight_decay_on_biases_norms_revin_tokens_and_temperatures() -> None:
    toy = _Toy()
    decay, free = toy.param_groups(0.05)
    assert decay["weight_decay"] == 0.05 and free["weight_decay"] == 0.0
    assert [p is toy.conv.weight for p in decay["params"]] == [True]
    names = {id(p): n for n, p in toy.named_parameters()}
    assert sorted(names[id(p)] for p in free["params"]) == sorted(
        ["conv.bias", "norm.weight", "norm.bias", "revin_weight", "revin_bias", "cls_token", "log_temperature"]
    )
    assert no_weight_decay("encoder.cls_token", torch.zeros(1, 2, 8)) and not no_weight_decay("w", torch.zeros(2, 2))


def test_patchtst_cls_token_and_motif_revin_are_exempt() -> None:
    from wearfm.models import create_encoder
    from wearfm.models.motif_distance import MotifDistance

    for module in (create_encoder("patchtst_tiny", in_channels=3), MotifDistance(3, embed_dim=8, kernel_size=3)):
        exempt = [n for n, p in module.named_parameters() if p.dim() >= 2 and no_weight_decay(n, p)]
        assert exempt, type(module).__name__


def test_recipes_load_and_the_recommended_one_is_the_methods_default() -> None:
    files = sorted(RECIPES_DIR.glob("*.toml"))
    assert files, "recipes/ holds at least the recommended recipe"
    assert recommended_recipe() == str(files[0])
    for f in files:
        load_config(PretrainConfig, f)  # every recipe is a valid --config file
    best = resolve_method_defaults(load_config(PretrainConfig, files[0]))
    defaults = resolve_method_defaults(PretrainConfig(method=best.method))
    for key in ("encoder", "lr", "weight_decay", "warmup_steps"):
        assert getattr(best, key) == getattr(defaults, key), key


@pytest.mark.parametrize("missing", [True, False])
def test_recommended_recipe_in_a_folder(tmp_path: Path, missing: bool) -> None:
    if missing:
        assert recommended_recipe(tmp_path / "none") is None
        return
    for name in ("b.toml", "a.toml", "c.txt"):
        (tmp_path / name).write_text('method = "simclr"\n')
    assert recommended_recipe(tmp_path) == str(tmp_path / "a.toml")


def test_every_builtin_method_takes_its_encoder_from_the_one_table():
    assert set(DEFAULT_ENCODERS) <= set(list_methods())
    for method, encoder in DEFAULT_ENCODERS.items():
        assert resolve_encoder(PretrainConfig(method=method)).encoder == encoder
    assert resolve_encoder(PretrainConfig(method="primus", encoder="resnet1d")).encoder == "resnet1d"


def test_a_method_outside_the_table_names_its_own_default_or_needs_encoder():
    class Own(Method):
        default_encoder = "patchtst"

    class NoDefault(Method):
        pass

    try:
        METHODS.register(Own, name="own-test-method")
        METHODS.register(NoDefault, name="nodefault-test-method")
        assert resolve_encoder(PretrainConfig(method="own-test-method")).encoder == "patchtst"
        with pytest.raises(ConfigError, match="--encoder"):
            resolve_encoder(PretrainConfig(method="nodefault-test-method"))
    finally:
        METHODS._entries.pop("own-test-method", None)
        METHODS._entries.pop("nodefault-test-method", None)
