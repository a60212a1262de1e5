"""A tiny noisy method for engine tests, registered on demand (so list_methods() stays clean otherwise)."""

from __future__ import annotations

import torch

from wearfm.methods.base import METHODS, Method, register_method
from wearfm.models.saved import build_model

TOY = "toy_engine_test"


class ToyMethod(Method):
    """Embeds a noisy copy of each window and pulls the embedding to zero; its noise needs the RNG restored."""

    def __init__(self, cfg, spec, ctx):
        super().__init__(cfg, spec, ctx)
        self.model = build_model(spec)

    def training_step(self, batch):
        x = batch["x"]
        z = self.model(x + 0.1 * torch.randn_like(x))
        return (z**2).mean() + 0.01 * torch.rand(()), {"zmean": z.detach().mean()}


def register_toy() -> str:
    if TOY not in METHODS:
        register_method(TOY)(ToyMethod)
    return TOY


def unregister_toy() -> None:
    METHODS._entries.pop(TOY, None)
