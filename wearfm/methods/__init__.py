"""Pretraining methods: each wires an encoder, heads and a loss from ``wearfm.objectives``.

Importing this package registers every method; add one import line per method module.
"""

from wearfm.methods import imu2clip as _imu2clip  # noqa: F401
from wearfm.methods import imu_video as _imu_video  # noqa: F401
from wearfm.methods import primus as _primus  # noqa: F401
from wearfm.methods import relcon as _relcon  # noqa: F401  (registers relcon-distance, relcon)
from wearfm.methods import simclr as _simclr  # noqa: F401
from wearfm.methods.base import METHODS, Method, MethodContext, create_method, list_methods, register_method

__all__ = ["METHODS", "Method", "MethodContext", "create_method", "list_methods", "register_method"]
