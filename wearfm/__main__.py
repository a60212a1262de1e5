"""Entry point for `python -m wearfm` (used with `torchrun -m wearfm ...`)."""

from wearfm.cli import app

app(prog_name="wearfm")
